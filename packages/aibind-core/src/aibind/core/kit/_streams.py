"""``StreamStoreBase``: the :class:`~aibind.core.protocols.StreamStore` methods, written once.

It checks every argument before touching storage, opens the store lazily, translates driver
errors through the backend's hook, wakes followers after each write, and runs ``read_from``:
subscribe first (push), then the shared follower loop (:mod:`aibind.core.follow`) with idle
expiry and transient-error retries, with one per-store :class:`~aibind.core.kit.Sweeper` as the
safety net for writers that do not notify. A backend supplies the storage hooks below; every
public method, rule and error comes from here, so all backends behave alike.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Hashable, Sequence
from typing import ClassVar

from aibind.core.errors import (
    AibindError,
    StreamExistsError,
    StreamNotActiveError,
    StreamNotFoundError,
)
from aibind.core.follow import follow_pages
from aibind.core.kit._lifecycle import _OPEN, StoreBase
from aibind.core.kit._sweep import Markers, Sweeper
from aibind.core.notify import Notifier, Subscription
from aibind.core.types import StreamChunk, StreamState, StreamStatus
from aibind.core.validation import (
    check_after_seq,
    check_chunk,
    check_chunks,
    check_error_message,
    check_id,
    check_interval,
    check_ttl,
)

__all__ = ["StreamStoreBase"]

_HINT_LIMIT = 256
"""Most announced chunks kept for one follower between its reads (a follower that does not
keep up drops them and reads instead)."""

PAGE_BYTES = 4 * 1024 * 1024
"""Characters of chunk text a grown page aims at (see ``read_from``)."""

PAGE_GROWTH = 16
"""Most a page grows to, as a multiple of :attr:`StreamStoreBase.page_size`."""


def _next_limit(chunks: Sequence[StreamChunk], limit: int, first: int) -> int:
    """The next page size after a full page of ``limit`` chunks: ``PAGE_BYTES`` worth, judging
    by up to 16 chunks spread over this page, between ``first`` and ``PAGE_GROWTH * first``."""
    step = max(1, len(chunks) // 16)
    sample = chunks[::step]
    average = max(1.0, sum(len(chunk.data) for chunk in sample) / len(sample))
    return max(first, min(PAGE_GROWTH * first, int(PAGE_BYTES / average)))


_hints: weakref.WeakKeyDictionary[Notifier, dict[str, list[list[StreamChunk]]]] = (
    weakref.WeakKeyDictionary()
)
"""Per notifier (so every store of a process sharing one, like SQLite's per-file notifier,
reaches every follower), per stream: each follower's buffer of announced chunks."""


