"""The asyncio half of :class:`~aibind.redis.transport.RedisStreamTransport`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from aibind.redis.codec import text
from aibind.redis.transport_events import StreamEvent, decode_event, encode_event

__all__ = ["AsyncTransportMixin"]


class AsyncTransportMixin:
    """``apublish``, ``asubscribe``, ``aread_group``, ``aack`` and ``aclose``; state (the
    stream name, clients, terminal types) lives in the transport class."""

    _stream_name: str
    _consumer_group: str
    _async: Any
    _owns_async: bool
    redis_url: str
    max_len: int
    terminal_types: frozenset[str]
    _agroup_ready: bool = False

    def _aclient(self) -> Any:
        if self._async is None:
            import redis.asyncio

            self._async = redis.asyncio.Redis.from_url(self.redis_url)
        return self._async

    def _error(self, what: str, exc: Exception) -> Exception:
        from aibind.redis.transport import TransportError

        return TransportError(f"{what} on stream {self._stream_name!r} failed: {exc}")

    async def apublish(
        self, event_type: str, data: Any, metadata: Mapping[str, Any] | None = None
    ) -> str:
        """Async :meth:`publish`: ``XADD ... MAXLEN ~ max_len``; returns the entry id.
        Raises ``TypeError``/``ValueError`` for bad input, ``TransportError`` on failure."""
        fields = encode_event(event_type, data, metadata)
        try:
            entry = await self._aclient().xadd(
                self._stream_name, fields, maxlen=self.max_len, approximate=True
            )
        except Exception as exc:
            raise self._error("XADD", exc) from exc
        return text(entry)

    async def _last_id(self) -> str:
        try:
            newest = await self._aclient().xrevrange(self._stream_name, count=1)
        except Exception as exc:
            raise self._error("XREVRANGE", exc) from exc
        return text(newest[0][0]) if newest else "0-0"

    async def asubscribe(
        self, last_id: str = "$", block_ms: int = 5000
    ) -> AsyncIterator[StreamEvent]:
        """Yield events published after ``last_id`` (``"$"``: from now on; ``"0"``: from the
        start) as they arrive (``XREAD BLOCK block_ms``, in **milliseconds**, the seed's name),
        forever, or until an event whose type is in ``terminal_types`` has been yielded.

        Raises:
            TransportError: a command failed (it is not turned into an empty result).
        """
        cursor = await self._last_id() if last_id == "$" else last_id
        client = self._aclient()
        while True:
            try:
                reply = await client.xread({self._stream_name: cursor}, block=block_ms, count=100)
            except Exception as exc:
                raise self._error("XREAD", exc) from exc
            for _stream, entries in reply or []:
                for entry_id, fields in entries:
                    event = decode_event(entry_id, fields)
                    cursor = event.id
                    yield event
                    if event.type in self.terminal_types:
                        return

    async def aread_group(
        self, consumer: str, count: int = 10, block_ms: int | None = None
    ) -> list[StreamEvent]:
        """Async :meth:`read_group` (``XREADGROUP``; ``block_ms`` in milliseconds)."""
        client = self._aclient()
        if not self._agroup_ready:
            try:
                await client.xgroup_create(
                    self._stream_name, self._consumer_group, "0", mkstream=True
                )
            except Exception as exc:
                if "BUSYGROUP" not in str(exc):
                    raise self._error("XGROUP CREATE", exc) from exc
            self._agroup_ready = True
        try:
            reply = await client.xreadgroup(
                self._consumer_group,
                consumer,
                {self._stream_name: ">"},
                count=count,
                block=block_ms,
            )
        except Exception as exc:
            if "NOGROUP" in str(exc):
                self._agroup_ready = False
            raise self._error("XREADGROUP", exc) from exc
        return [decode_event(i, f) for _s, entries in reply or [] for i, f in entries if f]

    async def aack(self, ids: str | list[str]) -> int:
        """Async :meth:`ack` (``XACK``)."""
        id_list = [ids] if isinstance(ids, str) else list(ids)
        if not id_list:
            return 0
        try:
            return int(
                await self._aclient().xack(self._stream_name, self._consumer_group, *id_list)
            )
        except Exception as exc:
            raise self._error("XACK", exc) from exc

    async def aclose(self) -> None:
        """Close the async client if the transport opened it, and the sync one too."""
        if self._async is not None and self._owns_async:
            closer = getattr(self._async, "aclose", None) or self._async.close
            await closer()
            self._async = None
        close = getattr(self, "close", None)
        if close is not None:
            close()
