"""``RedisStreamTransport``: an event transport on Redis Streams with consumer groups, sync and
async (seed: ``redis_openai_agents.RedisStreamTransport``, same constructor and verbs).

Better than the seed: Redis errors raise :class:`TransportError` (chained) instead of becoming
empty results; a terminal event type ends :meth:`asubscribe`; :meth:`autoclaim` reclaims a dead
consumer's pending entries with ``XAUTOCLAIM``; the consumer group is created lazily and
idempotently on first use instead of by a network call in the constructor.

The seed's millisecond argument names (``block_ms``, ``min_idle_ms``) are kept for
compatibility: those arguments are in **milliseconds**, unlike the rest of aibind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, TypeVar

from aibind.redis.client import RedisBackendError
from aibind.redis.codec import text
from aibind.redis.transport_async import AsyncTransportMixin
from aibind.redis.transport_events import (
    DEFAULT_TERMINAL_TYPES,
    StreamEvent,
    decode_event,
    encode_event,
)

__all__ = ["RedisStreamTransport", "StreamEvent", "TransportError"]

T = TypeVar("T")


class TransportError(RedisBackendError):
    """A Redis command of the transport failed; the driver error is chained."""


def _events(entries: Iterable[Any] | None) -> list[StreamEvent]:
    return [decode_event(eid, fields) for eid, fields in entries or [] if fields is not None]


class RedisStreamTransport(AsyncTransportMixin):
    """Publish and consume events on one Redis Stream.

    Args:
        stream_name: the stream's key.
        redis_url: server URL for the clients the transport opens (default
            ``"redis://localhost:6379"``, as the seed).
        consumer_group: group used by :meth:`read_group`, :meth:`ack`, :meth:`pending`,
            :meth:`claim`, :meth:`autoclaim` (default ``"agents"``). Created on first use
            (``XGROUP CREATE ... 0 MKSTREAM``), so it sees every entry still in the stream.
        max_len: approximate cap on the stream's length (``XADD MAXLEN ~``; default 10000).
        pool: a ``redis.ConnectionPool`` for the sync client (not closed by :meth:`close`).
        client: a sync ``redis.Redis``/``valkey.Valkey`` to use instead (not closed).
        async_client: an asyncio client to use for the async methods (not closed).
        terminal_types: event types that end :meth:`asubscribe` (default done/error/stopped).

    Raises:
        TypeError, ValueError: malformed arguments.
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
        for name, value in (("stream_name", stream_name), ("consumer_group", consumer_group)):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a str, not {type(value).__name__}")
            if not value:
                raise ValueError(f"{name} must not be empty")
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len <= 0:
            raise ValueError(f"max_len must be a positive int, got {max_len!r}")
        self._stream_name = stream_name
        self._consumer_group = consumer_group
        self.redis_url = redis_url
        self.max_len = max_len
        self.terminal_types = frozenset(terminal_types)
        self._pool = pool
        self._sync = client
        self._owns_sync = client is None
        self._async = async_client
        self._owns_async = async_client is None
        self._group_ready = False

    @property
    def stream_name(self) -> str:
        """Name (key) of the Redis Stream."""
        return self._stream_name

    @property
    def consumer_group(self) -> str:
        """Consumer group name."""
        return self._consumer_group

    # ---- plumbing ------------------------------------------------------------------------

    def _client(self) -> Any:
        if self._sync is None:
            import redis

            if self._pool is not None:
                self._sync = redis.Redis(connection_pool=self._pool)
            else:
                self._sync = redis.Redis.from_url(self.redis_url)
        return self._sync

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except Exception as exc:
            raise TransportError(f"{what} on stream {self._stream_name!r} failed: {exc}") from exc

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self._client().xgroup_create(
                self._stream_name, self._consumer_group, "0", mkstream=True
            )
        except Exception as exc:
            if "BUSYGROUP" not in str(exc):
                raise TransportError(
                    f"XGROUP CREATE {self._consumer_group!r} failed: {exc}"
                ) from exc
        self._group_ready = True

    def _grouped(self, what: str, fn: Callable[[], T]) -> T:
        self._ensure_group()
        try:
            return fn()
        except Exception as exc:
            if "NOGROUP" not in str(exc):
                raise TransportError(f"{what} on {self._stream_name!r} failed: {exc}") from exc
        self._group_ready = False  # the stream was deleted under us: recreate once
        self._ensure_group()
        return self._call(what, fn)

    # ---- sync API ------------------------------------------------------------------------

    def publish(self, event_type: str, data: Any, metadata: Mapping[str, Any] | None = None) -> str:
        """Append an event (``XADD stream MAXLEN ~ max_len * ...``) and return its entry id.

        Raises:
            TypeError, ValueError: bad ``event_type``/``data``/``metadata``.
            TransportError: the command failed.
        """
        fields = encode_event(event_type, data, metadata)
        entry = self._call(
            "XADD",
            lambda: self._client().xadd(
                self._stream_name, fields, maxlen=self.max_len, approximate=True
            ),
        )
        return text(entry)

    def read_all(self, count: int | None = 100, start_id: str = "0") -> list[StreamEvent]:
        """Read up to ``count`` events from ``start_id`` on (inclusive; ``"(id"`` is exclusive)
        with ``XRANGE``; ``count=None`` reads all. Raises :class:`TransportError`."""
        return _events(
            self._call(
                "XRANGE",
                lambda: self._client().xrange(self._stream_name, min=start_id, count=count),
            )
        )

    def read_group(
        self, consumer: str, count: int = 10, block_ms: int | None = None
    ) -> list[StreamEvent]:
        """Read new events for ``consumer`` in the group (``XREADGROUP ... >``); they stay
        pending until :meth:`ack`. ``block_ms`` is in **milliseconds** (seed's name); ``None``
        does not block. Raises :class:`TransportError`."""
        reply = self._grouped(
            "XREADGROUP",
            lambda: self._client().xreadgroup(
                self._consumer_group,
                consumer,
                {self._stream_name: ">"},
                count=count,
                block=block_ms,
            ),
        )
        return [e for _stream, entries in reply or [] for e in _events(entries)]

    def ack(self, ids: str | Iterable[str]) -> int:
        """Acknowledge events (``XACK``); returns how many were pending. Raises
        :class:`TransportError`."""
        id_list = [ids] if isinstance(ids, str) else list(ids)
        if not id_list:
            return 0
        return int(
            self._grouped(
                "XACK",
                lambda: self._client().xack(self._stream_name, self._consumer_group, *id_list),
            )
        )

    def pending(self) -> dict[str, Any]:
        """Summary of pending events (``XPENDING``): ``{"pending": n, "min_id", "max_id",
        "consumers": {name: count}}``. Raises :class:`TransportError`."""
        raw = self._grouped(
            "XPENDING", lambda: self._client().xpending(self._stream_name, self._consumer_group)
        )
        consumers = {text(c["name"]): int(c["pending"]) for c in raw.get("consumers") or []}
        low, high = raw.get("min"), raw.get("max")
        return {
            "pending": int(raw.get("pending") or 0),
            "min_id": None if low is None else text(low),
            "max_id": None if high is None else text(high),
            "consumers": consumers,
        }

    def claim(self, consumer: str, min_idle_ms: int, ids: Iterable[str]) -> list[StreamEvent]:
        """Take over the given pending events idle at least ``min_idle_ms`` **milliseconds**
        (``XCLAIM``). Raises :class:`TransportError`."""
        id_list = list(ids)
        if not id_list:
            return []
        return _events(
            self._grouped(
                "XCLAIM",
                lambda: self._client().xclaim(
                    self._stream_name, self._consumer_group, consumer, min_idle_ms, id_list
                ),
            )
        )

    def autoclaim(self, consumer: str, min_idle_ms: int, count: int = 100) -> list[StreamEvent]:
        """Reclaim for ``consumer`` every pending event idle at least ``min_idle_ms``
        **milliseconds**, from any (dead) consumer (``XAUTOCLAIM`` from ``0-0``, following the
        cursor ``count`` entries at a time). Raises :class:`TransportError`."""
        claimed: list[StreamEvent] = []
        cursor = "0-0"
        while True:
            reply = self._grouped(
                "XAUTOCLAIM",
                lambda start=cursor: self._client().xautoclaim(  # type: ignore[misc]
                    self._stream_name, self._consumer_group, consumer, min_idle_ms, start, count
                ),
            )
            cursor = text(reply[0])
            claimed.extend(_events(reply[1]))
            if cursor == "0-0":
                return claimed

    def info(self) -> dict[str, Any]:
        """Stream information (``XINFO STREAM``): ``length``, ``first_entry_id``,
        ``last_entry_id``, ``groups``, ``last_generated_id``; ``length=0`` and ``None`` ids for
        a missing stream. Raises :class:`TransportError`."""
        try:
            raw = self._client().xinfo_stream(self._stream_name)
        except Exception as exc:
            if "no such key" in str(exc).lower():
                return {
                    "length": 0,
                    "first_entry_id": None,
                    "last_entry_id": None,
                    "groups": 0,
                    "last_generated_id": None,
                }
            raise TransportError(f"XINFO STREAM {self._stream_name!r} failed: {exc}") from exc
        first, last = raw.get("first-entry"), raw.get("last-entry")
        return {
            "length": int(raw.get("length", 0)),
            "first_entry_id": text(first[0]) if first else None,
            "last_entry_id": text(last[0]) if last else None,
            "groups": int(raw.get("groups", 0)),
            "last_generated_id": text(raw.get("last-generated-id", "")) or None,
        }

    def delete(self) -> bool:
        """Delete the stream with its groups (``DEL``); ``True`` if it existed."""
        self._group_ready = False
        return bool(self._call("DEL", lambda: self._client().delete(self._stream_name)))

    def close(self) -> None:
        """Close the sync client if the transport opened it (a given pool or client is left
        open). Use :meth:`aclose` for the async client."""
        if self._sync is not None and self._owns_sync:
            if self._pool is None:
                self._sync.close()
            self._sync = None

    def subscribe_async(
        self, last_id: str = "$", block_ms: int = 5000
    ) -> AsyncIterator[StreamEvent]:
        """Alias of :meth:`asubscribe`."""
        return self.asubscribe(last_id, block_ms)
