"""Raw-driver baselines, measured in the same run as our figures: the driver doing the minimum
work of each operation, on the same server (and, for reads, the same rows our store wrote).

* append: Redis one ``EVALSHA`` of a bare ``RPUSH`` script; PostgreSQL one autocommit
  ``INSERT``; SQLite one ``BEGIN IMMEDIATE; INSERT; UPDATE; COMMIT`` transaction (an append
  must write both tables) run as one call on a worker thread. Each call's latency is kept too:
  the write round trip is the floor of any delivery (PostgreSQL's delivery target is relative
  to it).
* replay: one read of the stream's rows as text: ``LRANGE`` (hiredis when installed), one
  ``SELECT seq, data ... ORDER BY seq`` (tuple rows).
* conversation: one write and one read of the same JSON text (``SET EX`` + ``GET``; an upsert
  + ``SELECT`` on the store's own table).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from common import Backend, Sizes

APPEND_SCRIPT = "return redis.call('RPUSH', KEYS[1], ARGV[1])"


class Raw:
    """The raw baseline of one backend; subclasses implement the operations."""

    async def append(self, i: int) -> None:
        raise NotImplementedError

    async def read(self, sid: str, after: int) -> list[Any]:
        raise NotImplementedError

    async def conv_set(self, text: str) -> None:
        raise NotImplementedError

    async def conv_get(self) -> Any:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def reader(self, sid: str, after: int, expect: int) -> Callable[[], Awaitable[None]]:
        """One read of the stream's rows after ``after``, each row then taken in a loop, as
        our side's consumer takes each chunk (checks it returns ``expect``)."""

        async def read() -> None:
            rows = await self.read(sid, after)
            count = 0
            for _ in rows:  # taken one by one, as our side's consumer takes its chunks
                count += 1
            if count != expect:
                raise AssertionError(f"raw read {count} rows, expected {expect}")

        return read


class RedisRaw(Raw):
    """redis-py asyncio (hiredis parser when installed), ``decode_responses=True``."""

    def __init__(self, backend: Backend) -> None:
        import redis.asyncio as redis

        self.client = redis.Redis.from_url(backend.url, decode_responses=True)
        self.prefix = backend.stream_options["prefix"]
        self.key = f"aibind-bench-{backend.run}-raw"
        self.sha = ""

    async def append(self, i: int) -> None:
        if not self.sha:
            self.sha = await self.client.script_load(APPEND_SCRIPT)
        await self.client.evalsha(self.sha, 1, self.key + ":list", f"token {i} ")

    async def read(self, sid: str, after: int) -> list[Any]:
        return await self.client.lrange(f"{self.prefix}:{sid}:chunks", after, -1)

    async def conv_set(self, text: str) -> None:
        await self.client.set(self.key + ":conv", text, ex=1800)

    async def conv_get(self) -> Any:
        return await self.client.get(self.key + ":conv")

    async def close(self) -> None:
        await self.client.delete(self.key + ":list", self.key + ":conv")
        await self.client.aclose()


class PostgresRaw(Raw):
    """psycopg 3 async, one autocommit connection, tuple rows."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.table = f"bench_{backend.run}_raw"
        self.chunks = backend.stream_options["chunks_table"]
        self.conv = backend.conversation_options["table"]

    async def open(self) -> PostgresRaw:
        import psycopg

        self.conn = await psycopg.AsyncConnection.connect(self.backend.url, autocommit=True)
        await self.conn.execute(
            f"CREATE TABLE {self.table} (id text, seq int, data text, PRIMARY KEY (id, seq))"
        )
        return self

    async def append(self, i: int) -> None:
        await self.conn.execute(f"INSERT INTO {self.table} VALUES ('a', %s, %s)", (i, f"t{i}"))

    async def read(self, sid: str, after: int) -> list[Any]:
        cur = await self.conn.execute(
            f"SELECT seq, data FROM {self.chunks} WHERE id = %s AND seq > %s ORDER BY seq",
            (sid, after),
        )
        return await cur.fetchall()

    async def conv_set(self, text: str) -> None:
        await self.conn.execute(
            f"INSERT INTO {self.conv} (session_id, data, expires_at) VALUES ('raw', %s, 0) "
            "ON CONFLICT (session_id) DO UPDATE SET data = excluded.data",
            (text,),
        )

    async def conv_get(self) -> Any:
        cur = await self.conn.execute(f"SELECT data FROM {self.conv} WHERE session_id = 'raw'")
        row = await cur.fetchone()
        return None if row is None else row[0]

    async def close(self) -> None:
        await self.conn.execute(f"DROP TABLE IF EXISTS {self.table}")
        await self.conn.execute(f"DELETE FROM {self.conv} WHERE session_id = 'raw'")
        await self.conn.close()


def _append_tx(conn: sqlite3.Connection, stream: str, i: int) -> None:
    """The raw SQLite append: chunk ``i`` of ``stream`` (a literal id, as a store's statement
    would name its stream) and the count's update, in one ``BEGIN IMMEDIATE`` transaction."""
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(f"INSERT INTO raw_c VALUES ('{stream}', ?, ?)", (i, f"token {i} "))
    conn.execute("UPDATE raw_s SET total = ? WHERE id = 't'", (i,))
    conn.execute("COMMIT")


