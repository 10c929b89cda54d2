"""Helpers shared by the aibind-sqlite tests: opening a connection to a test file through each
driver, and raw (store-bypassing) access to the rows."""

from __future__ import annotations

import importlib
import importlib.util
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from aibind.sqlite import schema_sql

DRIVERS = ["aiosqlite", "sqlite3", "libsql"]
HAS_LIBSQL = importlib.util.find_spec("libsql") is not None

Closer = Callable[[], Awaitable[None]]


async def open_aiosqlite(path: str, busy_timeout: float = 5.0) -> Any:
    """An aiosqlite connection configured as ``from_url`` configures its own (autocommit, WAL,
    ``synchronous=NORMAL``, ``busy_timeout``)."""
    aiosqlite = importlib.import_module("aiosqlite")
    conn = await aiosqlite.connect(path, timeout=busy_timeout, isolation_level=None)
    await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    await conn.execute("PRAGMA journal_mode = WAL")
    await conn.execute("PRAGMA synchronous = NORMAL")
    return conn


async def open_connection(driver: str, path: Path) -> tuple[Any, Closer]:
    """Open a new connection to ``path`` with ``driver``; return it and its closer. The store
    is given the raw connection (it wraps it itself)."""
    if driver == "aiosqlite":
        conn = await open_aiosqlite(str(path))
        return conn, conn.close
    if driver == "sqlite3":
        # the legacy default isolation mode on purpose: the adapter must cope with it
        raw = sqlite3.connect(str(path), check_same_thread=False, timeout=5.0)
        raw.execute("PRAGMA journal_mode = WAL")

        async def close_sqlite3() -> None:
            raw.close()

        return raw, close_sqlite3
    if driver == "libsql":
        if not HAS_LIBSQL:
            pytest.skip("libsql is not installed (pip install aibind-sqlite[libsql])")
        libsql = importlib.import_module("libsql")
        lconn = libsql.connect(str(path))
        lconn.execute("PRAGMA journal_mode = WAL").fetchall()

        async def close_libsql() -> None:
            lconn.close()

        return lconn, close_libsql
    raise AssertionError(driver)


def raw_rows(path: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run ``sql`` on ``path`` through a fresh stdlib connection and return the rows."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        return list(conn.execute(sql, args).fetchall())
    finally:
        conn.close()


def make_db(path: Path) -> None:
    """Create the default tables in a new WAL-mode file at ``path``."""
    conn = sqlite3.connect(path)
    conn.executescript(schema_sql())
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
