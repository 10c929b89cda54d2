"""Where a store's subscriber listens: the driver's own pub/sub objects for each channel.

A standalone client (``redis.asyncio.Redis``, ``valkey.asyncio.Valkey``) gives its
``pubsub()`` object: one dedicated connection from the client's own pool, so it shares the
client's address, credentials, TLS settings and ``client_name``. A ``RedisCluster`` client
gives, per master node, a ``redis.asyncio.Redis`` opened with that node's connection settings
(``get_node_from_key`` finds the node owning a channel's slot) and that client's ``pubsub()``.

Sharded pub/sub (``SSUBSCRIBE``, cluster mode) needs ``PubSub.ssubscribe`` in the driver's
asyncio API, which redis-py has from 8.0; with an older redis-py or with valkey's cluster
client there is no push in cluster mode and the store polls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aibind.redis.client import is_cluster_client

__all__ = ["Route", "Server", "pubsub_route", "sharded_pubsub_available"]


@dataclass(frozen=True, slots=True)
class Server:
    """A server the subscriber holds one pub/sub connection to.

    Attributes:
        name: identifies the server (``"host:port"`` of a cluster node, ``"client"`` for a
            standalone client); one connection per name.
        open: creates the driver's ``PubSub`` object without I/O; returns it together with
            the client opened for it (closed with the subscriber), or ``None`` when the
            application's client provided it.
    """

    name: str
    open: Callable[[], tuple[Any, Any]]


Route = Callable[[str], Awaitable[Server]]
"""``await route(channel)``: the :class:`Server` whose pub/sub carries ``channel``."""


def sharded_pubsub_available() -> bool:
    """``True`` if the installed redis-py's asyncio ``PubSub`` has ``ssubscribe`` (8.0+)."""
    from redis.asyncio.client import PubSub

    return hasattr(PubSub, "ssubscribe")


def _node_pubsub(node: Any) -> tuple[Any, Any]:
    import redis.asyncio

    pool = redis.asyncio.ConnectionPool(
        connection_class=node.connection_class, **node.connection_kwargs
    )
    client = redis.asyncio.Redis(connection_pool=pool)
    return client.pubsub(), client


def pubsub_route(client: Any, *, sharded: bool) -> Route | None:
    """How the subscriber reaches the pub/sub of each channel for ``client``, or ``None`` if
    the client has no usable pub/sub (Upstash over HTTP, a minimal protocol-only client, or
    ``sharded`` on a cluster client without asyncio sharded pub/sub): then the store polls.

    Args:
        client: the application's asyncio client.
        sharded: the store publishes with ``SPUBLISH`` (cluster mode).
    """
    if is_cluster_client(client):
        from redis.asyncio.cluster import RedisCluster

        if not isinstance(client, RedisCluster) or (sharded and not sharded_pubsub_available()):
            return None

        async def cluster_route(channel: str) -> Server:
            if getattr(client, "_initialize", False):
                await client.initialize()
            node = client.get_node_from_key(channel)
            if node is None:
                raise LookupError(f"no cluster node serves the slot of {channel!r}")
            return Server(str(node.name), lambda: _node_pubsub(node))

        return cluster_route
    if not callable(getattr(client, "pubsub", None)) or not hasattr(client, "connection_pool"):
        return None
    if sharded and not hasattr(client.pubsub(), "ssubscribe"):
        return None  # valkey, redis-py < 8: no asyncio sharded pub/sub
    server = Server("client", lambda: (client.pubsub(), None))

    async def single_route(channel: str) -> Server:
        return server

    return single_route
