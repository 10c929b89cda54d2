"""``MemoryStreamStore``: the in-process :class:`~aibind.core.protocols.StreamStore`.

For tests, single-process servers and the demo. Followers are woken by asyncio primitives
(:class:`~aibind.core.notify.Notifier`), never by polling. Behaviour follows the npm
``@aibind/core`` ``MemoryStreamStore``, plus TTL expiry and idle-reader expiry.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from aibind.core.errors import StreamExistsError, StreamNotActiveError, StreamNotFoundError
from aibind.core.follow import follow
from aibind.core.notify import Notifier
from aibind.core.types import StreamChunk, StreamState, StreamStatus
from aibind.core.validation import (
    check_after_seq,
    check_chunk,
    check_chunks,
    check_error_message,
    check_id,
    check_ttl,
)

__all__ = ["MemoryStreamStore"]


@dataclass(slots=True)
class _Stream:
    expires_at: float
    state: StreamState = "active"
    error: str | None = None
    chunks: list[str] = field(default_factory=list)

    def status(self) -> StreamStatus:
        return StreamStatus(self.state, len(self.chunks), self.error)


class MemoryStreamStore:
    """Streams kept in a dict in this process; lost when the process exits.

    Every write restarts the stream's TTL, so an abandoned stream (active, nothing appended for
    ``ttl`` seconds) disappears by itself: reads treat it as absent and its followers end with
    :class:`~aibind.core.errors.StreamExpiredError`. :meth:`cleanup` frees the memory of
    expired streams.

    Args:
        ttl: seconds a stream lives after its last write (default 300, as the npm stores).
        clock: a monotonic clock in seconds (tests may pass their own).

    Raises:
        TypeError, ValueError: ``ttl`` is not a positive number of seconds.
    """

    def __init__(self, *, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = check_ttl(ttl)
        self._clock = clock
        self._streams: dict[str, _Stream] = {}
        self._notifier = Notifier()

    def _live(self, stream_id: str) -> _Stream | None:
        stream = self._streams.get(stream_id)
        if stream is not None and stream.expires_at <= self._clock():
            del self._streams[stream_id]
            return None
        return stream

    def _touch(self, stream_id: str, stream: _Stream) -> None:
        stream.expires_at = self._clock() + self.ttl
        self._notifier.notify(stream_id)

    def _require_active(self, stream_id: str) -> _Stream:
        stream = self._live(stream_id)
        if stream is None:
            raise StreamNotFoundError(stream_id)
        if stream.state != "active":
            raise StreamNotActiveError(stream_id, stream.state)
        return stream

    async def create(self, stream_id: str) -> None:
        """Create an empty active stream. Raises :class:`StreamExistsError` if it exists."""
        check_id(stream_id)
        if self._live(stream_id) is not None:
            raise StreamExistsError(stream_id)
        self._streams[stream_id] = _Stream(expires_at=self._clock() + self.ttl)
        self._notifier.notify(stream_id)

    async def append(self, stream_id: str, chunk: str) -> int:
        """Append ``chunk`` and return its 1-based seq.

        Raises:
            StreamNotFoundError: unknown or expired stream.
            StreamNotActiveError: the stream is terminal.
        """
        check_id(stream_id)
        check_chunk(chunk)
        stream = self._require_active(stream_id)
        stream.chunks.append(chunk)
        self._touch(stream_id, stream)
        return len(stream.chunks)

    async def append_many(self, stream_id: str, chunks: Sequence[str]) -> int:
        """Append ``chunks`` in order and return the last seq (``total_chunks``); raises as
        :meth:`append`. An empty sequence appends nothing."""
        check_id(stream_id)
        items = check_chunks(chunks)
        stream = self._require_active(stream_id)
        if items:
            stream.chunks.extend(items)
            self._touch(stream_id, stream)
        return len(stream.chunks)

    async def get_status(self, stream_id: str) -> StreamStatus | None:
        """Return the stream's status, or ``None`` if it does not exist or has expired."""
        check_id(stream_id)
        stream = self._live(stream_id)
        return None if stream is None else stream.status()

    async def _finish(self, stream_id: str, state: StreamState, error: str | None) -> None:
        stream = self._live(stream_id)
        if stream is None:
            raise StreamNotFoundError(stream_id)
        if stream.state != "active":
            return
        stream.state = state
        stream.error = error
        self._touch(stream_id, stream)

    async def stop(self, stream_id: str) -> None:
        """Mark the stream ``stopped``; a no-op if already terminal.
        Raises :class:`StreamNotFoundError` for an unknown stream."""
        await self._finish(check_id(stream_id), "stopped", None)

    async def complete(self, stream_id: str) -> None:
        """Mark the stream ``done``; a no-op if already terminal.
        Raises :class:`StreamNotFoundError` for an unknown stream."""
        await self._finish(check_id(stream_id), "done", None)

    async def fail(self, stream_id: str, error: str) -> None:
        """Mark the stream ``error`` with message ``error``; a no-op if already terminal.
        Raises :class:`StreamNotFoundError` for an unknown stream."""
        await self._finish(check_id(stream_id), "error", check_error_message(error))

    async def delete(self, stream_id: str) -> None:
        """Remove the stream; a no-op if absent. Its followers end with StreamExpiredError."""
        check_id(stream_id)
        if self._streams.pop(stream_id, None) is not None:
            self._notifier.notify(stream_id)

    async def cleanup(self) -> int:
        """Drop every expired stream and return how many were dropped."""
        now = self._clock()
        expired = [sid for sid, s in self._streams.items() if s.expires_at <= now]
        for sid in expired:
            del self._streams[sid]
            self._notifier.notify(sid)
        return len(expired)

    async def read_from(self, stream_id: str, after_seq: int = 0) -> AsyncIterator[StreamChunk]:
        """Yield chunks with ``seq > after_seq``, then follow live until the stream is terminal.

        Raises:
            StreamNotFoundError: unknown stream.
            StreamExpiredError: no chunk for ``ttl`` seconds while active, or deleted/expired.
        """
        check_id(stream_id)
        check_after_seq(after_seq)

        async def fetch(after: int) -> tuple[StreamStatus | None, list[StreamChunk]]:
            stream = self._live(stream_id)
            if stream is None:
                return None, []
            data = stream.chunks[after:]
            return stream.status(), [StreamChunk(after + i + 1, d) for i, d in enumerate(data)]

        async with await self._notifier.subscribe(stream_id) as sub:
            async for chunk in follow(
                stream_id, after_seq, fetch=fetch, wait=sub.wait, ttl=self.ttl, poll_interval=None
            ):
                yield chunk

    async def aclose(self) -> None:
        """Nothing to release; present so every store can be closed the same way."""
