"""Everything the bench writes to a shared server is named after the run (Redis keys
``aibind-bench-<run>...``, PostgreSQL tables ``bench_<run>_...``); this module drops them and
checks that nothing named ``aibind-bench-*`` / ``bench_*`` is left (the run fails otherwise).
SQLite files live in a temporary folder removed at exit."""

from __future__ import annotations

from typing import Any

from common import Backend

REDIS_PATTERN = "aibind-bench-*"
PG_LIKE = r"bench\_%"


async def _redis_keys(url: str, pattern: str) -> list[str]:
    import redis.asyncio as redis

    client: Any = redis.Redis.from_url(url, decode_responses=True)
    try:
        return [key async for key in client.scan_iter(match=pattern, count=1000)]
    finally:
        await client.aclose()


async def _redis_delete(url: str, keys: list[str]) -> None:
    import redis.asyncio as redis

    client: Any = redis.Redis.from_url(url)
    try:
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
    finally:
        await client.aclose()


async def _pg_tables(url: str, like: str) -> list[str]:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename LIKE %s ORDER BY 1",
            (like,),
        )
        return [row[0] for row in await cur.fetchall()]


async def _pg_drop(url: str, tables: list[str]) -> None:
    import psycopg
    from psycopg import sql

    if not tables:
        return
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        names = sql.SQL(", ").join(sql.Identifier(t) for t in tables)
        await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(names))


async def found(backend: Backend, run: str | None) -> list[str]:
    """The bench's keys / tables on ``backend``'s server: of run ``run``, or of any run."""
    if backend.name == "redis":
        pattern = REDIS_PATTERN if run is None else f"aibind-bench-{run}*"
        return await _redis_keys(backend.url, pattern)
    if backend.name == "postgresql":
        like = PG_LIKE if run is None else f"bench\\_{run}\\_%"
        return await _pg_tables(backend.url, like)
    return []


async def drop(backend: Backend, names: list[str]) -> None:
    """Drop the keys / tables ``names`` from ``backend``'s server."""
    if backend.name == "redis":
        await _redis_delete(backend.url, names)
    elif backend.name == "postgresql":
        await _pg_drop(backend.url, names)


async def clean_run(backend: Backend) -> list[str]:
    """Drop every key / table of this run; return what is still there afterwards under the
    bench's names (any run): empty when the server is clean."""
    mine = await found(backend, backend.run)
    await drop(backend, mine)
    return await found(backend, None)


async def clean_stale(backend: Backend) -> list[str]:
    """Drop what an earlier, interrupted run left (the bench assumes it runs alone); return
    the names dropped."""
    stale = await found(backend, None)
    await drop(backend, stale)
    return stale
