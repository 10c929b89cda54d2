"""Opening and closing the clients that ``from_url`` creates (redis-py's asyncio API)."""

from __future__ import annotations

from typing import Any

__all__ = ["close_client", "open_client"]


def open_client(url: str, *, cluster: bool = False) -> Any:
    """A ``redis.asyncio`` client for ``url`` (``redis.asyncio.cluster.RedisCluster`` when
    ``cluster``). Nothing is sent until the first command.

    Raises:
        TypeError: ``url`` is not a ``str``.
        ValueError: the URL is malformed or of an unsupported scheme.
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    if cluster:
        from redis.asyncio.cluster import RedisCluster

        return RedisCluster.from_url(url)
    import redis.asyncio

    return redis.asyncio.from_url(url)


async def close_client(client: Any) -> None:
    """Close a client and its connection pool (``aclose()`` on redis-py 5+, else ``close()``)."""
    closer = getattr(client, "aclose", None) or getattr(client, "close", None)
    if closer is not None:
        result = closer()
        if hasattr(result, "__await__"):
            await result
