"""Raw-driver baselines: the minimum work of each operation, measured in the same run.

Each baseline returns ``{"seq": ops/s of one append-equivalent round trip, "replay": ms to read
10,000 rows/items, "conv": ms for one write + one read of a 200-message conversation JSON}``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from aibind.core import ChatHistory, ConversationMessage

Baseline = Callable[[str, bool], Awaitable[dict[str, float]]]


def _conversation_json() -> str:
    chat: ChatHistory[ConversationMessage] = ChatHistory()
    for i in range(200):
        role = "user" if i % 2 == 0 else "assistant"
        chat.append({"role": role, "content": f"message {i}: " + "lorem ipsum " * 20})
    return chat.to_json()


async def _rate(n: int, op: Callable[[int], Awaitable[object]]) -> float:
    start = time.perf_counter()
    for i in range(n):
        await op(i)
    return n / (time.perf_counter() - start)


async def _best_ms(times: int, op: Callable[[], Awaitable[object]]) -> float:
    best = float("inf")
    for _ in range(times):
        t0 = time.perf_counter()
        await op()
        best = min(best, (time.perf_counter() - t0) * 1000)
    return best


async def _median_ms(times: int, op: Callable[[], Awaitable[object]]) -> float:
    samples = []
    for _ in range(times):
        t0 = time.perf_counter()
        await op()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


async def sqlite_baseline(url: str, quick: bool) -> dict[str, float]:
    """aiosqlite, WAL + synchronous=NORMAL, autocommit.

    ``seq`` is the minimum transaction of an append on the npm schema: one call on aiosqlite's
    thread running ``BEGIN IMMEDIATE``, an ``INSERT`` of the chunk (seq computed by the caller),
    an ``UPDATE`` of the status row's counter and ``COMMIT`` (what npm's ``batch()`` of
    INSERT + UPDATE does). An append must write both tables, so a lone ``INSERT`` (kept as
    ``seq_insert``, the figure used before) is less work than any append can be.
    """
    import aiosqlite

    with tempfile.TemporaryDirectory() as tmp:
        db = await aiosqlite.connect(Path(tmp) / "raw.db", isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute(
                "CREATE TABLE c (id TEXT, seq INTEGER, data TEXT, PRIMARY KEY (id, seq))"
            )
            await db.execute("CREATE TABLE v (k TEXT PRIMARY KEY, data TEXT)")
            seq_insert = await _rate(
                500 if quick else 2000,
                lambda i: db.execute("INSERT INTO c VALUES ('a', ?, ?)", (i, f"token {i} ")),
            )
            await db.execute("CREATE TABLE s (id TEXT PRIMARY KEY, total INTEGER)")
            await db.execute("INSERT INTO s VALUES ('t', 0)")

            def append_tx(i: int) -> None:  # runs on aiosqlite's thread, as one queued call
                conn = db._conn
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO c VALUES ('t', ?, ?)", (i, f"token {i} "))
                conn.execute("UPDATE s SET total = ? WHERE id = 't'", (i,))
                conn.execute("COMMIT")

            seq = await _rate(500 if quick else 2000, lambda i: db._execute(append_tx, i))
            await db.executemany(
                "INSERT INTO c VALUES ('b', ?, ?)", [(i, f"token {i} ") for i in range(10_000)]
            )

            async def read() -> object:
                sql = "SELECT seq, data FROM c WHERE id = 'b' AND seq >= 0 ORDER BY seq"
                async with db.execute(sql) as cur:
                    return await cur.fetchall()

            text = _conversation_json()

            async def conv() -> object:
                await db.execute("INSERT OR REPLACE INTO v VALUES ('s', ?)", (text,))
                async with db.execute("SELECT data FROM v WHERE k = 's'") as cur:
                    return await cur.fetchone()

            return {
                "seq": seq,
                "seq_insert": seq_insert,
                "replay": await _best_ms(5, read),
                "conv": await _median_ms(50, conv),
            }
        finally:
            await db.close()


async def redis_baseline(url: str, quick: bool) -> dict[str, float]:
    """redis-py asyncio: one EVALSHA of a one-line RPUSH script per append."""
    import redis.asyncio as redis

    client = redis.Redis.from_url(url)
    key = f"aibind-bench-raw-{uuid.uuid4().hex}"
    try:
        sha = await client.script_load("return redis.call('RPUSH', KEYS[1], ARGV[1])")
        seq = await _rate(
            500 if quick else 2000, lambda i: client.evalsha(sha, 1, key, f"token {i} ")
        )
        await client.delete(key)
        await client.rpush(key, *[f"token {i} " for i in range(10_000)])
        text = _conversation_json()

        async def conv() -> object:
            await client.set(key + ":conv", text, ex=60)
            return await client.get(key + ":conv")

        return {
            "seq": seq,
            "replay": await _best_ms(5, lambda: client.lrange(key, 0, -1)),
            "conv": await _median_ms(50, conv),
        }
    finally:
        await client.delete(key, key + ":conv")
        await client.aclose()


async def postgres_baseline(url: str, quick: bool) -> dict[str, float]:
    """psycopg 3 async, autocommit: one INSERT per append."""
    import psycopg

    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    table = f"bench_raw_{uuid.uuid4().hex[:8]}"
    try:
        await conn.execute(
            f"CREATE TABLE {table} (id text, seq int, data text, PRIMARY KEY (id, seq))"
        )
        await conn.execute(f"CREATE TABLE {table}_v (k text PRIMARY KEY, data text)")
        seq = await _rate(
            500 if quick else 2000,
            lambda i: conn.execute(f"INSERT INTO {table} VALUES ('a', %s, %s)", (i, f"t{i}")),
        )
        await conn.execute(
            f"INSERT INTO {table} SELECT 'b', g, 'token ' || g FROM generate_series(1, 10000) g"
        )

        async def read() -> object:
            cur = await conn.execute(
                f"SELECT seq, data FROM {table} WHERE id = 'b' AND seq > 0 ORDER BY seq"
            )
            return await cur.fetchall()

        text = _conversation_json()

        async def conv() -> object:
            await conn.execute(
                f"INSERT INTO {table}_v VALUES ('s', %s) "
                "ON CONFLICT (k) DO UPDATE SET data = excluded.data",
                (text,),
            )
            cur = await conn.execute(f"SELECT data FROM {table}_v WHERE k = 's'")
            return await cur.fetchone()

        return {"seq": seq, "replay": await _best_ms(5, read), "conv": await _median_ms(50, conv)}
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {table}, {table}_v")
        await conn.close()


BASELINES: dict[str, Baseline] = {
    "sqlite": sqlite_baseline,
    "redis": redis_baseline,
    "postgresql": postgres_baseline,
}