class StreamStoreBase(StoreBase):
    """Base class of every backend's stream store (see the module docs).

    Args:
        ttl: seconds a stream lives after its last write, and the longest a follower waits on
            an active stream with no new chunk before it presumes the producer dead.
        poll_interval: seconds between the store's safety sweeps (``None``: no sweep; push
            only). A backend that cannot sweep polls per follower at this interval instead.
        notifier: the notifier that wakes this store's followers (a backend passes one with
            its push hooks; default: a plain in-process one).

    Raises:
        TypeError, ValueError: ``ttl`` or ``poll_interval`` is not a positive number of seconds.

    Backend hooks (coroutines raising the driver's errors or :mod:`aibind.core.errors`):
    ``_create``, ``_append``, ``_get_status``, ``_finish``, ``_fetch``, ``_delete``, and
    optionally ``_probe`` (bulk version markers for the sweep; see :data:`Probe`) with
    :meth:`_can_sweep`, and ``_cleanup`` behind a public ``cleanup`` (see :meth:`_run_cleanup`).
    """

    page_size: ClassVar[int] = 1000
    """Most chunks the first ``_fetch`` of a read returns; while pages come full (a long
    replay) the next ones grow to about :data:`PAGE_BYTES` of text, up to :data:`PAGE_GROWTH`
    times this, so a replay of 10,000 tokens takes two round trips instead of ten."""

    read_retry_window: ClassVar[float] = 30.0
    """Seconds a follower keeps retrying a read while the backend is unreachable (connection
    lost, restarting, timing out) before it raises the error."""

    def __init__(
        self,
        *,
        ttl: float = 300.0,
        poll_interval: float | None = 0.05,
        notifier: Notifier | None = None,
    ) -> None:
        self.ttl = check_ttl(ttl)
        self.poll_interval = check_interval(poll_interval)
        self._notifier = notifier if notifier is not None else Notifier()
        self._following: dict[str, int] = {}
        self._subscriptions: set[Subscription] = set()
        self._sweeper: Sweeper | None = None
        self._markers: dict[str, Hashable] = {}

    # ---- storage hooks -----------------------------------------------------------------

    async def _create(self, stream_id: str) -> bool:
        """Create an empty active stream unless the id is taken; ``False`` if taken."""
        raise NotImplementedError

    async def _append(self, stream_id: str, chunks: list[str]) -> int:
        """Append one or more chunks atomically; return the last seq. Raise
        :class:`StreamNotFoundError` / :class:`StreamNotActiveError` as appropriate."""
        raise NotImplementedError

    async def _get_status(self, stream_id: str) -> StreamStatus | None:
        """The stream's status, or ``None`` if absent."""
        raise NotImplementedError

    async def _finish(self, stream_id: str, state: StreamState, error: str | None) -> None:
        """Move an active stream to ``state``; a no-op if terminal; raise
        :class:`StreamNotFoundError` if absent."""
        raise NotImplementedError

    async def _fetch(
        self, stream_id: str, after: int, limit: int
    ) -> tuple[StreamStatus | None, Sequence[StreamChunk]]:
        """The status (``None`` if absent) and up to ``limit`` chunks with ``seq > after``, in
        one snapshot, or with the status read first (see :data:`aibind.core.follow.Fetch`)."""
        raise NotImplementedError

    async def _delete(self, stream_id: str) -> None:
        """Remove the stream and its chunks; a no-op if absent."""
        raise NotImplementedError

    def _can_sweep(self) -> bool:
        """``True`` if :meth:`_probe` works with this store's client (default ``False``)."""
        return False

    def _marker(self, status: StreamStatus) -> Hashable | None:
        """The marker :meth:`_probe` would report for a stream with ``status`` (``None``, the
        default: unknown). With it, a stream the sweep sees for the first time is woken only
        if it changed since its followers' last read."""
        return None

    async def _probe(self, stream_ids: list[str]) -> Markers:
        """Version markers of ``stream_ids`` in one round trip, in any form of
        :data:`~aibind.core.kit.Markers` (see :data:`~aibind.core.kit.Probe`)."""
        raise NotImplementedError

    def _watch_changes(self, poke: Callable[[], None]) -> Callable[[], None] | None:
        """Start watching for other processes' writes, calling ``poke()`` on each so the sweep
        runs at once; return the function that stops watching, or ``None`` (the default: no
        watcher, the sweep runs every ``poll_interval``). Called from the sweep task while the
        store has followers. See :data:`aibind.core.kit.Watch`."""
        return None

    def _announce(self, stream_id: str, chunks: Sequence[StreamChunk]) -> None:
        """Hand ``chunks``, just stored, to this process's followers of ``stream_id`` (those
        sharing this store's notifier), before they are woken: a follower delivers them at
        once, a round trip before its read confirms them. A backend whose push carries the
        written chunk (a NOTIFY payload) calls it on receipt, then wakes the followers."""
        buffers = _hints.get(self._notifier, {}).get(stream_id)
        if not buffers:
            return
        for buffer in buffers:
            if len(buffer) >= _HINT_LIMIT:
                del buffer[:]
            buffer.extend(chunks)

    def _written(self, stream_id: str) -> None:
        """Called after each successful write: wake this process's followers at once (a
        backend whose server push also reaches them may override it to do nothing)."""
        self._notifier.notify(stream_id)

    # ---- plumbing ----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the store: first stop every :class:`~aibind.core.DurableStream` still
        generating into it (each records ``stopped``, so resuming clients get the end at once
        rather than waiting out the TTL), then stop the sweep, end this store's followers
        (they raise :class:`~aibind.core.errors.StoreClosedError`) and release what the store
        opened. Idempotent."""
        if not self.closed:
            from aibind.core.durable import DurableStream

            await DurableStream.stop_all(self)
        await super().aclose()

    async def _close(self) -> None:
        """Stop the sweep and end this store's followers (they raise
        :class:`~aibind.core.errors.StoreClosedError`). Backends extend it with
        ``await super()._close()``."""
        if self._sweeper is not None:
            await self._sweeper.aclose()
        for sub in list(self._subscriptions):
            sub._wake()

    # ---- the StreamStore contract --------------------------------------------------------

    async def create(self, stream_id: str) -> None:
        """Create an empty ``active`` stream.

        Raises:
            TypeError, ValueError: a malformed ``stream_id``.
            StreamExistsError: the id is taken (whatever the stream's state).
            BackendError: the backend failed (a subclass says how).
        """
        check_id(stream_id)
        await self._ready()
        if not await self._call(self._create(stream_id)):
            raise StreamExistsError(stream_id)
        self._written(stream_id)

    async def append(self, stream_id: str, chunk: str) -> int:
        """Append one chunk atomically and return its 1-based seq; restarts the stream's TTL.

        Raises:
            TypeError, ValueError: a malformed ``stream_id`` or ``chunk`` (NUL, lone surrogate).
            StreamNotFoundError: no such stream.
            StreamNotActiveError: the stream is done, stopped or failed.
            BackendError: the backend failed.
        """
        check_id(stream_id)
        check_chunk(chunk)
        if self._state != _OPEN:  # self._ready() and self._call(...) written out: this is
            await self.open()  # the hottest call of a producer
        try:
            seq = await self._append(stream_id, [chunk])
        except AibindError:
            raise
        except Exception as exc:
            raise self._translate(exc) from exc
        if _hints.get(self._notifier):  # this process has followers to hand the chunk to
            self._announce(stream_id, (StreamChunk(seq, chunk),))
        self._written(stream_id)
        return seq

    async def append_many(self, stream_id: str, chunks: Sequence[str]) -> int:
        """Append ``chunks`` in order in one atomic write and return the last seq (the
        stream's ``total_chunks``); an empty sequence appends nothing and returns the current
        count. Raises as :meth:`append` (for any chunk: nothing is stored then)."""
        check_id(stream_id)
        items = check_chunks(chunks)
        await self._ready()
        if not items:
            status = await self._call(self._get_status(stream_id))
            if status is None:
                raise StreamNotFoundError(stream_id)
            if status.state != "active":
                raise StreamNotActiveError(stream_id, status.state)
            return status.total_chunks
        seq = await self._call(self._append(stream_id, items))
        self._written(stream_id)
        return seq

    async def get_status(self, stream_id: str) -> StreamStatus | None:
        """The stream's state and chunk count, or ``None`` if it does not exist.

        Raises:
            CorruptDataError: the stored status is not one a writer produces.
            BackendError: the backend failed.
        """
        check_id(stream_id)
        await self._ready()
        return await self._call(self._get_status(stream_id))

    async def _end(self, stream_id: str, state: StreamState, error: str | None) -> None:
        await self._ready()
        await self._call(self._finish(stream_id, state, error))
        self._written(stream_id)

    async def stop(self, stream_id: str) -> None:
        """Mark an active stream ``stopped`` (the client cancelled); a no-op if terminal.

        Raises:
            StreamNotFoundError: no such stream.
        """
        await self._end(check_id(stream_id), "stopped", None)

    async def complete(self, stream_id: str) -> None:
        """Mark an active stream ``done``; a no-op if terminal.

        Raises:
            StreamNotFoundError: no such stream.
        """
        await self._end(check_id(stream_id), "done", None)

    async def fail(self, stream_id: str, error: str) -> None:
        """Mark an active stream ``error`` with the message ``error``; a no-op if terminal.

        Raises:
            TypeError, ValueError: ``error`` is not text (or holds NUL / a lone surrogate).
            StreamNotFoundError: no such stream.
        """
        check_id(stream_id)
        await self._end(stream_id, "error", check_error_message(error))

    async def delete(self, stream_id: str) -> None:
        """Delete the stream and all its chunks; a no-op if absent. Its followers end with
        :class:`~aibind.core.errors.StreamExpiredError`."""
        check_id(stream_id)
        await self._ready()
        await self._call(self._delete(stream_id))
        self._written(stream_id)

    async def _run_cleanup(self, removed: Awaitable[Sequence[str]]) -> int:
        """The body of a backend's public ``cleanup()``: await its removal of expired streams
        (which returns their ids), wake their followers, return how many were removed."""
        await self._ready()
        ids = await self._call(removed)
        for stream_id in ids:
            self._written(stream_id)
        return len(ids)

    async def read_from(self, stream_id: str, after_seq: int = 0) -> AsyncIterator[StreamChunk]:
        """Yield every chunk with ``seq > after_seq``, in order, each exactly once: first those
        already stored (in pages of :attr:`page_size`), then new ones as they are appended;
        return once the stream is terminal and drained.

        The chunks of :meth:`read_pages`, one at a time (closing this iterator closes that
        one); see it for the rules and errors.
        """
        pages = self.read_pages(stream_id, after_seq)
        try:
            async for page in pages:
                for chunk in page:
                    yield chunk
        finally:
            await pages.aclose()

    async def read_pages(
        self, stream_id: str, after_seq: int = 0
    ) -> AsyncGenerator[Sequence[StreamChunk], None]:
        """Yield every chunk with ``seq > after_seq`` as :meth:`read_from` does, but a page at
        a time: each item is a non-empty sequence of consecutive chunks (the new ones of one
        read of the backend, or of one wake-up), in order, each chunk exactly once. A replay
        comes in a few large pages (the first of :attr:`page_size` chunks, the next ones
        grown to about :data:`PAGE_BYTES` characters of text), a live stream in pages of the
        chunks that landed since the last read.

        For a consumer that handles chunks in bulk (the SSE replay of
        :func:`aibind.core.sse.iter_sse_pages` writes one text per page): it skips the
        per-chunk step of an async iterator, which costs more than making the chunk (issue
        #8). A page is an immutable sequence (its chunks may be made as it is iterated); it
        stays valid after the next page is taken.

        The follower subscribes to push wake-ups only once a read has found the stream still
        active, and reads again at once after subscribing, so nothing appended meanwhile is
        missed and a replay of a finished stream never subscribes; the store's sweep wakes it
        for writers that do not notify.
        A read failing with a transient backend error is retried for
        :attr:`read_retry_window` seconds.

        Raises (while iterating):
            TypeError, ValueError: a malformed ``stream_id`` or ``after_seq``.
            StreamNotFoundError: no such stream.
            StreamExpiredError: the stream stayed active with no new chunk for ``ttl`` seconds
                (its producer is presumed dead), or it was deleted / cleaned up while read.
            StoreClosedError: the store was closed while following.
            BackendError: the backend stayed unreachable through the retry window.
        """
        check_id(stream_id)
        check_after_seq(after_seq)
        await self._ready()
        sub: Subscription | None = None

        async def wait(timeout: float | None) -> bool:
            nonlocal sub
            if sub is not None:
                return await sub.wait(timeout)
            # The first wait: a read found the stream active. Subscribe, then report a
            # wake-up, so the loop reads again: anything appended before the subscription
            # took effect is found by that read, anything after wakes a later wait.
            sub = await self._call(self._notifier.subscribe(stream_id))
            self._subscriptions.add(sub)
            return True

        following = self._following
        following[stream_id] = following.get(stream_id, 0) + 1
        announced: list[StreamChunk] = []
        table = _hints.setdefault(self._notifier, {})
        table.setdefault(stream_id, []).append(announced)

        def hints() -> list[StreamChunk]:
            taken = announced[:]
            del announced[: len(taken)]
            return taken

        try:
            poll = self.poll_interval
            sweeping = poll is not None and self._can_sweep()
            if poll is not None and sweeping:
                if self._sweeper is None:
                    self._sweeper = Sweeper(
                        self._notifier,
                        self._probe,
                        following.keys,
                        poll,
                        self._watch_changes,
                        self._markers.get,
                    )
                self._sweeper.ensure_running()
                poll = None
            limit = first = self.page_size

            async def fetch(after: int) -> tuple[StreamStatus | None, Sequence[StreamChunk]]:
                nonlocal limit
                self._check_open()
                status, chunks = await self._call(self._fetch(stream_id, after, limit))
                if status is not None and sweeping:
                    marker = self._marker(status)
                    if marker is not None:
                        self._markers[stream_id] = marker
                # A long replay: while pages come full, read more per round trip, as many
                # chunks as fit in PAGE_BYTES judging by this page (never fewer than the
                # first page size, never more than PAGE_GROWTH times it).
                limit = _next_limit(chunks, limit, first) if len(chunks) >= limit else first
                return status, chunks

            async for page in follow_pages(
                stream_id,
                after_seq,
                fetch=fetch,
                wait=wait,
                ttl=self.ttl,
                poll_interval=poll,
                page_size=limit,
                retry_window=self.read_retry_window,
                hints=hints,
            ):
                yield page
        finally:
            others = [b for b in table.get(stream_id, ()) if b is not announced]
            if others:
                table[stream_id] = others
            else:
                table.pop(stream_id, None)
            count = following.get(stream_id, 1) - 1
            if count:
                following[stream_id] = count
            else:
                following.pop(stream_id, None)
                self._markers.pop(stream_id, None)
            if sub is not None:
                self._subscriptions.discard(sub)
                await sub.close()
