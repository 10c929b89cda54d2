"""Every verb of :class:`~aibind.redis.RedisStreamTransport`, asyncio side.

This module is the single source of truth of the transport's behaviour:
``_transport_sync.py`` is generated from it by ``packages/aibind-redis/tools/generate_sync.py``
(``await`` dropped, ``async def`` -> ``def``, ``AsyncIterator`` -> ``Iterator``, ``aclose`` ->
``close``), and a test fails if the generated file is not current. Edit this file, then run
``python packages/aibind-redis/tools/generate_sync.py``.

Everything that is not I/O (encoding, decoding, error translation) lives in
:mod:`aibind.redis._transport_events`, shared by both sides.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

from aibind.redis._errors import error_code
from aibind.redis._transport_events import (
    ClaimedEvents,
    CorruptEvent,
    StreamEvent,
    decode_entries,
    decode_read_reply,
    empty_info,
    encode_event,
    entry_id,
    failure,
    parse_info,
    parse_pending,
)

__all__ = ["AsyncTransportCore"]


class AsyncTransportCore:
    """The transport's verbs on one client (see :class:`~aibind.redis.RedisStreamTransport` for
    the documentation of each).

    Args:
        stream_name: the stream's key.
        consumer_group: the group of the group verbs; created on first use.
        max_len: approximate cap of the stream (``XADD MAXLEN ~``).
        terminal_types: event types that end :meth:`subscribe`.
        connect: builds the client on first use.
        owns_client: close the client in :meth:`close`.
    """

    def __init__(
        self,
        stream_name: str,
        consumer_group: str,
        max_len: int,
        terminal_types: frozenset[str],
        connect: Callable[[], Any],
        owns_client: bool,
    ) -> None:
        self.stream_name = stream_name
        self.consumer_group = consumer_group
        self.max_len = max_len
        self.terminal_types = terminal_types
        self._connect = connect
        self._owns_client = owns_client
        self._redis: Any = None
        self._group_ready = False

    def _client(self) -> Any:
        if self._redis is None:
            self._redis = self._connect()
        return self._redis

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._client().xgroup_create(
                self.stream_name, self.consumer_group, "0", mkstream=True
            )
        except Exception as exc:
            if error_code(exc) != "BUSYGROUP":
                raise failure("XGROUP CREATE", self.stream_name, exc) from exc
        self._group_ready = True

    async def _grouped(self, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run a group command; if the group (or the stream) was deleted meanwhile
        (``NOGROUP``), create it again and retry once."""
        await self._ensure_group()
        try:
            return await call()
        except Exception as exc:
            if error_code(exc) != "NOGROUP":
                raise failure(what, self.stream_name, exc) from exc
        self._group_ready = False
        await self._ensure_group()
        try:
            return await call()
        except Exception as exc:
            raise failure(what, self.stream_name, exc) from exc

    async def publish(
        self, event_type: str, data: Any, metadata: Mapping[str, Any] | None = None
    ) -> str:
        fields = encode_event(event_type, data, metadata)
        try:
            entry = await self._client().xadd(
                self.stream_name, fields, maxlen=self.max_len, approximate=True
            )
        except Exception as exc:
            raise failure("XADD", self.stream_name, exc) from exc
        return entry_id(entry)

    async def read_all(self, count: int | None = 100, start_id: str = "0") -> list[StreamEvent]:
        try:
            entries = await self._client().xrange(self.stream_name, min=start_id, count=count)
        except Exception as exc:
            raise failure("XRANGE", self.stream_name, exc) from exc
        return decode_entries(entries)

    async def _last_id(self) -> str:
        try:
            newest = await self._client().xrevrange(self.stream_name, count=1)
        except Exception as exc:
            raise failure("XREVRANGE", self.stream_name, exc) from exc
        return entry_id(newest[0][0]) if newest else "0-0"

    async def subscribe(
        self, last_id: str = "$", block_ms: int = 5000
    ) -> AsyncIterator[StreamEvent]:
        cursor = await self._last_id() if last_id == "$" else last_id
        while True:
            try:
                reply = await self._client().xread(
                    {self.stream_name: cursor}, block=block_ms, count=100
                )
            except Exception as exc:
                raise failure("XREAD", self.stream_name, exc) from exc
            for event in decode_read_reply(reply):
                cursor = event.id
                yield event
                if event.type in self.terminal_types and not isinstance(event, CorruptEvent):
                    return

    async def read_group(
        self, consumer: str, count: int = 10, block_ms: int | None = None
    ) -> list[StreamEvent]:
        reply = await self._grouped(
            "XREADGROUP",
            lambda: self._client().xreadgroup(
                self.consumer_group, consumer, {self.stream_name: ">"}, count=count, block=block_ms
            ),
        )
        return decode_read_reply(reply)

    async def ack(self, ids: str | Iterable[str]) -> int:
        id_list = [ids] if isinstance(ids, str) else list(ids)
        if not id_list:
            return 0
        acked = await self._grouped(
            "XACK", lambda: self._client().xack(self.stream_name, self.consumer_group, *id_list)
        )
        return int(acked)

    async def pending(self) -> dict[str, Any]:
        raw = await self._grouped(
            "XPENDING", lambda: self._client().xpending(self.stream_name, self.consumer_group)
        )
        return parse_pending(raw)

    async def claim(self, consumer: str, min_idle_ms: int, ids: Iterable[str]) -> list[StreamEvent]:
        id_list = list(ids)
        if not id_list:
            return []
        entries = await self._grouped(
            "XCLAIM",
            lambda: self._client().xclaim(
                self.stream_name, self.consumer_group, consumer, min_idle_ms, id_list
            ),
        )
        return decode_entries(entries)

    def _autoclaim_from(
        self, start: str, consumer: str, min_idle_ms: int, count: int
    ) -> Callable[[], Awaitable[Any]]:
        return lambda: self._client().xautoclaim(
            self.stream_name, self.consumer_group, consumer, min_idle_ms, start, count
        )

    async def autoclaim(self, consumer: str, min_idle_ms: int, count: int = 100) -> ClaimedEvents:
        claimed = ClaimedEvents()
        cursor = "0-0"
        while True:
            reply = await self._grouped(
                "XAUTOCLAIM", self._autoclaim_from(cursor, consumer, min_idle_ms, count)
            )
            cursor = entry_id(reply[0])
            claimed.extend(decode_entries(reply[1]))
            if len(reply) > 2:
                claimed.deleted_ids.extend(entry_id(i) for i in reply[2] or [])
            if cursor == "0-0":
                return claimed

    async def info(self) -> dict[str, Any]:
        try:
            raw = await self._client().xinfo_stream(self.stream_name)
        except Exception as exc:
            if error_code(exc) is None:
                raise failure("XINFO STREAM", self.stream_name, exc) from exc
            try:
                exists = await self._client().exists(self.stream_name)
            except Exception as inner:
                raise failure("EXISTS", self.stream_name, inner) from inner
            if exists:
                raise failure("XINFO STREAM", self.stream_name, exc) from exc
            return empty_info()
        return parse_info(raw)

    async def delete(self) -> bool:
        self._group_ready = False
        try:
            return bool(await self._client().delete(self.stream_name))
        except Exception as exc:
            raise failure("DEL", self.stream_name, exc) from exc

    async def close(self) -> None:
        client, self._redis = self._redis, None
        self._group_ready = False
        if client is not None and self._owns_client:
            await client.aclose()
