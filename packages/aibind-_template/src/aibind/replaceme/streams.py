"""``ReplacemeStreamStore``: durable streams on <REPLACE ME: the storage>.

The kit's :class:`~aibind.core.kit.StreamStoreBase` implements every public method (argument
checks, lifecycle, errors, wake-ups, ``read_from``); this module supplies its storage hooks.
<REPLACE ME: each hook body>: make each one atomic on your storage (one transaction, one
script, one conditional write) — the conformance suite checks it with concurrent writers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from aibind.core.errors import StreamNotActiveError, StreamNotFoundError
from aibind.core.kit import (
    ClientOpener,
    Parser,
    StreamStoreBase,
    chunk_run,
    parse_float,
    parse_optional_float,
)
from aibind.core.types import StreamChunk, StreamState, StreamStatus
from aibind.replaceme.client import REPLACEME_CLIENT, ReplacemeClient, StoredStream

__all__ = ["ReplacemeStreamStore"]


class ReplacemeStreamStore(StreamStoreBase):
    """Streams on <REPLACE ME: the storage>; every write restarts the stream's TTL.

    Args:
        client: the client to use (never closed by the store); ``from_url`` opens one the
            store owns instead.
        ttl: seconds a stream lives after its last write (default 300, as the npm stores).
        poll_interval: seconds between safety sweeps for writers that do not notify, or
            ``None`` for push only (this stand-in pushes through the database's notifier).

    Raises:
        TypeError, ValueError: a bad ``ttl`` or ``poll_interval``.
    """

    _client_opener: ClassVar[ClientOpener] = REPLACEME_CLIENT
    _url_options: ClassVar[Mapping[str, Parser]] = {
        "ttl": parse_float,
        "poll_interval": parse_optional_float,
    }

    def __init__(
        self, client: ReplacemeClient, *, ttl: float = 300.0, poll_interval: float | None = None
    ) -> None:
        # <REPLACE ME>: a backend with server-side push (pub/sub, LISTEN) passes a Notifier
        # whose hooks subscribe on the server; one without lets the Sweeper poll.
        super().__init__(ttl=ttl, poll_interval=poll_interval, notifier=client.db().notifier)
        self.client = client

    @classmethod
    def _from_client(cls, client: Any, options: Mapping[str, Any]) -> ReplacemeStreamStore:
        return cls(client, **options)

    def _live(self, stream_id: str) -> StoredStream | None:
        streams = self.client.db().streams
        stream = streams.get(stream_id)
        if stream is not None and stream.expires_at <= self.client.now():
            del streams[stream_id]
            return None
        return stream

    async def _create(self, stream_id: str) -> bool:
        if self._live(stream_id) is not None:
            return False
        self.client.db().streams[stream_id] = StoredStream(self.client.now() + self.ttl)
        return True

    async def _append(self, stream_id: str, chunks: list[str]) -> int:
        stream = self._live(stream_id)
        if stream is None:
            raise StreamNotFoundError(stream_id)
        if stream.state != "active":
            raise StreamNotActiveError(stream_id, stream.state)
        stream.chunks.extend(chunks)
        stream.expires_at = self.client.now() + self.ttl
        return len(stream.chunks)

    async def _get_status(self, stream_id: str) -> StreamStatus | None:
        stream = self._live(stream_id)
        return (
            None if stream is None else StreamStatus(stream.state, len(stream.chunks), stream.error)
        )

    async def _finish(self, stream_id: str, state: StreamState, error: str | None) -> None:
        stream = self._live(stream_id)
        if stream is None:
            raise StreamNotFoundError(stream_id)
        if stream.state == "active":
            stream.state, stream.error = state, error
            stream.expires_at = self.client.now() + self.ttl

    async def _fetch(
        self, stream_id: str, after: int, limit: int
    ) -> tuple[StreamStatus | None, Sequence[StreamChunk]]:
        stream = self._live(stream_id)
        if stream is None:
            return None, []
        status = StreamStatus(stream.state, len(stream.chunks), stream.error)
        data = stream.chunks[after : after + limit]
        # A page made as it is taken (rows carrying their seq: chunks_from_rows(rows)).
        return status, chunk_run(after + 1, data)

    async def _delete(self, stream_id: str) -> None:
        self.client.db().streams.pop(stream_id, None)

    async def _expired(self) -> list[str]:
        streams, now = self.client.db().streams, self.client.now()
        expired = [sid for sid, stream in streams.items() if stream.expires_at <= now]
        for sid in expired:
            del streams[sid]
        return expired

    async def cleanup(self) -> int:
        """Remove every expired stream and return how many were removed."""
        return await self._run_cleanup(self._expired())
