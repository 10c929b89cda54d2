"""One poll policy (issue #11 "What it must show" 4): with 500 idle followers on one store the
server sees at most one sweep query per ``poll_interval`` and no follower query at all, counted
by the server itself (``pg_stat_statements`` on a private server that preloads it). Before the
kit, each follower polled on its own: 500 idle followers cost about 1,300 queries/s."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest
from pg_server import PrivatePostgres
from postgres_testkit import eventually

from aibind.conformance import new_id
from aibind.postgres import PostgresStreamStore

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]

FOLLOWERS = 500
STREAMS = 100
POLL = 0.1
WINDOW = 2.0


async def _follow(store: PostgresStreamStore, sid: str) -> None:
    async for _chunk in store.read_from(sid):
        pass


async def _calls(conn: asyncpg.Connection[Any], table: str) -> dict[str, int]:
    """Statements on ``table`` the server ran since the last reset, by kind."""
    rows = await conn.fetch(
        "SELECT query, calls FROM pg_stat_statements WHERE query LIKE '%' || $1 || '%'", table
    )
    counts = {"sweep": 0, "fetch": 0, "other": 0}
    for query, calls in rows:
        kind = "sweep" if "ANY(" in query else "fetch" if "UNION ALL" in query else "other"
        counts[kind] += int(calls)
    return counts


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
async def test_500_idle_followers_cost_one_sweep_per_interval(
    private_server: PrivatePostgres, driver: str
) -> None:
    schema = f"sw_{new_id('')[1:13]}"
    admin = await asyncpg.connect(private_server.url)
    try:
        await admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        store = PostgresStreamStore.from_url(
            private_server.url,
            driver=driver,
            chunks_table=f"{schema}.chunks",
            status_table=f"{schema}.status",
            poll_interval=POLL,
        )
        async with store:
            await store.setup()
            streams = [new_id() for _ in range(STREAMS)]
            for sid in streams:
                await store.create(sid)
            per_stream = FOLLOWERS // STREAMS
            tasks = [
                asyncio.create_task(_follow(store, s)) for s in streams for _ in range(per_stream)
            ]
            await eventually(lambda: store._notifier.subscriber_count() == FOLLOWERS, 30)
            await asyncio.sleep(1.0)  # every follower has read once and waits
            listener = store._listener
            assert listener is not None
            assert listener.active
            await admin.execute("SELECT pg_stat_statements_reset()")
            started = time.monotonic()
            await asyncio.sleep(WINDOW)
            counts = await _calls(admin, schema)
            elapsed = time.monotonic() - started
            assert not any(t.done() for t in tasks)
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
        assert counts["fetch"] == 0, f"idle followers queried on their own: {counts}"
        assert counts["other"] == 0, counts
        assert 1 <= counts["sweep"] <= elapsed / POLL + 1, counts
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()
