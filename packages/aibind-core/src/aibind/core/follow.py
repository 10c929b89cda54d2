"""The follower loop behind every store's ``read_from``: replay, then live follow, with idle
expiry. Backends supply how to fetch and how to wait; this module supplies the rules, so every
backend resumes, ends and expires the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from aibind.core.errors import (
    TRANSIENT_ERRORS,
    CorruptDataError,
    StreamExpiredError,
    StreamNotFoundError,
)
from aibind.core.types import StreamChunk, StreamStatus

__all__ = ["Fetch", "Hints", "Wait", "follow", "follow_pages"]

Fetch = Callable[[int], Awaitable[tuple[StreamStatus | None, Sequence[StreamChunk]]]]
"""``fetch(after_seq)`` returns the stream's status (``None`` if it does not exist or has
expired) and chunks with ``seq > after_seq`` in strictly increasing seq order (all of them, or
a first page), as a read of a ``(id, seq)`` primary key in order gives them. It must read the
status *before* the chunks, or both atomically: a stream seen terminal then has all its chunks
stored."""

Hints = Callable[[], list[StreamChunk]]
"""``hints()`` returns (and forgets) the chunks writers announced since the last call, as they
announced them: each already stored, in any order, possibly some twice or some missing."""

Wait = Callable[[float | None], Awaitable[bool]]
"""``wait(timeout)`` sleeps until the stream may have changed (a notification) or ``timeout``
seconds pass; it returns ``True`` when woken by a notification."""


def _accept(
    stream_id: str, chunks: Sequence[StreamChunk], last: int
) -> tuple[Sequence[StreamChunk], int, CorruptDataError | None]:
    """Check ``chunks`` against the last seq delivered; return the new ones (in order), the new
    last seq and the error to raise once they are delivered (a gap in the seqs), if any.

    Chunks with ``seq <= last`` (already delivered) are skipped; the first chunk that is not
    ``last + 1`` ends the page with a :class:`CorruptDataError`.
    """
    count = len(chunks)
    if not count:
        return chunks, last, None
    # The usual page: exactly last+1 .. last+count. Storage returns strictly increasing seqs
    # (see Fetch), so the first and the last seq tell.
    if chunks[0].seq == last + 1 and chunks[-1].seq == last + count:
        return chunks, last + count, None
    fresh: list[StreamChunk] = []
    for chunk in chunks:
        seq = chunk.seq
        if seq <= last:
            continue
        if seq != last + 1:
            return (
                fresh,
                last,
                CorruptDataError(
                    f"stream {stream_id!r}: expected seq {last + 1}, storage returned {seq}"
                ),
            )
        last = seq
        fresh.append(chunk)
    return fresh, last, None


async def _fetch_retrying(
    fetch: Fetch, after: int, retry_window: float
) -> tuple[StreamStatus | None, Sequence[StreamChunk]]:
    """``fetch(after)``, repeated with a backoff (0.05 s doubling to 1 s) while it fails with a
    transient backend error (:data:`~aibind.core.errors.TRANSIENT_ERRORS`), for at most
    ``retry_window`` seconds; then the last error is raised. Reads are idempotent."""
    if retry_window <= 0:
        return await fetch(after)
    loop = asyncio.get_running_loop()
    deadline: float | None = None
    delay = 0.05
    while True:
        try:
            return await fetch(after)
        except TRANSIENT_ERRORS:
            now = loop.time()
            if deadline is None:
                deadline = now + retry_window
            if now + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


async def follow_pages(
    stream_id: str,
    after_seq: int,
    *,
    fetch: Fetch,
    wait: Wait,
    ttl: float,
    poll_interval: float | None,
    page_size: int | None = None,
    retry_window: float = 0.0,
    hints: Hints | None = None,
) -> AsyncIterator[Sequence[StreamChunk]]:
    """:func:`follow`, yielding each fetch's new chunks as one non-empty sequence (a page)
    instead of one chunk at a time, so a store's ``read_from`` can re-yield the chunks with one
    async-generator layer instead of two. Same arguments, rules and errors as :func:`follow`;
    after a page the loop continues only when the consumer asks for the next one, so the
    idle timer starts after the consumer has taken the whole page, as with :func:`follow`.

    After a full page (``page_size`` chunks) the next page is read ahead, in a task, while the
    consumer takes this one, so a long replay overlaps the backend's I/O with the consumer's
    work; closing the generator cancels a read still ahead.

    ``hints`` (see :data:`Hints`) hands over chunks a writer announced with its wake-up: after
    a wait, the ones that continue the stream (seq ``last + 1`` on) are delivered at once,
    before the read every wake-up still makes (which confirms the state and finds anything
    else: a terminal state, a deletion, chunks the hints missed), so a hinted chunk reaches the
    consumer one round trip sooner and nothing else changes.
    """
    loop = asyncio.get_running_loop()
    last = after_seq
    idle_since = loop.time()
    seen_status = False
    short_reads = 0
    ahead: asyncio.Future[tuple[StreamStatus | None, Sequence[StreamChunk]]] | None = None
    try:
        while True:
            if ahead is None:
                status, chunks = await _fetch_retrying(fetch, last, retry_window)
            else:
                status, chunks = await ahead
                ahead = None
            fresh, last, outcome = _step(stream_id, status, chunks, last, seen_status, page_size)
            seen_status = True
            full = page_size is not None and len(chunks) >= page_size
            if outcome is _MORE and full:
                # A full page: more is probably stored. Read the next page while the
                # consumer takes this one (the backend's I/O overlaps our Python work).
                ahead = asyncio.ensure_future(_fetch_retrying(fetch, last, retry_window))
            if fresh:
                yield fresh
            if isinstance(outcome, BaseException):
                raise outcome
            if outcome is _DONE:
                return
            if fresh:
                idle_since = loop.time()
                short_reads = 0
                if outcome is _MORE:
                    continue  # maybe more stored: read on at once
                # A short page of an active stream holds everything stored at the fetch:
                # wait for the next change (a wake-up that came meanwhile is kept).
            elif outcome is _MORE:  # terminal, but not every chunk read yet
                short_reads += 1
                if short_reads > 2:
                    assert status is not None
                    raise CorruptDataError(
                        f"stream {stream_id!r} is {status.state} with total_chunks="
                        f"{status.total_chunks} but only {last} chunks could be read"
                    )
                continue
            remaining = ttl - (loop.time() - idle_since)
            if remaining <= 0:
                raise StreamExpiredError(
                    stream_id,
                    f"stream {stream_id!r} is still active but received no chunk for {ttl:g} s "
                    "(the store's ttl); its producer is presumed dead",
                )
            timeout = remaining if poll_interval is None else min(remaining, poll_interval)
            await wait(timeout)
            if hints is not None:
                page = _hinted(hints(), last)
                if page:  # delivered now; the read that follows confirms the rest
                    last = page[-1].seq
                    yield page
                    idle_since = loop.time()
    finally:
        if ahead is not None:
            ahead.cancel()
            ahead.add_done_callback(_discard)


_MORE = "more"  # read again at once
_WAIT = "wait"  # caught up with an active stream: wait for a change
_DONE = "done"  # terminal and drained


def _hinted(chunks: list[StreamChunk], last: int) -> list[StreamChunk]:
    """The hinted chunks that continue the stream from ``last``: seq ``last + 1`` on, up to
    the first gap (hints may come out of order or twice)."""
    if not chunks:
        return []
    newer = {chunk.seq: chunk for chunk in chunks if chunk.seq > last}
    page = []
    seq = last + 1
    while seq in newer:
        page.append(newer[seq])
        seq += 1
    return page


def _discard(future: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned read-ahead's outcome, so nothing logs it as never retrieved."""
    if not future.cancelled():
        future.exception()


