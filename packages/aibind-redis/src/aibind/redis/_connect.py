"""How ``from_url`` / ``open_stores`` open a Redis client: :data:`REDIS_CLIENT`.

Standalone (``redis://``, ``rediss://``, ``unix://``): a ``redis.asyncio.Redis`` on a
**bounded blocking pool** (``redis.asyncio.BlockingConnectionPool``, ``max_connections``
connections, 50 by default): a call that finds every connection busy waits for one up to
``pool_timeout`` seconds (20 by default), then raises
:class:`~aibind.core.errors.BackendTimeoutError`; it never fails because 100 calls run at once.
Followers hold no connection while they wait, and the store's pub/sub subscriber and its
append lane (:mod:`aibind.redis._lane`) have a connection each outside the pool, so a store
holds at most ``max_connections + 2`` connections.

Cluster (``?cluster=true``): a ``redis.asyncio.cluster.RedisCluster`` whose commands wait for
one of ``max_connections`` slots the same way (redis-py's cluster client has no blocking pool:
it would open a connection per concurrent command, or raise ``MaxConnectionsError``).

Nothing connects here: the store opens the client on first use or ``open()`` (one ``PING``,
or loading the cluster's slot map), where an unreachable server is a
:class:`~aibind.core.errors.BackendUnavailableError` within ``socket_connect_timeout`` (5 s
unless the URL says otherwise); a command unanswered for ``socket_timeout`` (5 s) is a
:class:`~aibind.core.errors.BackendTimeoutError`. redis-py's own URL parameters
(``socket_timeout``, ``client_name``, ``ssl_cert_reqs``, ``db``...) pass through to the driver.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any
from urllib.parse import urlsplit

from aibind.core.errors import (
    BackendTimeoutError,
    BackendUnavailableError,
    ConnectionLostError,
    MissingDriverError,
)
from aibind.core.kit import ClientOpener, Owned, parse_bool, parse_float, parse_int
from aibind.core.registry import redact_url
from aibind.core.validation import check_ttl
from aibind.redis._errors import translate
from aibind.redis._once import send_once

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_POOL_TIMEOUT",
    "REDIS_CLIENT",
    "SOCKET_TIMEOUT",
    "open_redis_client",
]

DEFAULT_MAX_CONNECTIONS = 50
"""Connections in the pool of a client opened from a URL (redis-py's blocking pool default)."""

DEFAULT_POOL_TIMEOUT = 20.0
"""Seconds a call waits for a free pooled connection before ``BackendTimeoutError``."""

CONNECT_TIMEOUT = 5.0
"""Default ``socket_connect_timeout`` (seconds) of a client opened from a URL."""

SOCKET_TIMEOUT = 5.0
"""Default ``socket_timeout`` (seconds) of a client opened from a URL: a command unanswered
this long (a frozen server) is a ``BackendTimeoutError`` (redis-py 8's default, made the same
on every redis-py version)."""

_SCHEMES = frozenset({"redis", "rediss", "unix"})
_OURS = frozenset({"max_connections", "timeout"})  # spelled max_connections / pool_timeout here
_DRIVER_PARAMS = frozenset(
    {
        "db",
        "client_name",
        "username",
        "password",
        "socket_timeout",
        "socket_connect_timeout",
        "socket_keepalive",
        "health_check_interval",
        "retry_on_timeout",
        "protocol",
        "ssl_cert_reqs",
        "ssl_ca_certs",
        "ssl_ca_path",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_check_hostname",
        "ssl_min_version",
        "lib_name",
        "lib_version",
    }
)


def _driver_param(name: str) -> bool:
    """``True`` for a query parameter redis-py reads from the URL itself."""
    if name in _OURS:
        return False
    if name in _DRIVER_PARAMS:
        return True
    try:
        from redis.connection import URL_QUERY_ARGUMENT_PARSERS
    except ImportError:  # pragma: no cover - redis is a dependency
        return False
    return name in URL_QUERY_ARGUMENT_PARSERS


class _Gate:
    """At most ``size`` commands in flight; the others wait up to ``timeout`` seconds."""

    def __init__(self, size: int, timeout: float) -> None:
        self.size = size
        self.timeout = timeout
        self._slots = asyncio.Semaphore(size)

    async def __aenter__(self) -> None:
        try:
            await asyncio.wait_for(self._slots.acquire(), self.timeout)
        except asyncio.TimeoutError:
            raise BackendTimeoutError(
                f"TimeoutError: no Redis Cluster connection became free within "
                f"{self.timeout:g} s (max_connections={self.size})"
            ) from None

    async def __aexit__(self, *exc: object) -> None:
        self._slots.release()


@functools.cache
def _bounded_cluster() -> type[Any]:
    from redis.asyncio.cluster import RedisCluster

    class BoundedRedisCluster(RedisCluster):
        """A ``RedisCluster`` whose commands wait for a free slot of ``aibind_gate``."""

        aibind_gate: _Gate | None = None

        async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
            gate = self.aibind_gate
            if gate is None:
                return await super().execute_command(*args, **kwargs)
            async with gate:
                return await super().execute_command(*args, **kwargs)

    return BoundedRedisCluster


def _timeouts() -> dict[str, float]:
    """Socket timeouts of a client opened from a URL (its query parameters override them)."""
    return {"socket_connect_timeout": CONNECT_TIMEOUT, "socket_timeout": SOCKET_TIMEOUT}


def _read_retry() -> Any:
    """The retry policy of a standalone client opened from a URL: a command whose connection
    was lost (a server restart leaves every pooled socket dead) is sent again on a new one, up
    to 3 times with a short backoff. Only reads and idempotent commands use it: the stores'
    writes are sent exactly once (:mod:`aibind.redis._once`). Timeouts are not retried (a
    frozen server would only make the caller wait longer)."""
    from redis.asyncio.retry import Retry
    from redis.backoff import EqualJitterBackoff
    from redis.exceptions import ConnectionError as DriverConnectionError

    return Retry(
        EqualJitterBackoff(cap=0.5, base=0.05),
        3,
        supported_errors=(DriverConnectionError,),
    )


def _retry_options() -> dict[str, Any]:
    """``retry`` plus ``retry_on_error`` (redis-py < 6 retries only the errors listed there)."""
    from redis.exceptions import ConnectionError as DriverConnectionError

    return {"retry": _read_retry(), "retry_on_error": [DriverConnectionError]}


def _unavailable(exc: Exception, url: str) -> Exception:
    error = translate(exc, f"connecting to {redact_url(url)}")
    if isinstance(error, (BackendTimeoutError, ConnectionLostError)):
        return BackendUnavailableError(str(error))
    return error


def open_redis_client(url: str, options: dict[str, Any]) -> Owned[Any]:
    """Build (without connecting) the client ``from_url`` stores use.

    Args:
        url: ``redis://[user:pass@]host[:port][/db]``, ``rediss://...`` (TLS) or
            ``unix:///path/redis.sock``, with redis-py's own query parameters if any.
        options: ``cluster`` (bool), ``max_connections`` (int > 0, default 50),
            ``pool_timeout`` (seconds > 0, default 20).

    Returns:
        the client, owned by the store(s): opened on first use, closed with the last store.

    Raises:
        TypeError, ValueError: a malformed URL or option.
        MissingDriverError: redis-py is not installed.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme not in _SCHEMES:
        raise ValueError(f"a Redis URL starts with redis://, rediss:// or unix://, got {url!r}")
    cluster = options.get("cluster", False)
    if not isinstance(cluster, bool):
        raise TypeError(f"cluster must be a bool, not {type(cluster).__name__}")
    size = options.get("max_connections", DEFAULT_MAX_CONNECTIONS)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"max_connections must be an int >= 1, got {size!r}")
    timeout = check_ttl(options.get("pool_timeout", DEFAULT_POOL_TIMEOUT), "pool_timeout")
    try:
        import redis.asyncio
    except ImportError as exc:  # pragma: no cover - redis is a dependency
        raise MissingDriverError("aibind-redis needs redis-py: pip install aibind-redis") from exc
    if cluster:
        if scheme == "unix":
            raise ValueError("cluster=true needs a redis:// or rediss:// URL of a cluster node")
        # Per node: the gated commands, plus one for the store's sweep pipeline (redis-py's
        # cluster pipeline resets the whole client, closing every connection in use, when a
        # node refuses it a connection with MaxConnectionsError).
        client = _bounded_cluster().from_url(url, max_connections=size + 1, **_timeouts())
        client.aibind_gate = _Gate(size, timeout)

        async def open_cluster() -> None:
            try:
                await client.initialize()
            except Exception as exc:
                raise _unavailable(exc, url) from exc

        return Owned(client, open=open_cluster, close=client.aclose)
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url, max_connections=size, timeout=timeout, **_retry_options(), **_timeouts()
    )
    standalone = redis.asyncio.Redis(connection_pool=pool)

    async def ping() -> None:
        try:
            await send_once(standalone, "", "PING")
        except Exception as exc:
            raise _unavailable(exc, url) from exc

    async def close() -> None:
        try:
            await standalone.aclose()
        finally:
            await pool.disconnect()

    return Owned(standalone, open=ping, close=close)


REDIS_CLIENT = ClientOpener(
    open_redis_client,
    options={"cluster": parse_bool, "max_connections": parse_int, "pool_timeout": parse_float},
    passthrough=_driver_param,
)
"""The client opener of both Redis stores (``from_url``) and of ``open_redis_stores``."""
