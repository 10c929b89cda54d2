"""The ``redis://``, ``rediss://`` and ``unix://`` backends of the aibind registry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aibind.core.registry import Stores, redact_url
from aibind.redis.connect import close_client, open_client
from aibind.redis.conversations import RedisConversationStore
from aibind.redis.streams import RedisStreamStore

__all__ = ["open_redis_stores"]


@asynccontextmanager
async def open_redis_stores(
    url: str,
    *,
    stream_options: Mapping[str, Any] | None = None,
    conversation_options: Mapping[str, Any] | None = None,
) -> AsyncIterator[Stores]:
    """Open one client for ``url`` and yield a :class:`RedisStreamStore` and a
    :class:`RedisConversationStore` sharing it; everything is closed on exit.

    Args:
        url: ``redis://[user:pass@]host[:port][/db]``, ``rediss://...`` or ``unix:///path``.
        stream_options: keyword options of :class:`RedisStreamStore` (``prefix``, ``ttl``,
            ``poll_interval``, ``cluster``: with ``cluster=True`` a ``RedisCluster`` is opened).
        conversation_options: keyword options of :class:`RedisConversationStore`.

    Raises:
        TypeError, ValueError: malformed URL or options.
    """
    s_opts = dict(stream_options or {})
    client = open_client(url, cluster=bool(s_opts.get("cluster", False)))
    streams: RedisStreamStore | None = None
    try:
        streams = RedisStreamStore(client, **s_opts)
        conversations = RedisConversationStore(client, **dict(conversation_options or {}))
        yield Stores(streams=streams, conversations=conversations, url=redact_url(url))
    finally:
        if streams is not None:
            await streams.aclose()
        await close_client(client)
