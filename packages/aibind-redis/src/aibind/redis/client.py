"""The smallest client interface the Redis stores need (:class:`RedisClient`).

:class:`RedisClient` is the Python spelling of the npm ``@aibind/redis`` ``RedisClient``
interface (eight methods) plus ``eval``/``evalsha`` for the Lua scripts. ``redis.asyncio.Redis``,
``redis.asyncio.cluster.RedisCluster``, ``valkey.asyncio.Valkey`` and the Upstash async client all
satisfy it as they are; so does any small class forwarding these methods.

Beyond the protocol, a store uses what the client offers: ``mget`` (or a cluster ``pipeline``)
for its sweep, one round trip for every followed stream (without it each follower polls);
``pubsub()`` for push; and a redis-py/valkey connection pool (or cluster routing) to send writes
exactly once, with no driver retry re-sending them.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol, runtime_checkable

__all__ = ["RedisClient"]


@runtime_checkable
class RedisClient(Protocol):
    """Structural protocol of an asyncio Redis client (seed: npm ``RedisClient``).

    Each method returns an awaitable (``async def`` methods qualify). Values may be returned as
    ``str`` or ``bytes`` (``decode_responses`` either way); keys and
    values are passed as ``str``. ``ex`` is in seconds, ``px`` in milliseconds (Redis ``SET``).
    """

    def get(self, name: str) -> Awaitable[Any]:
        """``GET name``: the value or ``None``."""
        ...

    def set(
        self, name: str, value: str, ex: int | None = None, px: int | None = None
    ) -> Awaitable[Any]:
        """``SET name value [EX ex | PX px]``."""
        ...

    def exists(self, *names: str) -> Awaitable[Any]:
        """``EXISTS name...``: how many of the keys exist."""
        ...

    def rpush(self, name: str, *values: str) -> Awaitable[Any]:
        """``RPUSH name value...``: the list's new length."""
        ...

    def lrange(self, name: str, start: int, end: int) -> Awaitable[Any]:
        """``LRANGE name start end``: the elements (inclusive range)."""
        ...

    def llen(self, name: str) -> Awaitable[Any]:
        """``LLEN name``."""
        ...

    def expire(self, name: str, time: int) -> Awaitable[Any]:
        """``EXPIRE name seconds``."""
        ...

    def delete(self, *names: str) -> Awaitable[Any]:
        """``DEL name...`` (the seed's ``del``)."""
        ...

    def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> Awaitable[Any]:
        """``EVAL script numkeys key... arg...``."""
        ...

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Awaitable[Any]:
        """``EVALSHA sha numkeys key... arg...``; raises a ``NOSCRIPT`` error when the server
        does not hold the script."""
        ...
