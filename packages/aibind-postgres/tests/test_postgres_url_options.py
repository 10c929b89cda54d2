"""URL options (issue #11 "One URL syntax for options"): query parameters set the stores'
options (``chunks_table``, ``status_table``, ``table``, ``ttl``, ``poll_interval``) and the
pool's (``driver``, ``min_size``, ``max_size``, ``listen_url``, ``pool_timeout``), libpq
parameters go through to the driver, keywords win over the URL, anything else is a clear
``ValueError``; the CLI (``aibind status``, ``aibind tail``) finds streams in custom tables
given in the URL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest
from postgres_testkit import admin, pg_schema

from aibind.conformance import new_id, within
from aibind.conformance.servers import Server
from aibind.core.registry import open_stores
from aibind.postgres import PostgresConversationStore, PostgresStreamStore
from aibind.postgres._pool import UrlClient

__all__ = ["pg_schema"]


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
async def test_url_options_reach_the_store_the_pool_and_the_driver(
    postgres_server: Server, pg_schema: str, driver: str
) -> None:
    name = f"aibind-url-{driver}"
    url = (
        f"{postgres_server.url}?chunks_table={pg_schema}.c&status_table={pg_schema}.s"
        f"&ttl=600&poll_interval=0.25&driver={driver}&min_size=0&max_size=3&pool_timeout=2.5"
        f"&application_name={name}&connect_timeout=5"
    )
    async with PostgresStreamStore.from_url(url) as store:
        assert store.chunks_table.display == f"{pg_schema}.c"
        assert store.status_table.display == f"{pg_schema}.s"
        assert (store.ttl, store.poll_interval) == (600.0, 0.25)
        client: Any = store.client
        assert isinstance(client, UrlClient)
        assert (client.driver, client._min_size, client._max_size) == (driver, 0, 3)
        assert client._pool_timeout == 2.5
        await store.setup()
        sid = new_id()
        await store.create(sid)
        conn = await admin(postgres_server)
        try:  # libpq's application_name went through to the server
            seen = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name
            )
        finally:
            await conn.close()
        assert seen >= 1
    async with PostgresStreamStore.from_url(
        f"{postgres_server.url}?poll_interval=none&ttl=60", ttl=30, chunks_table="kw_c"
    ) as other:
        assert other.poll_interval is None
        assert other.ttl == 30.0  # keywords win over the URL
        assert other.chunks_table.display == "kw_c"
    conversations = PostgresConversationStore.from_url(
        f"{postgres_server.url}?table={pg_schema}.conv&ttl=90"
    )
    assert conversations.table.display == f"{pg_schema}.conv"
    assert conversations.ttl == 90.0
    await conversations.aclose()


@pytest.mark.parametrize(
    ("query", "match"),
    [
        ("prefix=app", "unknown URL option 'prefix'.*chunks_table"),
        ("ttl=abc", "ttl"),
        ("ttl=5&ttl=6", "twice"),
        ("max_size=ten", "max_size"),
        ("table=x", "unknown URL option 'table'"),  # the stream store has no `table`
        ("search_path=x", "unknown URL option 'search_path'"),
    ],
)
def test_bad_url_options(query: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PostgresStreamStore.from_url(f"postgresql://h/db?{query}")


def test_bad_pair_url_options() -> None:
    with pytest.raises(ValueError, match="unknown URL option 'table'"):
        open_stores("postgresql://h/db?table=x")  # conversation_table in a pair's URL
    with pytest.raises(TypeError, match="unexpected option"):
        PostgresStreamStore.from_url("postgresql://h/db", prefix="x")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aibind.core.cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.timeout(60)
async def test_cli_finds_streams_in_custom_tables(postgres_server: Server, pg_schema: str) -> None:
    url = f"{postgres_server.url}?chunks_table={pg_schema}.my_chunks"
    url += f"&status_table={pg_schema}.my_status"
    async with PostgresStreamStore.from_url(url) as store:
        await store.setup()
        sid = new_id()
        await store.create(sid)
        await store.append_many(sid, ["Hello", ", world"])
        status = await asyncio.to_thread(_cli, "status", url, sid)
        assert status.returncode == 0, status.stderr
        assert '"state": "active"' in status.stdout
        assert '"total_chunks": 2' in status.stdout
        tail = asyncio.create_task(asyncio.to_thread(_cli, "tail", url, sid))
        await asyncio.sleep(1.0)
        await store.append(sid, "!")
        await store.complete(sid)
        done = await within(tail, 30)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "Hello, world!"
        assert "[done, 3 chunks]" in done.stderr
    missing = await asyncio.to_thread(_cli, "status", url, "no-such-stream")
    assert missing.returncode == 1
    assert "not found" in missing.stderr
