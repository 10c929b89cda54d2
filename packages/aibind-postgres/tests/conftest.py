"""Fixtures of the aibind-postgres tests that need a server of their own (marker ``faults``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pg_server import PrivatePostgres, private_postgres


@pytest.fixture(scope="session")
def _private_server() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


@pytest.fixture
def private_server(_private_server: PrivatePostgres) -> PrivatePostgres:
    """The session's private PostgreSQL server (see ``pg_server``), running: a test that
    stopped or restarted it leaves it to the next one running again."""
    if not _private_server.running():
        _private_server.start()
    return _private_server
