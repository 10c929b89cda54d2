"""The sweep's probe of a :class:`~aibind.redis.RedisStreamStore`: the raw status value of
every followed stream, read in slices of :data:`SLICE` keys (see :data:`aibind.core.kit.Probe`).

On a standalone redis-py / valkey client every slice is one ``MGET``, and all of them go out in
ONE write on a connection lent by the client's pool (one round trip); each reply is parsed and
handed to the sweep as it is read, and the sweep compares it and lets other tasks run before the
next. Each stream's key is encoded once, as a ready-made piece of the command, and kept while
the stream is followed, so a sweep of 10,000 streams packs no argument in Python. A cluster
client gets one pipeline of ``GET`` commands per slice (redis-py sends it as one batch per node);
any other client one ``mget`` call per slice.

Values come back as bytes (``None`` for a stream that does not exist), the form
:meth:`RedisStreamStore._marker` gives, so the sweep compares them as they are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from aibind.core.kit import keep_cancellation
from aibind.redis._keys import StreamKeys
from aibind.redis._once import _fresh, _standalone_pool, lent, write_packed

__all__ = ["SLICE", "StatusProbe"]

SLICE = 500
"""Status keys per ``MGET``: a slice is read, parsed and compared in well under a millisecond,
so a sweep never holds the event loop for long, whatever the number of followed streams."""


def _as_bytes(values: Sequence[Any]) -> list[Any]:
    """Values as bytes (``None`` kept), whatever the client decodes them to."""
    return [
        v if v is None or type(v) is bytes else v.encode() if isinstance(v, str) else bytes(v)
        for v in values
    ]


class StatusProbe:
    """Reads the status values of followed streams for the store's sweep.

    Args:
        client: the store's client.
        keys: the store's key names.
        cluster: the store runs in cluster mode.
    """

    def __init__(self, client: Any, keys: StreamKeys, cluster: bool) -> None:
        self._client = client
        self._keys = keys
        self._cluster = cluster
        self._pieces: dict[str, bytes] = {}  # stream id -> "$<len>\r\n<status key>\r\n"

    def forget(self, stream_id: str) -> None:
        """Drop what is kept for ``stream_id`` (it is no longer followed)."""
        self._pieces.pop(stream_id, None)

    async def __call__(self, stream_ids: list[str]) -> AsyncIterator[Sequence[Any]]:
        """The probe: returns (without any I/O yet) the iterator of the slices' values."""
        return self._slices(stream_ids)

    async def _slices(self, stream_ids: list[str]) -> AsyncIterator[list[Any]]:
        client = self._client
        status = self._keys.status
        ranges = range(0, len(stream_ids), SLICE)
        if self._cluster:
            for start in ranges:
                pipe = client.pipeline()
                for stream_id in stream_ids[start : start + SLICE]:
                    pipe.get(status(stream_id))
                yield _as_bytes(await keep_cancellation(pipe.execute()))
            return
        if _standalone_pool(client) is None:
            for start in ranges:
                part = [status(stream_id) for stream_id in stream_ids[start : start + SLICE]]
                yield _as_bytes(await keep_cancellation(client.mget(part)))
            return
        async with lent(client, "MGET") as conn:
            unread = 0
            try:
                await _fresh(conn)
                commands = [self._mget(conn, stream_ids[start : start + SLICE]) for start in ranges]
                await keep_cancellation(write_packed(conn, b"".join(commands)))
                unread = len(commands)
                while unread:
                    values = await conn.read_response(disable_decoding=True)
                    unread -= 1
                    yield values
            except BaseException:
                if unread:  # replies left unread (failed, or the sweep stopped early)
                    await conn.disconnect(nowait=True)
                raise

    def _mget(self, conn: Any, stream_ids: list[str]) -> bytes:
        """One ``MGET`` of the status keys of ``stream_ids``, packed."""
        pieces = self._pieces
        parts = list(map(pieces.get, stream_ids))
        if None in parts:
            encode = conn.encoder.encode
            status = self._keys.status
            for i, stream_id in enumerate(stream_ids):
                if parts[i] is None:
                    key = encode(status(stream_id))
                    parts[i] = pieces[stream_id] = b"$%d\r\n%s\r\n" % (len(key), key)
        return b"*%d\r\n$4\r\nMGET\r\n%s" % (len(stream_ids) + 1, b"".join(parts))  # type: ignore[arg-type]
