"""The smallest client interface the Redis stores need, and helpers to classify driver errors.

:class:`RedisClient` is the Python spelling of the npm ``@aibind/redis`` ``RedisClient``
interface (eight methods) plus ``eval``/``evalsha`` for the Lua scripts. ``redis.asyncio.Redis``,
``redis.asyncio.cluster.RedisCluster``, ``valkey.asyncio.Valkey`` and the Upstash async client all
satisfy it as they are; so does any small class forwarding these methods.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from aibind.core.errors import AibindError

__all__ = ["RedisBackendError", "RedisClient", "is_cluster_client", "is_noscript_error"]


@runtime_checkable
class RedisClient(Protocol):
    """Structural protocol of an asyncio Redis client (seed: npm ``RedisClient``).

    Values may be returned as ``str`` or ``bytes`` (``decode_responses`` either way); keys and
    values are passed as ``str``. ``ex`` is in seconds, ``px`` in milliseconds (Redis ``SET``).
    """

    async def get(self, name: str) -> Any:
        """``GET name``: the value or ``None``."""
        ...

    async def set(
        self, name: str, value: str, ex: int | None = None, px: int | None = None
    ) -> Any:
        """``SET name value [EX ex | PX px]``."""
        ...

    async def exists(self, *names: str) -> Any:
        """``EXISTS name...``: how many of the keys exist."""
        ...

    async def rpush(self, name: str, *values: str) -> Any:
        """``RPUSH name value...``: the list's new length."""
        ...

    async def lrange(self, name: str, start: int, end: int) -> Any:
        """``LRANGE name start end``: the elements (inclusive range)."""
        ...

    async def llen(self, name: str) -> Any:
        """``LLEN name``."""
        ...

    async def expire(self, name: str, time: int) -> Any:
        """``EXPIRE name seconds``."""
        ...

    async def delete(self, *names: str) -> Any:
        """``DEL name...`` (the seed's ``del``)."""
        ...

    async def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> Any:
        """``EVAL script numkeys key... arg...``."""
        ...

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
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
