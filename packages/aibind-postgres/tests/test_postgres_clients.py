"""Clients: the PostgresClient protocol (a plain client without LISTEN is served by the sweep;
mapping rows are accepted), ``from_url`` for both drivers (lazy, owned, closed), the registry
backend, ownership, driver selection, and argument errors."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest
from postgres_testkit import pg_schema

from aibind.conformance import collect, new_id, within
from aibind.conformance.servers import Server
from aibind.core.errors import MissingDriverError, StoreClosedError
from aibind.core.registry import open_stores
from aibind.core.types import StreamChunk
from aibind.postgres import (
    PostgresClient,
    PostgresConversationStore,
    PostgresStreamStore,
    SupportsListen,
    wrap_asyncpg,
    wrap_psycopg,
)
from aibind.postgres._pool import UrlClient, pick_driver

__all__ = ["pg_schema"]


class QueryOnly:
    """The smallest PostgresClient, like the npm interface: query() returning dicts."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.queries: list[str] = []

    async def query(self, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
        self.queries.append(sql)
        return [dict(r) for r in await self.pool.fetch(sql, *params)]


async def test_plain_client_without_listen_is_swept(
    postgres_server: Server, pg_schema: str
) -> None:
    pool = await asyncpg.create_pool(postgres_server.url, min_size=1, max_size=2)
    client = QueryOnly(pool)
    assert isinstance(client, PostgresClient)
    assert not isinstance(client, SupportsListen)
    tables: dict[str, Any] = {"chunks_table": f"{pg_schema}.c", "status_table": f"{pg_schema}.s"}
    try:
        with pytest.raises(ValueError, match="poll_interval"):
            PostgresStreamStore(client, poll_interval=None)
        store = PostgresStreamStore(client, poll_interval=0.05, **tables)
        assert store._listener is None
        await store.setup()
        writer = PostgresStreamStore(QueryOnly(pool), **tables)
        sid = new_id()
        await writer.create(sid)
        reader = store.read_from(sid)
        waiting = asyncio.ensure_future(anext(reader))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        fetches = sum("UNION ALL" in q for q in client.queries)
        await asyncio.sleep(0.3)  # idle: the sweep runs, the follower does not poll
        assert sum("UNION ALL" in q for q in client.queries) == fetches
        await writer.append(sid, "swept")  # another store: no local wake-up, no NOTIFY heard
        assert await within(waiting, 5) == StreamChunk(1, "swept")
        await writer.complete(sid)
        with pytest.raises(StopAsyncIteration):
            await within(anext(reader), 5)
        await store.aclose()
        await writer.aclose()
    finally:
        await pool.close()


def _opened(client: UrlClient) -> bool:
    return client._pool is not None


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
async def test_from_url_opens_lazily_and_closes_its_pool(
    postgres_server: Server, pg_schema: str, driver: str
) -> None:
    store = PostgresStreamStore.from_url(
        postgres_server.url.replace("postgresql://", "postgres://", 1),
        driver=driver,
        chunks_table=f"{pg_schema}.c",
        status_table=f"{pg_schema}.s",
    )
    client = store.client
    assert isinstance(client, UrlClient)
    assert client.driver == driver
    assert not _opened(client)  # nothing connected yet
    await store.setup()  # opens on first use
    assert _opened(client)
    await store.create("s1")
    rows = await client.query("SELECT $1::text", ["x"])
    assert rows[0][0] == "x"
    await store.aclose()
    await store.aclose()
    with pytest.raises(StoreClosedError):
        await store.get_status("s1")
    with pytest.raises(StoreClosedError):
        await client.query("SELECT 1")


@pytest.mark.parametrize(
    "scheme", ["postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg"]
)
async def test_registry_backend(postgres_server: Server, pg_schema: str, scheme: str) -> None:
    url = scheme + "://" + postgres_server.url.split("://", 1)[1]
    url += f"?chunks_table={pg_schema}.c&status_table={pg_schema}.s"
    url += f"&conversation_table={pg_schema}.conv"
    async with open_stores(url, stream_options={"ttl": 60}) as stores:
        streams: Any = stores.streams
        conversations: Any = stores.conversations
        assert streams.client is conversations.client  # one pool for both
        assert streams.ttl == 60
        assert conversations.table.display == f"{pg_schema}.conv"
        await streams.setup()
        await conversations.setup()
        sid = new_id()
        await streams.create(sid)
        await streams.append(sid, "hi")
        await streams.complete(sid)
        assert [c.data for c in await collect(streams.read_from(sid))] == ["hi"]
        assert (await conversations.load("nobody")).is_empty
        if "+" in scheme:
            assert streams.client.driver == scheme.split("+")[1]
    with pytest.raises(StoreClosedError):
        await streams.get_status(sid)
    with pytest.raises(StoreClosedError):
        await conversations.load("nobody")


async def test_stores_never_close_a_client_passed_in(
    postgres_server: Server, pg_schema: str
) -> None:
    pool = await asyncpg.create_pool(postgres_server.url, min_size=1, max_size=2)
    try:
        tables: dict[str, Any] = {
            "chunks_table": f"{pg_schema}.c",
            "status_table": f"{pg_schema}.s",
        }
        store = PostgresStreamStore(wrap_asyncpg(pool), **tables)
        await store.setup()
        sid = new_id()
        await store.create(sid)
        follower = asyncio.create_task(collect(store.read_from(sid)))
        await asyncio.sleep(0.1)
        await store.aclose()
        with pytest.raises(StoreClosedError):
            await within(follower)
        conversations = PostgresConversationStore(pool, table=f"{pg_schema}.conv")
        async with conversations:
            await conversations.setup()
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()


def test_wrong_client_types() -> None:
    with pytest.raises(TypeError, match="client"):
        PostgresStreamStore(object())
    with pytest.raises(TypeError, match="client"):
        PostgresConversationStore(object())
    with pytest.raises(TypeError, match="target"):
        wrap_asyncpg(object())
    with pytest.raises(TypeError, match="target"):
        wrap_psycopg(object())


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="ttl"):
        PostgresStreamStore(QueryOnly(None), ttl=0)
    with pytest.raises(TypeError, match="poll_interval"):
        PostgresStreamStore(QueryOnly(None), poll_interval="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="driver"):
        PostgresStreamStore.from_url("postgresql://h/db", driver="pg8000")
    with pytest.raises(ValueError, match="disagrees"):
        PostgresStreamStore.from_url("postgresql+asyncpg://h/db", driver="psycopg")
    with pytest.raises(ValueError, match="postgresql://"):
        PostgresStreamStore.from_url("mysql://h/db")
    with pytest.raises(ValueError, match="min_size"):
        PostgresStreamStore.from_url("postgresql://h/db", min_size=5, max_size=2)
    with pytest.raises(ValueError, match="pool_timeout"):
        PostgresStreamStore.from_url("postgresql://h/db", pool_timeout=0)


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    with pytest.raises(MissingDriverError, match=r"aibind-postgres\[asyncpg\]"):
        pick_driver("asyncpg")
    assert pick_driver() == "psycopg"
    monkeypatch.setitem(sys.modules, "psycopg_pool", None)
    with pytest.raises(MissingDriverError, match=r"aibind-postgres\[psycopg\]"):
        PostgresStreamStore.from_url("postgresql://h/db")
    with pytest.raises(ImportError):  # MissingDriverError is an ImportError too
        pick_driver()
