"""``RedisStreamTransport``: an event transport on Redis Streams with consumer groups, sync and
async (seed: ``redis_openai_agents.RedisStreamTransport``, same constructor and verbs).

Both halves run the same code: the async verbs live in ``_transport_async.py`` and the sync ones
are generated from them (``_transport_sync.py``), so they behave alike by construction; every
sync verb ``x`` has an async twin ``ax``.

Better than the seed: Redis errors raise (chained) instead of becoming empty results; a terminal
event type ends :meth:`~RedisStreamTransport.asubscribe`; an entry that cannot be decoded is
delivered as a :class:`~aibind.redis.CorruptEvent` in its place instead of blocking the
stream; :meth:`~RedisStreamTransport.autoclaim` reclaims a dead consumer's pending entries with
``XAUTOCLAIM`` and reports the ones trimmed away; the consumer group is created lazily and
idempotently on first use (and again if the stream was deleted) instead of by a network call in
the constructor; the clients it opens itself never re-send a command (no duplicate ``XADD``).

The seed's millisecond argument names (``block_ms``, ``min_idle_ms``) are kept for
compatibility: those arguments are in **milliseconds**, unlike the rest of aibind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any

from aibind.redis._transport_async import AsyncTransportCore
from aibind.redis._transport_events import (
    DEFAULT_TERMINAL_TYPES,
    ClaimedEvents,
    CorruptEvent,
    StreamEvent,
)
from aibind.redis._transport_sync import SyncTransportCore
from aibind.redis.errors import TransportError

__all__ = [
    "ClaimedEvents",
    "CorruptEvent",
    "RedisStreamTransport",
    "StreamEvent",
    "TransportError",
]


_SOCKET: dict[str, Any] = {
    "socket_timeout": None,
    "socket_connect_timeout": 5.0,
    "socket_keepalive": True,
}
"""Socket options of the clients the transport opens: no read timeout, since ``XREAD`` /
``XREADGROUP`` may block for ``block_ms`` (redis-py 8's default 5 s timeout would cut the
default ``block_ms=5000`` short); TCP keepalive finds a dead peer instead."""


def _no_retry(module: str) -> Any:
    """A redis-py ``Retry`` that never re-sends (0 retries), from ``module``."""
    from redis.backoff import NoBackoff

    if module == "sync":
        from redis.retry import Retry
    else:
        from redis.asyncio.retry import Retry  # type: ignore[assignment]
    return Retry(NoBackoff(), 0)


class RedisStreamTransport:
    """Publish and consume events on one Redis Stream.

    Args:
        stream_name: the stream's key.
        redis_url: server URL for the clients the transport opens (default
            ``"redis://localhost:6379"``, as the seed). They make no driver retries (a command
            whose connection fails raises at once and is never sent twice) and have no socket
            read timeout (blocking reads wait ``block_ms``; TCP keepalive detects a dead
            peer). A client you pass needs a ``socket_timeout`` above your ``block_ms``.
        consumer_group: group used by the group verbs (default ``"agents"``). Created on first
            use (``XGROUP CREATE ... 0 MKSTREAM``), so it sees every entry still in the stream.
        max_len: approximate cap on the stream's length (``XADD MAXLEN ~``; default 10000).
        pool: a ``redis.ConnectionPool`` for the sync client (not closed by :meth:`close`).
        client: a sync ``redis.Redis``/``valkey.Valkey`` to use instead (not closed).
        async_client: an asyncio client for the async verbs (not closed).
        terminal_types: event types that end :meth:`asubscribe` (default done/error/stopped).

    Raises:
        TypeError, ValueError: malformed arguments.

    Errors of every verb: :class:`~aibind.core.errors.BackendUnavailableError` (cannot
    connect), :class:`~aibind.core.errors.ConnectionLostError` (dropped mid-call; a write may
    or may not have been applied), :class:`~aibind.core.errors.BackendTimeoutError`,
    :class:`TransportError` (an error reply, e.g. the key holds another type); all chained.
    Clients with ``decode_responses=True`` cannot deliver entries holding bytes that are not
    UTF-8 (the driver fails on the whole reply): leave it off (the default).
    """

    def __init__(
        self,
        stream_name: str,
        redis_url: str = "redis://localhost:6379",
        consumer_group: str = "agents",
        max_len: int = 10000,
        pool: Any = None,
        *,
        client: Any = None,
        async_client: Any = None,
        terminal_types: Iterable[str] = DEFAULT_TERMINAL_TYPES,
    ) -> None:
        for name, value in (
            ("stream_name", stream_name),
            ("consumer_group", consumer_group),
            ("redis_url", redis_url),
        ):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a str, not {type(value).__name__}")
            if not value:
                raise ValueError(f"{name} must not be empty")
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len <= 0:
            raise ValueError(f"max_len must be a positive int, got {max_len!r}")
        self.redis_url = redis_url
        self.max_len = max_len
        self.terminal_types = frozenset(terminal_types)
        self._pool = pool
        self._given_sync = client
        self._given_async = async_client
        self._sync = SyncTransportCore(
            stream_name,
            consumer_group,
            max_len,
            self.terminal_types,
            self._open_sync,
            owns_client=client is None,
        )
        self._async = AsyncTransportCore(
            stream_name,
            consumer_group,
            max_len,
            self.terminal_types,
            self._open_async,
            owns_client=async_client is None,
        )

    @property
    def stream_name(self) -> str:
        """Name (key) of the Redis Stream."""
        return self._sync.stream_name

    @property
    def consumer_group(self) -> str:
        """Consumer group name."""
        return self._sync.consumer_group

    def _open_sync(self) -> Any:
        if self._given_sync is not None:
            return self._given_sync
        import redis

        if self._pool is not None:
            return redis.Redis(connection_pool=self._pool)
        return redis.Redis.from_url(self.redis_url, retry=_no_retry("sync"), **_SOCKET)

    def _open_async(self) -> Any:
        if self._given_async is not None:
            return self._given_async
        import redis.asyncio

        return redis.asyncio.Redis.from_url(self.redis_url, retry=_no_retry("async"), **_SOCKET)

    # ---- sync ----------------------------------------------------------------------------

    def publish(self, event_type: str, data: Any, metadata: Mapping[str, Any] | None = None) -> str:
        """Append an event (``XADD stream MAXLEN ~ max_len * ...``) and return its entry id.

        Raises:
            TypeError: bad ``event_type``/``metadata``, or ``data`` JSON cannot encode.
            ValueError: empty ``event_type``; NaN/infinity, a lone surrogate or too deep
                nesting in ``data``/``metadata``.
        """
        return self._sync.publish(event_type, data, metadata)

    def read_all(self, count: int | None = 100, start_id: str = "0") -> list[StreamEvent]:
        """Up to ``count`` events from ``start_id`` on (``XRANGE``; inclusive, ``"(id"`` is
        exclusive); ``count=None`` reads all."""
        return self._sync.read_all(count, start_id)

    def subscribe(self, last_id: str = "$", block_ms: int = 5000) -> Iterator[StreamEvent]:
        """Blocking twin of :meth:`asubscribe` (an iterator)."""
        return self._sync.subscribe(last_id, block_ms)

    def read_group(
        self, consumer: str, count: int = 10, block_ms: int | None = None
    ) -> list[StreamEvent]:
        """New events for ``consumer`` in the group (``XREADGROUP ... >``); they stay pending
        until :meth:`ack`. ``block_ms`` in **milliseconds**; ``None`` does not block. A group
        (or stream) deleted meanwhile is created again."""
        return self._sync.read_group(consumer, count, block_ms)

    def ack(self, ids: str | Iterable[str]) -> int:
        """Acknowledge events (``XACK``); returns how many were pending."""
        return self._sync.ack(ids)

    def pending(self) -> dict[str, Any]:
        """Summary of pending events (``XPENDING``): ``{"pending": n, "min_id", "max_id",
        "consumers": {name: count}}``."""
        return self._sync.pending()

    def claim(self, consumer: str, min_idle_ms: int, ids: Iterable[str]) -> list[StreamEvent]:
        """Take over the given pending events idle at least ``min_idle_ms`` **milliseconds**
        (``XCLAIM``)."""
        return self._sync.claim(consumer, min_idle_ms, ids)

    def autoclaim(self, consumer: str, min_idle_ms: int, count: int = 100) -> ClaimedEvents:
        """Reclaim for ``consumer`` every pending event idle at least ``min_idle_ms``
        **milliseconds**, from any (dead) consumer (``XAUTOCLAIM`` from ``0-0``, following the
        cursor ``count`` entries at a time). The returned list's ``deleted_ids`` names pending
        entries that were trimmed or deleted before anyone acknowledged them (lost)."""
        return self._sync.autoclaim(consumer, min_idle_ms, count)

    def info(self) -> dict[str, Any]:
        """``XINFO STREAM``: ``length``, ``first_entry_id``, ``last_entry_id``, ``groups``,
        ``last_generated_id``; ``length=0`` and ``None`` ids for a missing stream."""
        return self._sync.info()

    def delete(self) -> bool:
        """Delete the stream with its groups (``DEL``); ``True`` if it existed."""
        return self._sync.delete()

    def close(self) -> None:
        """Close the sync client if the transport opened it (a given pool or client is left
        open). :meth:`aclose` closes both."""
        self._sync.close()

    # ---- async ---------------------------------------------------------------------------

    async def apublish(
        self, event_type: str, data: Any, metadata: Mapping[str, Any] | None = None
    ) -> str:
        """Async :meth:`publish`."""
        return await self._async.publish(event_type, data, metadata)

    async def aread_all(self, count: int | None = 100, start_id: str = "0") -> list[StreamEvent]:
        """Async :meth:`read_all`."""
        return await self._async.read_all(count, start_id)

    def asubscribe(self, last_id: str = "$", block_ms: int = 5000) -> AsyncIterator[StreamEvent]:
        """Yield events published after ``last_id`` (``"$"``: from now on; ``"0"``: from the
        start) as they arrive (``XREAD BLOCK block_ms``, in **milliseconds**), forever, or
        until an event whose type is in ``terminal_types`` has been yielded."""
        return self._async.subscribe(last_id, block_ms)

    def subscribe_async(
        self, last_id: str = "$", block_ms: int = 5000
    ) -> AsyncIterator[StreamEvent]:
        """Alias of :meth:`asubscribe` (the seed's name)."""
        return self._async.subscribe(last_id, block_ms)

    async def aread_group(
        self, consumer: str, count: int = 10, block_ms: int | None = None
    ) -> list[StreamEvent]:
        """Async :meth:`read_group`."""
        return await self._async.read_group(consumer, count, block_ms)

    async def aack(self, ids: str | Iterable[str]) -> int:
        """Async :meth:`ack`."""
        return await self._async.ack(ids)

    async def apending(self) -> dict[str, Any]:
        """Async :meth:`pending`."""
        return await self._async.pending()

    async def aclaim(
        self, consumer: str, min_idle_ms: int, ids: Iterable[str]
    ) -> list[StreamEvent]:
        """Async :meth:`claim`."""
        return await self._async.claim(consumer, min_idle_ms, ids)

    async def aautoclaim(self, consumer: str, min_idle_ms: int, count: int = 100) -> ClaimedEvents:
        """Async :meth:`autoclaim`."""
        return await self._async.autoclaim(consumer, min_idle_ms, count)

    async def ainfo(self) -> dict[str, Any]:
        """Async :meth:`info`."""
        return await self._async.info()

    async def adelete(self) -> bool:
        """Async :meth:`delete`."""
        return await self._async.delete()

    async def aclose(self) -> None:
        """Close the async client and the sync one, if the transport opened them."""
        try:
            await self._async.close()
        finally:
            self._sync.close()
