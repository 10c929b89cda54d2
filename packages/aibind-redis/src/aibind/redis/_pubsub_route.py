"""Where a store's subscriber listens: the driver's own pub/sub objects, each on a connection of
its own, outside the connection pool the store's commands use.

A standalone client (``redis.asyncio.Redis``, ``valkey.asyncio.Valkey``) with a plain or blocking
connection pool gives a ``PubSub`` of a client opened on a one-connection pool with the same
connection settings (``connection_class`` and ``connection_kwargs``: address, credentials, TLS,
``client_name``), so the subscriber never takes one of the pool's connections (a store opened
with ``max_connections=N`` holds at most ``N + 1`` connections) and never waits for one. Other
pools (Sentinel...) give the client's own ``pubsub()``. A ``RedisCluster`` gives, per master node,
a ``redis.asyncio.Redis`` opened with that node's connection settings (``get_node_from_key``
finds the node owning a channel's slot) and that client's ``pubsub()``.

Sharded pub/sub (``SSUBSCRIBE``, cluster mode) needs ``PubSub.ssubscribe`` in the driver's
asyncio API, which redis-py has from 8.0; with an older redis-py or with valkey's cluster
client there is no push in cluster mode and the store relies on its sweep.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aibind.redis._once import is_cluster_client

__all__ = ["Route", "Server", "pubsub_route"]

Closer = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Server:
    """A server the subscriber holds one pub/sub connection to.

    Attributes:
        name: identifies the server (``"host:port"`` of a cluster node, ``"client"`` for a
            standalone client); one connection per name.
        open: creates the driver's ``PubSub`` object without I/O; returns it with a coroutine
            function closing what was opened for it.
    """

    name: str
    open: Callable[[], tuple[Any, Closer]]


Route = Callable[[str], Awaitable[Server]]
"""``await route(channel)``: the :class:`Server` whose pub/sub carries ``channel``."""


def _dedicated(client_cls: type, pool_cls: type, pool: Any) -> tuple[Any, Closer]:
    own_pool = pool_cls(connection_class=pool.connection_class, **pool.connection_kwargs)
    own_client = client_cls(connection_pool=own_pool)

    async def close() -> None:
        with contextlib.suppress(Exception):
            await own_client.aclose()
        with contextlib.suppress(Exception):
            await own_pool.disconnect()

    return own_client.pubsub(), close


async def _nothing() -> None:
    return None


def _standalone(client: Any) -> Callable[[], tuple[Any, Closer]]:
    pool = client.connection_pool
    module = sys.modules.get(type(pool).__module__)
    plain = getattr(module, "ConnectionPool", None)
    blocking = getattr(module, "BlockingConnectionPool", None)
    if (
        isinstance(plain, type)
        and type(pool) in (plain, blocking)
        and hasattr(pool, "connection_kwargs")
        and hasattr(pool, "connection_class")
    ):
        return lambda: _dedicated(type(client), plain, pool)
    return lambda: (client.pubsub(), _nothing)


def pubsub_route(client: Any, *, sharded: bool) -> Route | None:
    """How the subscriber reaches the pub/sub of each channel for ``client``, or ``None`` if
    the client has no usable pub/sub (Upstash over HTTP, a minimal protocol-only client, or
    ``sharded`` on a cluster client without asyncio sharded pub/sub).

    Args:
        client: the store's asyncio client.
        sharded: the store publishes with ``SPUBLISH`` (cluster mode).
    """
    if is_cluster_client(client):
        cluster_cls = getattr(sys.modules.get("redis.asyncio.cluster"), "RedisCluster", None)
        pubsub_cls = getattr(sys.modules.get("redis.asyncio.client"), "PubSub", None)
        if cluster_cls is None or not isinstance(client, cluster_cls):
            return None
        if sharded and not hasattr(pubsub_cls, "ssubscribe"):
            return None
        import redis.asyncio

        async def cluster_route(channel: str) -> Server:
            await client.initialize()
            node = client.get_node_from_key(channel)
            if node is None:
                raise LookupError(f"no cluster node serves the slot of {channel!r}")
            plain = redis.asyncio.ConnectionPool
            return Server(
                str(node.name), lambda: _dedicated(redis.asyncio.Redis, plain, _NodePool(node))
            )

        return cluster_route
    if not callable(getattr(client, "pubsub", None)) or not hasattr(client, "connection_pool"):
        return None
    if sharded and not hasattr(client.pubsub(), "ssubscribe"):
        return None  # valkey, redis-py < 8: no asyncio sharded pub/sub
    return _Single(Server("client", _standalone(client)))


@dataclass(frozen=True, slots=True)
class _Single:
    """The route of a standalone client: every channel on its one ``server`` (which the
    subscriber reads without awaiting the route)."""

    server: Server

    async def __call__(self, channel: str) -> Server:
        return self.server


@dataclass(frozen=True, slots=True)
class _NodePool:
    """A cluster node's connection settings, in the shape of a pool (for :func:`_dedicated`)."""

    node: Any

    @property
    def connection_class(self) -> Any:
        return self.node.connection_class

    @property
    def connection_kwargs(self) -> dict[str, Any]:
        return dict(self.node.connection_kwargs)
