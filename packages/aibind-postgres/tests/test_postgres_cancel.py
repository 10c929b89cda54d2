"""Cancelled followers end and leave nothing behind (issue #7 items 2, 3, 7 and 17).

* 300 and 500 idle followers on one store opened with ``from_url`` defaults, all cancelled at
  once, all end within 2 s (item 17: 2-4 of 300 used to run on for 10 s and more);
* 100 followers cancelled while the store's LISTEN connection starts leave zero notifier
  subscriptions, and the LISTEN connection ends up listening on no channel
  (``pg_listening_channels()`` on it is empty) — items 2-3, Postgres part;
* a caller's asyncpg pool of ``max_size=1`` does not hang: the LISTEN connection is not taken
  from it (item 7).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from postgres_testkit import eventually, pg_schema

from aibind.conformance import collect, new_id, within
from aibind.conformance.servers import Server
from aibind.core.types import StreamChunk
from aibind.postgres import PostgresStreamStore

pytestmark = pytest.mark.faults

__all__ = ["pg_schema"]


@pytest.fixture
def tables(pg_schema: str) -> dict[str, Any]:
    return {"chunks_table": f"{pg_schema}.chunks", "status_table": f"{pg_schema}.status"}


async def _follow(store: PostgresStreamStore, sid: str) -> None:
    async for _chunk in store.read_from(sid):
        pass


async def _listening_channels(store: PostgresStreamStore) -> list[str]:
    """``pg_listening_channels()`` run on the store's LISTEN connection itself."""
    listener = store._listener
    assert listener is not None
    handle: Any = listener.handle
    assert handle is not None, "the store never opened its LISTEN connection"
    channels: list[str] = await handle.channels()
    return channels


async def _settled(store: PostgresStreamStore) -> None:
    """Wait until the store's listener task has nothing left to do."""
    listener = store._listener
    assert listener is not None
    await eventually(lambda: listener.settled, 5)


@pytest.mark.parametrize("followers", [300, 500])
@pytest.mark.timeout(120)
async def test_idle_followers_cancelled_at_once_all_end(
    postgres_server: Server, tables: dict[str, Any], followers: int
) -> None:
    async with PostgresStreamStore.from_url(postgres_server.url, **tables) as store:
        await store.setup()
        streams = [new_id() for _ in range(followers // 5)]
        for sid in streams:
            await store.create(sid)
            await store.append(sid, "first")
        tasks = [asyncio.create_task(_follow(store, sid)) for sid in streams for _ in range(5)]
        # idle: every follower has read its chunk and waits (LISTEN up, sweeps running)
        await eventually(lambda: store._notifier.subscriber_count() == followers, 30)
        await asyncio.sleep(1.0)
        assert not any(t.done() for t in tasks)
        for task in tasks:
            task.cancel()
        done, pending = await asyncio.wait(tasks, timeout=2.0)
        assert not pending, f"{len(pending)} of {followers} cancelled followers still run"
        assert all(t.cancelled() for t in done)
        assert store._notifier.subscriber_count() == 0


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
@pytest.mark.parametrize("after", [0, 1, 2, 5, 0.002, 0.01, 0.03])
async def test_followers_cancelled_while_listen_starts_leave_nothing(
    postgres_server: Server, tables: dict[str, Any], driver: str, after: float
) -> None:
    async with PostgresStreamStore.from_url(postgres_server.url, driver=driver, **tables) as store:
        await store.setup()
        sid = new_id()
        await store.create(sid)
        for round_ in range(2):  # the first round opens the connection, the second re-LISTENs
            tasks = [asyncio.create_task(_follow(store, sid)) for _ in range(100)]
            if isinstance(after, int):
                for _ in range(after):  # loop iterations: cancel inside the subscription path
                    await asyncio.sleep(0)
            else:
                await asyncio.sleep(after)
            for task in tasks:
                task.cancel()
            await within(asyncio.wait(tasks), 5)
            assert store._notifier.subscriber_count() == 0
            await within(_settled(store), 10)
            listener = store._listener
            assert listener is not None
            assert not listener.active, f"round {round_}: still LISTENing with no follower"
            if listener.handle is not None:
                assert await _listening_channels(store) == []
        # and the store still delivers
        follower = asyncio.create_task(collect(store.read_from(sid)))
        await asyncio.sleep(0.05)
        await store.append(sid, "after")
        await store.complete(sid)
        assert await within(follower) == [StreamChunk(1, "after")]
        await within(_settled(store), 10)
        assert await _listening_channels(store) == []


@pytest.fixture
async def pool_of_one(postgres_server: Server) -> AsyncIterator[asyncpg.Pool[Any]]:
    pool = await asyncpg.create_pool(postgres_server.url, min_size=1, max_size=1)
    try:
        yield pool
    finally:
        try:
            await asyncio.wait_for(pool.close(), 5)
        except asyncio.TimeoutError:  # a connection never given back: fail, do not hang
            pool.terminate()
            raise


async def test_asyncpg_pool_of_one_does_not_hang(
    pool_of_one: asyncpg.Pool[Any], tables: dict[str, Any]
) -> None:
    store = PostgresStreamStore(pool_of_one, poll_interval=None, **tables)
    try:
        await within(store.setup(), 5)
        sid = new_id()
        await within(store.create(sid), 5)
        follower = asyncio.create_task(collect(store.read_from(sid)))
        for i in range(5):
            await asyncio.sleep(0.02)
            await within(store.append(sid, f"c{i}"), 5)  # would wait forever for the pool
        await within(store.complete(sid), 5)
        assert [c.data for c in await within(follower)] == [f"c{i}" for i in range(5)]
        listener = store._listener
        assert listener is not None
        assert listener.connects == 1
        async with pool_of_one.acquire() as conn:
            pool_pid = conn.get_server_pid()
        assert listener.backend_pid not in (None, pool_pid)  # not a pool connection
        assert pool_of_one.get_size() == 1
    finally:
        await within(store.aclose(), 5)
