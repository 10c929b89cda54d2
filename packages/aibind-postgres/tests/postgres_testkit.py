"""Shared helpers of the aibind-postgres tests: one schema per test, and driver clients of
every kind (pool or single connection, psycopg or asyncpg) on the session's server."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from aibind.conformance.servers import Server

KINDS = ("psycopg-pool", "psycopg-conn", "asyncpg-pool", "asyncpg-conn")
"""Every way the tests hand a driver object to a store."""

Closer = Callable[[], Awaitable[None]]


async def open_driver(kind: str, url: str, *, max_size: int = 3) -> tuple[Any, Closer]:
    """Open a driver object of ``kind`` on ``url``; returns it and an async closer.

    The psycopg pool and connection are left in psycopg's default (non-autocommit) mode, so
    the adapter's handling of that mode is what the tests exercise."""
    if kind == "psycopg-pool":
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url, min_size=1, max_size=max_size, open=False
        )
        await pool.open(wait=True)
        return pool, pool.close
    if kind == "psycopg-conn":
        conn = await psycopg.AsyncConnection.connect(url)
        return conn, conn.close
    if kind == "asyncpg-pool":
        apool = await asyncpg.create_pool(url, min_size=1, max_size=max_size)
        return apool, apool.close
    if kind == "asyncpg-conn":
        aconn = await asyncpg.connect(url)
        return aconn, aconn.close
    raise ValueError(kind)


async def admin(server: Server) -> asyncpg.Connection[Any]:
    """A plain asyncpg connection for test setup and inspection."""
    return await asyncpg.connect(server.url)


@pytest.fixture
async def pg_schema(postgres_server: Server) -> AsyncIterator[str]:
    """A fresh schema ``aibind_t_<hex>`` for one test, dropped (with everything in it) after."""
    name = f"aibind_t_{uuid.uuid4().hex[:16]}"
    conn = await admin(postgres_server)
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
        yield name
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await conn.close()


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]], seconds: float = 10, step: float = 0.01
) -> None:
    """Poll ``condition`` (a flag set by a background task, or a query; there is no event to
    wait on) until it holds; fail after ``seconds``."""
    for _ in range(max(1, int(seconds / step))):
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        await asyncio.sleep(step)
    raise AssertionError(f"condition still false after {seconds} s")
