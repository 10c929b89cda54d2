"""Push delivery through LISTEN/NOTIFY: a follower with the sweep off is woken by a live
append; when its store's LISTEN backend is terminated (``pg_terminate_backend``) mid-stream the
listener reconnects and every follower still yields every chunk exactly once; one LISTEN
connection serves every follower of a store, and is UNLISTENed when none is left."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from postgres_testkit import admin, eventually, open_driver, pg_schema

from aibind.conformance import collect, new_id, within
from aibind.conformance.servers import Server
from aibind.core.types import StreamChunk
from aibind.postgres import PostgresStreamStore, wrap_asyncpg

__all__ = ["pg_schema"]

# How each store gets its client. "asyncpg-conn" listens on a separate connection (listen_dsn):
# a single asyncpg connection otherwise listens itself, and terminating it would end the test's
# query connection too.
VARIANTS = [
    "psycopg-pool",
    "psycopg-conn",
    "asyncpg-pool",
    "asyncpg-conn",
    "url-psycopg",
    "url-asyncpg",
]


@pytest.fixture(params=VARIANTS)
async def push_store(
    request: pytest.FixtureRequest, postgres_server: Server, pg_schema: str
) -> AsyncIterator[PostgresStreamStore]:
    variant: str = request.param
    options: dict[str, Any] = {
        "chunks_table": f"{pg_schema}.chunks",
        "status_table": f"{pg_schema}.status",
        "poll_interval": None,
    }
    if variant.startswith("url-"):
        url_store = PostgresStreamStore.from_url(
            postgres_server.url, driver=variant.removeprefix("url-"), **options
        )
        async with url_store:
            await url_store.setup()
            yield url_store
        return
    client, close = await open_driver(variant, postgres_server.url)
    target: Any = client
    if variant == "asyncpg-conn":
        target = wrap_asyncpg(client, listen_dsn=postgres_server.url)
    store = PostgresStreamStore(target, **options)
    try:
        await store.setup()
        yield store
    finally:
        await store.aclose()
        await close()


async def test_follower_gets_live_chunk_with_polling_off(push_store: PostgresStreamStore) -> None:
    assert push_store.poll_interval is None
    sid = new_id()
    await push_store.create(sid)
    reader = push_store.read_from(sid)
    first = asyncio.ensure_future(anext(reader))
    await asyncio.sleep(0.1)
    assert not first.done()  # caught up and waiting: only a NOTIFY can wake it
    await push_store.append(sid, "live")
    assert await within(first, 5) == StreamChunk(1, "live")
    await push_store.complete(sid)
    with pytest.raises(StopAsyncIteration):
        await within(anext(reader), 5)


async def _terminate(server: Server, pid: int) -> None:
    conn = await admin(server)
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid) is True
    finally:
        await conn.close()


async def _wait_reconnected(store: PostgresStreamStore, old_pid: int, reconnects: int) -> None:
    listener = store._listener
    assert listener is not None

    def back() -> bool:
        return (
            listener.reconnects > reconnects
            and listener.active
            and listener.backend_pid not in (None, old_pid)
        )

    await eventually(back)


async def test_followers_survive_listener_termination(
    push_store: PostgresStreamStore, postgres_server: Server
) -> None:
    listener = push_store._listener
    assert listener is not None
    sid = new_id()
    await push_store.create(sid)
    followers = [asyncio.create_task(collect(push_store.read_from(sid), 60)) for _ in range(3)]
    await eventually(lambda: listener.active)
    data = [f"tok{i}" for i in range(60)]
    for i, chunk in enumerate(data):
        if i in (15, 40):
            pid = listener.backend_pid
            assert pid is not None
            before = listener.reconnects
            await _terminate(postgres_server, pid)
            # Keep appending while the listener is down: those NOTIFYs reach nobody.
            await push_store.append(sid, chunk)
            await within(_wait_reconnected(push_store, pid, before), 10)
            continue
        await push_store.append(sid, chunk)
        await asyncio.sleep(0.002)
    await push_store.complete(sid)
    expected = [StreamChunk(i + 1, d) for i, d in enumerate(data)]
    for got in await within(asyncio.gather(*followers), 60):
        assert got == expected
    assert listener.reconnects >= 2


async def test_chunks_appended_while_listener_is_down_are_delivered(
    push_store: PostgresStreamStore, postgres_server: Server
) -> None:
    listener = push_store._listener
    assert listener is not None
    sid = new_id()
    await push_store.create(sid)
    await push_store.append(sid, "before")
    reader = push_store.read_from(sid)
    assert await within(anext(reader)) == StreamChunk(1, "before")
    waiting = asyncio.ensure_future(anext(reader))
    await eventually(lambda: listener.active)
    pid = listener.backend_pid
    assert pid is not None
    await _terminate(postgres_server, pid)
    # Written before the new LISTEN is up, so its NOTIFY is lost; the reconnect wake-up
    # (notify_all) makes the follower re-read and find it.
    await push_store.append(sid, "during")
    assert await within(waiting, 10) == StreamChunk(2, "during")
    await push_store.append(sid, "after")
    assert await within(anext(reader), 10) == StreamChunk(3, "after")
    await push_store.complete(sid)
    with pytest.raises(StopAsyncIteration):
        await within(anext(reader), 5)


async def test_one_listener_connection_serves_many_followers(
    push_store: PostgresStreamStore, postgres_server: Server
) -> None:
    assert push_store._listener is not None
    streams = [new_id() for _ in range(5)]
    for sid in streams:
        await push_store.create(sid)
    followers = [
        asyncio.create_task(collect(push_store.read_from(sid), 30))
        for sid in streams
        for _ in range(20)
    ]
    await asyncio.sleep(0.2)
    conn = await admin(postgres_server)
    try:
        listening = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' "
            "AND query LIKE '%' || $1 || '%'",
            push_store.status_table.schema,
        )
    finally:
        await conn.close()
    for sid in streams:
        await push_store.append(sid, sid)
        await push_store.complete(sid)
    results = await within(asyncio.gather(*followers), 30)
    assert all(got == [StreamChunk(1, streams[i // 20])] for i, got in enumerate(results))
    # asyncpg's add_listener LISTENs with its own quoting; count connections, not statements.
    assert listening == 1
    listener = push_store._listener
    assert listener.connects == 1
    # no follower left: the connection stays, listening on nothing
    await eventually(lambda: not listener.active)
    handle: Any = listener.handle
    assert await within(handle.channels()) == []
