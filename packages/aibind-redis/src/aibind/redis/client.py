"""The smallest client interface the Redis stores need, and helpers to classify driver errors.

:class:`RedisClient` is the Python spelling of the npm ``@aibind/redis`` ``RedisClient``
interface (eight methods) plus ``eval``/``evalsha`` for the Lua scripts. ``redis.asyncio.Redis``,
``redis.asyncio.cluster.RedisCluster``, ``valkey.asyncio.Valkey`` and the Upstash async client all
satisfy it as they are; so does any small class forwarding these methods.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol, runtime_checkable

from aibind.core.errors import AibindError

__all__ = ["RedisBackendError", "RedisClient", "is_cluster_client", "is_noscript_error"]


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


class RedisBackendError(AibindError):
    """A Redis command failed (connection lost, server error). The driver's exception is
    chained as ``__cause__``. Raised by the stores and by
    :class:`~aibind.redis.transport.RedisStreamTransport` instead of leaking driver errors."""


def is_noscript_error(exc: BaseException) -> bool:
    """``True`` if ``exc`` is the server's ``NOSCRIPT`` reply (after ``SCRIPT FLUSH``, a restart
    or a failover), whichever driver raised it."""
    return type(exc).__name__ == "NoScriptError" or str(exc).startswith("NOSCRIPT")


def is_cluster_client(client: object) -> bool:
    """``True`` for a Redis Cluster client (``redis.asyncio.cluster.RedisCluster`` or the
    valkey equivalent): it routes commands by key slot."""
    return hasattr(client, "nodes_manager") and hasattr(client, "get_node_from_key")
