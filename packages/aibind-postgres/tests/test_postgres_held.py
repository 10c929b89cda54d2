"""The pool ``from_url`` opens keeps one connection between statements (``_held``): statements
that come one after another run on one server process, concurrent ones still spread over the
pool, a pool of one never starves, an error or close gives the connection back; and the LISTEN
connection lingers after the last follower (no LISTEN / UNLISTEN per read), for both drivers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from postgres_testkit import eventually, pg_schema

from aibind.conformance import collect, new_id, within
from aibind.conformance.servers import Server
from aibind.postgres import PostgresStreamStore
from aibind.postgres._held import HeldConnection
from aibind.postgres._pool import UrlClient

__all__ = ["pg_schema"]

DRIVERS = ["psycopg", "asyncpg"]
PID = "SELECT pg_backend_pid()"


async def _pid(client: UrlClient) -> int:
    return int((await client.query(PID))[0][0])


@pytest.mark.parametrize("driver", DRIVERS)
async def test_statements_in_sequence_share_one_connection(
    postgres_server: Server, driver: str
) -> None:
    client = UrlClient(postgres_server.url, driver=driver, min_size=1, max_size=4)
    await client.open()
    try:
        # a burst grows the pool: four statements at once run on four connections
        pids = await within(
            asyncio.gather(
                *(client.query("SELECT pg_backend_pid(), pg_sleep(0.1)") for _ in range(4))
            )
        )
        assert len({row[0][0] for row in pids}) == 4
        # then one after another: always the same server process (not the pool's turn)
        first = await _pid(client)
        assert {await _pid(client) for _ in range(20)} == {first}
    finally:
        await client.close()


@pytest.mark.parametrize("driver", DRIVERS)
async def test_pool_of_one_serves_concurrent_statements(
    postgres_server: Server, driver: str
) -> None:
    client = UrlClient(postgres_server.url, driver=driver, min_size=1, max_size=1, pool_timeout=5)
    await client.open()
    try:
        sql = "SELECT $1::int, pg_sleep(0.01)"
        found = await within(asyncio.gather(*(client.query(sql, (i,)) for i in range(20))), 10)
        assert [row[0][0] for row in found] == list(range(20))
        assert await _pid(client) > 0  # and the one connection is still usable afterwards
    finally:
        started = time.monotonic()
        await client.close()
        assert time.monotonic() - started < 2  # the held connection went back before close


@pytest.mark.parametrize("driver", DRIVERS)
async def test_error_gives_the_connection_back(postgres_server: Server, driver: str) -> None:
    client = UrlClient(postgres_server.url, driver=driver, min_size=1, max_size=2)
    await client.open()
    try:
        with pytest.raises(Exception, match="division by zero"):
            await client.query("SELECT 1 / 0")
        # a cancelled statement too: the connection is never reused mid-statement
        task = asyncio.ensure_future(client.query("SELECT pg_sleep(5)"))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert [tuple(r) for r in await within(client.query("SELECT 41 + 1"), 5)] == [(42,)]
    finally:
        await client.close()


async def test_held_connection_rules() -> None:
    """Without a server: the hold is taken once, passed over while busy, given back when a
    statement waits for the pool, after an error and on close."""
    taken: list[int] = []
    given: list[int] = []
    counter = iter(range(100))

    async def acquire() -> int:
        conn = next(counter)
        taken.append(conn)
        return conn

    async def release(conn: int) -> None:
        given.append(conn)

    idle = {"now": True}
    dead: set[int] = set()
    held: HeldConnection[int] = HeldConnection(
        acquire, release, lambda conn: idle["now"] and conn not in dead
    )
    gate = asyncio.Event()

    async def on(conn: int) -> int:
        await gate.wait()
        return conn

    async def pooled() -> int:
        return -1

    gate.set()
    assert [await held.run(on, pooled) for _ in range(3)] == [0, 0, 0]
    assert taken == [0]
    assert given == []
    gate.clear()
    busy = asyncio.ensure_future(held.run(on, pooled))
    await asyncio.sleep(0)
    waiting = asyncio.ensure_future(held.run(on, pooled))
    other = asyncio.ensure_future(asyncio.sleep(0))
    await other
    assert await waiting == -1  # the held connection was busy: a pooled one
    gate.set()
    assert await busy == 0
    assert given == []  # nobody waited any more when it ended: kept

    async def fails(conn: int) -> int:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await held.run(fails, pooled)
    assert given == [0]  # given back after an error
    idle["now"] = False
    assert await held.run(on, pooled) == 1  # a new one taken, left in a transaction:
    assert given == [0, 1]  # given back (the pool resets it)
    idle["now"] = True
    assert await held.run(on, pooled) == 2
    dead.add(2)  # its connection closed while held (a server restart)
    assert await held.run(on, pooled) == 3  # replaced before the statement
    assert given == [0, 1, 2]
    await held.close()
    assert given == [0, 1, 2, 3]
    assert await held.run(on, pooled) == -1  # closed: pooled only
    await held.close()
    assert given == [0, 1, 2, 3]


@pytest.mark.parametrize("driver", DRIVERS)
async def test_stray_transaction_is_not_kept(postgres_server: Server, driver: str) -> None:
    client = UrlClient(postgres_server.url, driver=driver, min_size=1, max_size=2)
    await client.open()
    try:
        await client.query("BEGIN")  # misuse: every call is meant to stand alone
        first = (await client.query("SELECT now()"))[0][0]
        await asyncio.sleep(0.01)
        second = (await client.query("SELECT now()"))[0][0]
        assert second > first  # each in a transaction of its own, not in the stray one
    finally:
        await client.close()


@pytest.mark.parametrize("driver", DRIVERS)
async def test_listen_lingers_between_reads(
    postgres_server: Server, pg_schema: str, driver: str
) -> None:
    tables = {"chunks_table": f"{pg_schema}.c", "status_table": f"{pg_schema}.s"}
    async with PostgresStreamStore.from_url(postgres_server.url, driver=driver, **tables) as store:
        await store.setup()
        sid = new_id()
        await store.create(sid)
        await store.append(sid, "a")
        listener: Any = store._listener
        assert listener is not None
        follower = asyncio.ensure_future(collect(store.read_from(sid)))
        await eventually(lambda: listener.active)
        await store.complete(sid)
        await within(follower)
        handle = listener.handle
        for _ in range(5):  # reads one after another: the same LISTEN, no reconnect
            assert [c.data for c in await within(collect(store.read_from(sid)))] == ["a"]
            assert listener.active
            assert listener.handle is handle
        assert listener.connects == 1
        # no follower for a moment: UNLISTENed, the connection kept
        await eventually(lambda: not listener.active and listener.settled, 10)
        assert listener.handle is handle
        assert await within(handle.channels()) == []
