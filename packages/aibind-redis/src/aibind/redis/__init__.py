"""Redis / Valkey backend of aibind: :class:`RedisStreamStore`, :class:`RedisConversationStore`
(the npm ``@aibind/redis`` key schema) and :class:`RedisStreamTransport` (Redis Streams event
transport with consumer groups). See ``docs/redis.md``."""

from __future__ import annotations

from aibind.redis.backend import open_redis_stores
from aibind.redis.client import RedisClient
from aibind.redis.conversations import RedisConversationStore
from aibind.redis.errors import RedisBackendError, TransportError
from aibind.redis.streams import RedisStreamStore
from aibind.redis.transport import (
    ClaimedEvents,
    CorruptEvent,
    RedisStreamTransport,
    StreamEvent,
)

__all__ = [
    "ClaimedEvents",
    "CorruptEvent",
    "RedisBackendError",
    "RedisClient",
    "RedisConversationStore",
    "RedisStreamStore",
    "RedisStreamTransport",
    "StreamEvent",
    "TransportError",
    "open_redis_stores",
]
