"""The follower loop behind every store's ``read_from``: replay, then live follow, with idle
expiry. Backends supply how to fetch and how to wait; this module supplies the rules, so every
backend resumes, ends and expires the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from aibind.core.errors import CorruptDataError, StreamExpiredError, StreamNotFoundError
from aibind.core.types import StreamChunk, StreamStatus

__all__ = ["Fetch", "Wait", "follow"]

Fetch = Callable[[int], Awaitable[tuple[StreamStatus | None, Sequence[StreamChunk]]]]
"""``fetch(after_seq)`` returns the stream's status (``None`` if it does not exist or has
expired) and chunks with ``seq > after_seq`` in order (all of them, or a first page). It must
read the status *before* the chunks, or both atomically: a stream seen terminal then has all
its chunks stored."""

Wait = Callable[[float | None], Awaitable[bool]]
"""``wait(timeout)`` sleeps until the stream may have changed (a notification) or ``timeout``
seconds pass; it returns ``True`` when woken by a notification."""


async def follow(
    stream_id: str,
    after_seq: int,
    *,
    fetch: Fetch,
    wait: Wait,
    ttl: float,
    poll_interval: float | None,
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

    Raises:
        StreamNotFoundError: the first fetch finds no stream.
        StreamExpiredError: the stream vanished while followed (expired or deleted), or stayed
            active with no new chunk for ``ttl`` seconds.
        CorruptDataError: a terminal stream reports more chunks than are stored.
    """
    loop = asyncio.get_running_loop()
    last = after_seq
    idle_since = loop.time()
    seen_status = False
    short_reads = 0
    while True:
        status, chunks = await fetch(last)
        if status is None:
            if not seen_status:
                raise StreamNotFoundError(stream_id)
            raise StreamExpiredError(
                stream_id, f"stream {stream_id!r} expired or was deleted while being read"
            )
        seen_status = True
        progressed = False
        for chunk in chunks:
            if chunk.seq <= last:
                continue
            if chunk.seq != last + 1:
                raise CorruptDataError(
                    f"stream {stream_id!r}: expected seq {last + 1}, storage returned {chunk.seq}"
                )
            last = chunk.seq
            progressed = True
            yield chunk
        if status.state != "active" and last >= status.total_chunks:
            return
        if progressed:
            idle_since = loop.time()
            short_reads = 0
            continue
        if status.state != "active":
            short_reads += 1
            if short_reads > 2:
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
