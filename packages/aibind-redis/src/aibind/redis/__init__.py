"""Redis / Valkey backend of aibind: :class:`RedisStreamStore`, :class:`RedisConversationStore`
(the npm ``@aibind/redis`` key schema) and :class:`RedisStreamTransport` (Redis Streams event
transport with consumer groups). See ``docs/redis.md``."""

from __future__ import annotations

from importlib.metadata import version as _distribution_version

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

__version__ = _distribution_version("aibind-redis")
"""The installed distribution's version (from its metadata: the one source is pyproject.toml)."""

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
    "__version__",
    "open_redis_stores",
]
