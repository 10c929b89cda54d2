"""Atomic appends under real contention: 20 concurrent appenders x 100 on one stream through
ONE pool of 10 connections (both drivers) get seqs exactly 1..2000 and total_chunks == 2000;
racing creates over an expired stream are all refused until cleanup() removes it, then admit
exactly one and start it fresh."""

from __future__ import annotations

import asyncio

import pytest
from postgres_testkit import open_driver, pg_schema

from aibind.conformance import collect, new_id, within
from aibind.conformance.servers import Server
from aibind.core.errors import StreamExistsError
from aibind.core.types import StreamStatus
from aibind.postgres import PostgresStreamStore

__all__ = ["pg_schema"]

WRITERS, APPENDS = 20, 100


@pytest.mark.parametrize("kind", ["psycopg-pool", "asyncpg-pool"])
@pytest.mark.timeout(120)
async def test_twenty_appenders_through_one_pool_of_ten(
    postgres_server: Server, pg_schema: str, kind: str
) -> None:
    pool, close = await open_driver(kind, postgres_server.url, max_size=10)
    store = PostgresStreamStore(
        pool, chunks_table=f"{pg_schema}.chunks", status_table=f"{pg_schema}.status"
    )
    try:
        await store.setup()
        sid = new_id()
        await store.create(sid)

        async def writer(w: int) -> list[int]:
            return [await store.append(sid, f"w{w}-{i}") for i in range(APPENDS)]

        results = await within(asyncio.gather(*(writer(w) for w in range(WRITERS))), 100)
        seqs = sorted(s for r in results for s in r)
        assert seqs == list(range(1, WRITERS * APPENDS + 1))
        status = await store.get_status(sid)
        assert status is not None
        assert status.total_chunks == WRITERS * APPENDS == 2000
        await store.complete(sid)
        got = await collect(store.read_from(sid), 60)
        by_seq = {s: f"w{w}-{i}" for w, r in enumerate(results) for i, s in enumerate(r)}
        assert [(c.seq, c.data) for c in got] == [(s, by_seq[s]) for s in seqs]
    finally:
        await store.aclose()
        await close()


@pytest.mark.parametrize("kind", ["psycopg-pool", "asyncpg-pool"])
async def test_racing_creates_over_an_expired_stream(
    postgres_server: Server, pg_schema: str, kind: str
) -> None:
    pool, close = await open_driver(kind, postgres_server.url, max_size=8)
    store = PostgresStreamStore(
        pool, chunks_table=f"{pg_schema}.chunks", status_table=f"{pg_schema}.status", ttl=0.2
    )
    try:
        await store.setup()
        sid = new_id()
        await store.create(sid)
        await store.append_many(sid, ["old1", "old2"])
        await asyncio.sleep(0.4)
        refused = await within(
            asyncio.gather(*(store.create(sid) for _ in range(8)), return_exceptions=True)
        )
        assert all(isinstance(o, StreamExistsError) for o in refused)  # past expiry, not gone
        assert await store.get_status(sid) == StreamStatus("active", 2, None)  # nothing lost
        assert await store.cleanup() == 1
        outcomes = await within(
            asyncio.gather(*(store.create(sid) for _ in range(8)), return_exceptions=True)
        )
        assert sum(o is None for o in outcomes) == 1
        assert all(o is None or isinstance(o, StreamExistsError) for o in outcomes)
        assert await store.append(sid, "new") == 1
        await store.complete(sid)
        assert [c.data for c in await collect(store.read_from(sid))] == ["new"]
    finally:
        await store.aclose()
        await close()