async def _rate(run: Callable[[int], Awaitable[object]], sizes: Sizes) -> float:
    """Appends/s of ``run(i)`` called ``sizes.sequential`` times, one after another, after
    ``sizes.warmup`` untimed calls."""
    for i in range(sizes.warmup):
        await run(i)
    start = time.perf_counter()
    for i in range(sizes.sequential):
        await run(sizes.warmup + i)
    return sizes.sequential / (time.perf_counter() - start)


Hop = Callable[[Callable[[], Any]], Awaitable[Any]]
"""Runs a blocking function on a worker thread and returns its result."""


class SqliteRaw(Raw):
    """stdlib sqlite3 (WAL, ``synchronous=NORMAL``, autocommit), each operation one call on a
    worker thread: the least any async SQLite access does.

    The thread is the store's own worker (``hop``, a plain queue hop), so both sides of every
    ratio cross between the same two threads. On its own ``ThreadPoolExecutor`` thread the raw
    figure depended on where the kernel happened to put that thread relative to the event
    loop's: alternating blocks of the same raw appends ran at 11k/s and 21k/s on a two-CPU VM,
    and ours likewise (a wake-up of the other, idle CPU costs tens of microseconds per hop).
    The executor figure is still measured for the record (``seq_executor``)."""

    def __init__(self, backend: Backend, hop: Hop | None = None) -> None:
        self.path = backend.url.removeprefix("sqlite:///")
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="bench-raw-sqlite")
        self.hop = hop
        self.conn: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        conn = self.conn
        assert conn is not None
        if self.hop is not None:
            return await self.hop(lambda: fn(conn))
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, conn)

    async def executor_appends(self, sizes: Sizes) -> float:
        """The same append transactions through ``run_in_executor`` on the raw side's own
        thread, appends/s (for the record: see the class docstring)."""
        loop = asyncio.get_running_loop()
        conn = self.conn
        assert conn is not None
        return await _rate(
            lambda i: loop.run_in_executor(self.pool, _append_tx, conn, "e", i), sizes
        )

    async def open(self) -> SqliteRaw:
        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                "CREATE TABLE raw_c (id TEXT, seq INTEGER, data TEXT, PRIMARY KEY (id, seq))"
            )
            conn.execute("CREATE TABLE raw_s (id TEXT PRIMARY KEY, total INTEGER)")
            conn.execute("INSERT INTO raw_s VALUES ('t', 0)")
            return conn

        if self.hop is not None:
            self.conn = await self.hop(connect)
        else:
            self.conn = await asyncio.get_running_loop().run_in_executor(self.pool, connect)
        return self

    async def append(self, i: int) -> None:
        await self._run(lambda conn: _append_tx(conn, "t", i))

    async def read(self, sid: str, after: int) -> list[Any]:
        sql = "SELECT seq, data FROM aibind_stream_chunks WHERE id = ? AND seq > ? ORDER BY seq"
        return await self._run(lambda conn: conn.execute(sql, (sid, after)).fetchall())

    async def conv_set(self, text: str) -> None:
        sql = (
            "INSERT INTO aibind_conversations (session_id, data, expires_at) VALUES ('raw', ?, 0) "
            "ON CONFLICT (session_id) DO UPDATE SET data = excluded.data"
        )
        await self._run(lambda conn: conn.execute(sql, (text,)))

    async def conv_get(self) -> Any:
        sql = "SELECT data FROM aibind_conversations WHERE session_id = 'raw'"
        return await self._run(lambda conn: conn.execute(sql).fetchone()[0])

    async def close(self) -> None:
        if self.conn is not None:
            await self._run(lambda conn: conn.close())
        self.pool.shutdown(wait=True)

    async def aiosqlite_appends(self, sizes: Sizes) -> float:
        """The same append transaction through aiosqlite (its thread hop), for comparison."""
        import aiosqlite

        db = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            return await _rate(lambda i: db._execute(_append_tx, db._conn, "u", i), sizes)
        finally:
            await db.close()


async def open_raw(backend: Backend, store: object = None) -> Raw | None:
    """The raw baseline of ``backend`` (``None`` for the in-memory store); for SQLite on the
    worker thread of ``store`` (our stream store) when it has one."""
    if backend.name == "redis":
        return RedisRaw(backend)
    if backend.name == "postgresql":
        return await PostgresRaw(backend).open()
    if backend.name == "sqlite":
        worker = getattr(getattr(store, "_client", None), "_worker", None)
        return await SqliteRaw(backend, getattr(worker, "run", None)).open()
    return None


def sqlite_path(backend: Backend) -> Path:
    """The database file of a ``sqlite:///`` backend."""
    return Path(backend.url.removeprefix("sqlite:///"))
