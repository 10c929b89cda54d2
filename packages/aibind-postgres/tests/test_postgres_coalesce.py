"""Concurrent appends share statements (the store's append coalescer): each caller still gets
its own seq or its own error, seqs stay gap-free when two stores' groups contend for the same
rows, and a group the server refuses is re-run append by append."""

from __future__ import annotations

import asyncio

import pytest
from postgres_testkit import open_driver, pg_schema

from aibind.conformance import new_id, within
from aibind.conformance.servers import Server
from aibind.core.errors import CorruptDataError, StreamNotActiveError, StreamNotFoundError
from aibind.postgres import PostgresStreamStore

__all__ = ["pg_schema"]


def _store(pool: object, schema: str) -> PostgresStreamStore:
    return PostgresStreamStore(
        pool, chunks_table=f"{schema}.chunks", status_table=f"{schema}.status"
    )


@pytest.mark.parametrize("kind", ["psycopg-pool", "asyncpg-pool"])
async def test_each_caller_of_a_group_gets_its_own_outcome(
    postgres_server: Server, pg_schema: str, kind: str
) -> None:
    pool, close = await open_driver(kind, postgres_server.url, max_size=4)
    store = _store(pool, pg_schema)
    try:
        await store.setup()
        live, other, stopped, unknown = new_id(), new_id(), new_id(), new_id()
        for sid in (live, other, stopped):
            await store.create(sid)
        await store.stop(stopped)
        calls = [
            store.append(live, "a"),  # runs at once; the rest queue behind it: one group
            store.append(live, "b"),
            store.append(stopped, "x"),
            store.append(other, "c"),
            store.append(unknown, "y"),
            store.append(live, "d"),
        ]
        outcomes = await within(asyncio.gather(*calls, return_exceptions=True), 30)
        assert outcomes[0] == 1
        assert outcomes[1] == 2
        assert isinstance(outcomes[2], StreamNotActiveError)
        assert outcomes[3] == 1
        assert isinstance(outcomes[4], StreamNotFoundError)
        assert outcomes[5] == 3
        assert store._appends.groups >= 1
        await store.complete(live)
        assert [c.data async for c in store.read_from(live)] == ["a", "b", "d"]
    finally:
        await store.aclose()
        await close()


@pytest.mark.parametrize("kind", ["psycopg-pool", "asyncpg-pool"])
@pytest.mark.timeout(120)
async def test_two_stores_groups_on_the_same_streams_stay_gap_free(
    postgres_server: Server, pg_schema: str, kind: str
) -> None:
    # Two coalescers (two stores: two processes, in effect) lock overlapping status rows in
    # their group statements: no deadlock, every stream's seqs exactly 1..N.
    pool, close = await open_driver(kind, postgres_server.url, max_size=6)
    first, second = _store(pool, pg_schema), _store(pool, pg_schema)
    try:
        await first.setup()
        ids = [new_id() for _ in range(5)]
        for sid in ids:
            await first.create(sid)

        async def writer(store: PostgresStreamStore, w: int) -> list[tuple[str, int]]:
            out = []
            for i in range(60):
                sid = ids[(w + i) % len(ids)]
                out.append((sid, await store.append(sid, f"{w}-{i}")))
            return out

        results = await within(
            asyncio.gather(*(writer(first if w % 2 else second, w) for w in range(10))), 100
        )
        for sid in ids:
            seqs = sorted(seq for r in results for s, seq in r if s == sid)
            assert seqs == list(range(1, len(seqs) + 1))
            status = await first.get_status(sid)
            assert status is not None
            assert status.total_chunks == len(seqs)
        assert first._appends.groups + second._appends.groups >= 1
    finally:
        await first.aclose()
        await second.aclose()
        await close()


async def test_a_group_the_server_refuses_is_rerun_append_by_append(
    postgres_server: Server, pg_schema: str
) -> None:
    # A stream whose stored count is behind its chunks makes the group's INSERT fail (unique
    # violation, rolled back): the appends are re-run one by one, so only that stream's caller
    # gets the error.
    pool, close = await open_driver("psycopg-pool", postgres_server.url, max_size=4)
    store = _store(pool, pg_schema)
    try:
        await store.setup()
        good, broken = new_id(), new_id()
        for sid in (good, broken):
            await store.create(sid)
        await store.append(broken, "1")
        await store.client.query(
            f'UPDATE "{pg_schema}"."status" SET total_chunks = 0 WHERE id = $1::text', (broken,)
        )
        calls = [store.append(good, "a"), store.append(good, "b"), store.append(broken, "2")]
        calls.append(store.append(good, "c"))
        outcomes = await within(asyncio.gather(*calls, return_exceptions=True), 30)
        assert outcomes[:2] == [1, 2]
        assert isinstance(outcomes[2], CorruptDataError)
        assert outcomes[3] == 3
    finally:
        await store.aclose()
        await close()