def _step(
    stream_id: str,
    status: StreamStatus | None,
    chunks: Sequence[StreamChunk],
    last: int,
    seen_status: bool,
    page_size: int | None,
) -> tuple[Sequence[StreamChunk], int, str | BaseException]:
    """Judge one fetch: the new chunks, the new last seq, and what to do next (``_MORE``,
    ``_WAIT``, ``_DONE``, or the error to raise once the new chunks are delivered)."""
    if status is None:
        if not seen_status:
            raise StreamNotFoundError(stream_id)
        raise StreamExpiredError(
            stream_id, f"stream {stream_id!r} expired or was deleted while being read"
        )
    fresh, last, corrupt = _accept(stream_id, chunks, last)
    if corrupt is not None:
        return fresh, last, corrupt
    if status.state != "active":
        return fresh, last, _DONE if last >= status.total_chunks else _MORE
    if fresh and (page_size is None or len(chunks) >= page_size):
        return fresh, last, _MORE
    return fresh, last, _WAIT


async def follow(
    stream_id: str,
    after_seq: int,
    *,
    fetch: Fetch,
    wait: Wait,
    ttl: float,
    poll_interval: float | None,
    page_size: int | None = None,
    retry_window: float = 0.0,
) -> AsyncIterator[StreamChunk]:
    """Yield each chunk of ``stream_id`` with ``seq > after_seq`` exactly once, in order, until
    the stream is terminal and drained.

    Args:
        stream_id: the stream to follow (for error messages).
        after_seq: the last seq the caller already has (0 for all).
        fetch: reads status and chunks, see :data:`Fetch`.
        wait: sleeps until notified, see :data:`Wait`; called only when caught up.
        ttl: seconds an active stream may go without a new chunk before the follower gives up.
        poll_interval: longest single wait in seconds, so a follower without notifications still
            polls; ``None`` relies on notifications alone (and the ``ttl`` bound).
        page_size: the most chunks one fetch returns; a page shorter than this is taken as
            everything stored, so the loop waits for the next notification instead of reading
            again at once (``None``: always read again after a non-empty page).
        retry_window: seconds a fetch failing with a transient backend error (connection
            lost, backend unavailable, timeout) is retried before the error is raised; ``0``
            raises at once. Delivery stays exactly once: the retry reads after the last seq.

    Raises:
        StreamNotFoundError: the first fetch finds no stream.
        StreamExpiredError: the stream vanished while followed (expired or deleted), or stayed
            active with no new chunk for ``ttl`` seconds.
        CorruptDataError: a terminal stream reports more chunks than are stored.
    """
    async for page in follow_pages(
        stream_id,
        after_seq,
        fetch=fetch,
        wait=wait,
        ttl=ttl,
        poll_interval=poll_interval,
        page_size=page_size,
        retry_window=retry_window,
    ):
        for chunk in page:
            yield chunk
