"""The reads of a :class:`~aibind.redis.RedisStreamStore` on a standalone redis-py / valkey
client: ``GET`` status, ``LRANGE`` the page and ``LLEN`` of each stream, for one follower or for
every follower whose read is waiting (10,000 starting together, or woken together), in ONE
``MULTI``/``EXEC``: one round trip, one atomic snapshot of them all.

The transaction is packed here and sent on a connection lent by the client's pool, and its
replies are read under one deadline (the connection's ``socket_timeout``) instead of one per
reply: redis-py's transaction pipeline spends about 30 us of Python per read on packing
arguments one by one and on a timeout around each of the ``QUEUED`` replies; this costs about
4 us. A connection that failed, timed out or was left with unread replies is closed, never
handed out again. Reads are idempotent: a failed one is simply read again by its follower.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

from aibind.core.kit import Outcome, keep_cancellation
from aibind.redis._once import _fresh, _standalone_pool, lent, within, write_packed

__all__ = ["Read", "can_read_raw", "read_group"]

Read = tuple[Sequence[str], int, int]
"""One read: ``([status key, chunks key], after, limit)``."""

T = TypeVar("T")

_MULTI = b"*1\r\n$5\r\nMULTI\r\n"
_EXEC = b"*1\r\n$4\r\nEXEC\r\n"
_READ = (
    b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n"
    b"*4\r\n$6\r\nLRANGE\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
    b"*2\r\n$4\r\nLLEN\r\n$%d\r\n%s\r\n"
)


def can_read_raw(client: Any) -> bool:
    """``True`` if :func:`read_group` can use ``client`` (a standalone redis-py / valkey
    client with its own connection pool)."""
    return _standalone_pool(client) is not None


async def _replies(conn: Any, count: int) -> Any:
    """Read ``count`` replies and return the last one. ``timeout=math.inf``: no timeout of
    redis-py's own around each reply (the caller keeps one deadline for them all)."""
    for _ in range(count - 1):
        await conn.read_response(timeout=math.inf)
    return await conn.read_response(timeout=math.inf)


def _pack(conn: Any, reads: list[Read]) -> bytes:
    encode = conn.encoder.encode
    parts = [_MULTI]
    for keys, after, limit in reads:
        status = encode(keys[0])
        chunks = encode(keys[1])
        first = b"%d" % after
        last = b"%d" % (after + limit - 1)
        parts.append(
            _READ
            % (
                len(status),
                status,
                len(chunks),
                chunks,
                len(first),
                first,
                len(last),
                last,
                len(chunks),
                chunks,
            )
        )
    parts.append(_EXEC)
    return b"".join(parts)


async def read_group(client: Any, reads: list[Read]) -> list[Outcome]:
    """Run ``reads`` in one ``MULTI``/``EXEC`` on ``client`` (see :func:`can_read_raw`).

    Returns:
        per read, ``([status, chunks, length], None)`` as the server answered them (decoded as
        the client decodes), or ``(None, error)`` for an error reply to one of its commands
        (a key of the wrong type).

    Raises:
        whatever the driver raises for the transaction as a whole (the caller translates it).
    """
    async with lent(client, "MULTI") as conn:
        unread = 0
        try:
            await _fresh(conn)
            await keep_cancellation(write_packed(conn, _pack(conn, reads)))
            unread = 3 * len(reads) + 2  # +OK, one +QUEUED per command, EXEC's array
            values = await within(_replies(conn, unread), getattr(conn, "socket_timeout", None))
            unread = 0
        except BaseException:
            if unread:  # replies left unread: the connection cannot serve anyone else
                await conn.disconnect(nowait=True)
            raise
    outcomes: list[Outcome] = []
    for i in range(0, 3 * len(reads), 3):
        reply = values[i : i + 3]
        failed = next((v for v in reply if isinstance(v, Exception)), None)
        outcomes.append((None, failed) if failed is not None else (reply, None))
    return outcomes
