"""The public error names of aibind-redis, subclasses of the core hierarchy
(:mod:`aibind.core.errors`).

Connection-level failures are the core classes every backend raises
(:class:`~aibind.core.errors.BackendUnavailableError`,
:class:`~aibind.core.errors.ConnectionLostError`,
:class:`~aibind.core.errors.BackendTimeoutError`); the names here are for failures specific to
Redis: a server error reply or a failed script (:class:`RedisBackendError`), and any failure of
:class:`~aibind.redis.RedisStreamTransport` that is not connection-level (:class:`TransportError`).
Every one chains the driver's exception as ``__cause__`` and names its type in the message.
docs/errors.md lists which error each fault gives.
"""

from __future__ import annotations

from aibind.core.errors import BackendError

__all__ = ["RedisBackendError", "TransportError"]


class RedisBackendError(BackendError):
    """Redis answered with an error, or the driver failed in a way that is not about the
    connection: a script error, ``WRONGTYPE`` (a key of another type under the store's prefix),
    ``OOM`` (``maxmemory`` reached), ``READONLY`` (a replica), an ACL refusal. The driver's
    exception is chained as ``__cause__``; the message names its type."""


class TransportError(RedisBackendError):
    """A Redis command of :class:`~aibind.redis.RedisStreamTransport` failed with an error
    reply (a key of another type, an unknown consumer group after ``XGROUP DESTROY``...).
    Connection failures are the core :class:`~aibind.core.errors.BackendError` subclasses."""
