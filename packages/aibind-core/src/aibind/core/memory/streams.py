"""``MemoryStreamStore``: the in-process :class:`~aibind.core.protocols.StreamStore`.

For tests, single-process servers and the demo. Followers are woken by asyncio primitives
(:class:`~aibind.core.notify.Notifier`), never by polling. Behaviour follows the npm
``@aibind/core`` ``MemoryStreamStore``, plus TTL expiry and idle-reader expiry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aibind.core.errors import StreamNotActiveError, StreamNotFoundError
from aibind.core.kit import (
    ClientOpener,
    Owned,
    Parser,
    StreamStoreBase,
    chunk_run,
    parse_float,
)
from aibind.core.types import StreamChunk, StreamState, StreamStatus

__all__ = ["MemoryStreamStore"]


@dataclass(slots=True)
class _Stream:
    expires_at: float
    state: StreamState = "active"
    error: str | None = None
    chunks: list[str] = field(default_factory=list)

    def status(self) -> StreamStatus:
        return StreamStatus(self.state, len(self.chunks), self.error)


async def _nothing() -> None:
    """Memory stores hold no client: nothing to open or close."""


def open_memory_client(url: str, options: dict[str, Any]) -> Owned[None]:
    """The ``memory://`` client opener: there is no client (each store keeps its own dict).

    Raises:
        ValueError: ``url`` is not a ``memory://`` URL.
    """
    if not url.lower().startswith("memory:"):
        raise ValueError(f"url must start with memory://, got {url!r}")
    return Owned(None, close=_nothing)


MEMORY_CLIENT = ClientOpener(open_memory_client)
"""How ``from_url`` opens a memory store: ``memory://`` (query options: ``ttl``)."""


class MemoryStreamStore(StreamStoreBase):
    """Streams kept in a dict in this process; lost when the process exits.

    Every write restarts the stream's TTL, so an abandoned stream (active, nothing appended for
    ``ttl`` seconds) disappears by itself, as Redis keys do: reads treat it as absent and its
    followers end with :class:`~aibind.core.errors.StreamExpiredError`. :meth:`cleanup` frees
    the memory of expired streams.

    Args:
        ttl: seconds a stream lives after its last write (default 300, as the npm stores).
        clock: a monotonic clock in seconds (tests may pass their own).

    Raises:
        TypeError, ValueError: ``ttl`` is not a positive number of seconds.
    """

    _client_opener: ClassVar[ClientOpener] = MEMORY_CLIENT
    _url_options: ClassVar[Mapping[str, Parser]] = {"ttl": parse_float}

    def __init__(self, *, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(ttl=ttl, poll_interval=None)
        self._clock = clock
        self._streams: dict[str, _Stream] = {}

    @classmethod
    def _from_client(cls, client: Any, options: Mapping[str, Any]) -> MemoryStreamStore:
        return cls(**options)

    def _live(self, stream_id: str) -> _Stream | None:
        stream = self._streams.get(stream_id)
        if stream is not None and stream.expires_at <= self._clock():
            del self._streams[stream_id]
            return None
        return stream

    async def _create(self, stream_id: str) -> bool:
        if self._live(stream_id) is not None:
            return False
        self._streams[stream_id] = _Stream(expires_at=self._clock() + self.ttl)
        return True

    async def _append(self, stream_id: str, chunks: list[str]) -> int:
        stream = self._live(stream_id)
        if stream is None:
            raise StreamNotFoundError(stream_id)
        if stream.state != "active":
            raise StreamNotActiveError(stream_id, stream.state)
        stream.chunks.extend(chunks)
        stream.expires_at = self._clock() + self.ttl
        return len(stream.chunks)

    async def _get_status(self, stream_id: str) -> StreamStatus | None:
        stream = self._live(stream_id)
        return None if stream is None else stream.status()

    async def _finish(self, stream_id: str, state: StreamState, error: str | None) -> None:
        stream = self._live(stream_id)
        if stream is None:
            raise StreamNotFoundError(stream_id)
        if stream.state == "active":
            stream.state = state
            stream.error = error
            stream.expires_at = self._clock() + self.ttl

    async def _fetch(
        self, stream_id: str, after: int, limit: int
    ) -> tuple[StreamStatus | None, Sequence[StreamChunk]]:
        stream = self._live(stream_id)
        if stream is None:
            return None, []
        data = stream.chunks[after : after + limit]
        return stream.status(), chunk_run(after + 1, data)

    async def _delete(self, stream_id: str) -> None:
        self._streams.pop(stream_id, None)

    async def _expired(self) -> list[str]:
        now = self._clock()
        expired = [sid for sid, s in self._streams.items() if s.expires_at <= now]
        for sid in expired:
            del self._streams[sid]
        return expired

    async def cleanup(self) -> int:
        """Drop every expired stream and return how many were dropped."""
        return await self._run_cleanup(self._expired())
