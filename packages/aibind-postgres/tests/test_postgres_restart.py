"""Followers survive a server restart (issue #7 item 1, "What it must show" 2): a ~2 s
``pg_ctl restart -m fast`` of a private server while a producer appends at 100/s and three
followers read, through psycopg and asyncpg. Every follower yields every chunk exactly once, in
order, and ends with the stream; the producer loses nothing it was told was stored.

Before the kit, followers died with ``DatabaseError: AdminShutdown`` (psycopg) or a raw
``ConnectionResetError`` (asyncpg): the read path never retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import pytest
from pg_server import PrivatePostgres
from postgres_testkit import eventually

from aibind.conformance import collect, new_id, within
from aibind.core.errors import TRANSIENT_ERRORS
from aibind.core.types import StreamChunk
from aibind.postgres import PostgresStreamStore

pytestmark = [pytest.mark.faults, pytest.mark.timeout(90)]

T = TypeVar("T")

CHUNKS = 400
RESTART_AT = 100


async def _retrying(call: Callable[[], Awaitable[T]], seconds: float = 30) -> T:
    """``call()`` again while the server is away (what a producer does on a transient error)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        try:
            return await call()
        except TRANSIENT_ERRORS:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.05)


async def _produce(writer: PostgresStreamStore, sid: str, data: list[str]) -> None:
    for i, chunk in enumerate(data):
        try:
            await writer.append(sid, chunk)
        except TRANSIENT_ERRORS:
            # The append may or may not have committed before the connection dropped: the
            # stored count says which (ConnectionLostError's documented rule).
            status = await _retrying(lambda: writer.get_status(sid))
            assert status is not None
            if status.total_chunks == i:
                await _retrying(lambda c=chunk: writer.append(sid, c))  # type: ignore[misc]
            assert (await _retrying(lambda: writer.get_status(sid))).total_chunks == i + 1  # type: ignore[union-attr]
        await asyncio.sleep(0.01)
    await _retrying(lambda: writer.complete(sid))


@pytest.fixture
async def tables(private_server: PrivatePostgres) -> AsyncIterator[dict[str, str]]:
    schema = f"r_{new_id('')[1:17]}"
    conn = await asyncpg.connect(private_server.url)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.close()
    yield {"chunks_table": f"{schema}.chunks", "status_table": f"{schema}.status"}
    if not private_server.running():
        private_server.start()
    conn = await asyncpg.connect(private_server.url)
    await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await conn.close()


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
async def test_followers_survive_a_server_restart(
    private_server: PrivatePostgres, tables: dict[str, str], driver: str
) -> None:
    options: dict[str, Any] = {"driver": driver, "poll_interval": 0.1, **tables}
    readers = PostgresStreamStore.from_url(private_server.url, **options)
    writer = PostgresStreamStore.from_url(private_server.url, **options)
    async with readers, writer:
        await writer.setup()
        sid = new_id()
        await writer.create(sid)
        followers = [asyncio.create_task(collect(readers.read_from(sid), 80)) for _ in range(3)]
        await asyncio.sleep(0.2)
        listener = readers._listener
        assert listener is not None
        assert listener.active
        data = [f"chunk-{i}" for i in range(CHUNKS)]
        producer = asyncio.create_task(_produce(writer, sid, data))

        async def reached() -> bool:
            status = await writer.get_status(sid)
            return status is not None and status.total_chunks >= RESTART_AT

        await eventually(reached, 20)
        # ~2 s away: stop (fast: connections terminated), 1.5 s down, start.
        await asyncio.to_thread(private_server.restart, 1.5)
        await within(producer, 60)
        expected = [StreamChunk(i + 1, d) for i, d in enumerate(data)]
        for got in await within(asyncio.gather(*followers), 60):
            assert len(got) == len(expected)
            assert got == expected
        assert listener.reconnects >= 1
        await eventually(lambda: not listener.active)  # no follower left: UNLISTENed
