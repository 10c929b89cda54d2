"""The ``redis://``, ``rediss://`` and ``unix://`` backends of the aibind registry, and the
client opener both stores use for ``from_url`` (:data:`REDIS_CLIENT`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aibind.core.kit import open_pair
from aibind.core.registry import Stores
from aibind.redis._connect import REDIS_CLIENT
from aibind.redis.conversations import RedisConversationStore
from aibind.redis.streams import RedisStreamStore

__all__ = ["REDIS_CLIENT", "open_redis_stores"]


def open_redis_stores(
    url: str,
    *,
    stream_options: Mapping[str, Any] | None = None,
    conversation_options: Mapping[str, Any] | None = None,
) -> Stores:
    """A :class:`RedisStreamStore` and a :class:`RedisConversationStore` sharing one client
    opened from ``url`` (registered for ``redis``, ``rediss`` and ``unix``; what
    ``aibind.core.open_stores`` and the ``aibind`` CLI use). Nothing connects until the first
    call or ``async with``; closing both stores closes the client.

    Args:
        url: ``redis://[user:pass@]host[:port][/db]``, ``rediss://...`` or ``unix:///path``.
            Query options: the stream store's ``prefix``, ``ttl``, ``poll_interval``; the
            conversation store's as ``conversation_prefix``, ``conversation_ttl``; the
            client's ``cluster``, ``max_connections``, ``pool_timeout``; and redis-py's own
            (``socket_timeout``, ``client_name``...).
        stream_options: keyword options of the stream store and the client (override the URL).
        conversation_options: keyword options of the conversation store.

    Returns:
        a :class:`~aibind.core.registry.Stores` (an async context manager).

    Raises:
        TypeError, ValueError: a malformed URL or option.
    """
    return open_pair(
        RedisStreamStore,
        RedisConversationStore,
        url,
        stream_options=stream_options,
        conversation_options=conversation_options,
    )
