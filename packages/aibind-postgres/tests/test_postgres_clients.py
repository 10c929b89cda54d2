"""Clients: the PostgresClient protocol (a plain client without LISTEN falls back to
polling), from_url for both drivers, the registry backend, ownership and closing, driver
selection, and argument errors."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest
from postgres_testkit import pg_schema

from aibind.conformance import collect, new_id, within
from aibind.conformance.servers import Server
from aibind.core.errors import StoreClosedError
from aibind.core.registry import open_stores
from aibind.core.types import StreamChunk
from aibind.postgres import (
    MissingDriverError,
    PostgresClient,
    PostgresStreamStore,
    from_url,
    wrap_asyncpg,
    wrap_psycopg,
)
from aibind.postgres.connect import pick_driver

__all__ = ["pg_schema"]


class QueryOnly:
    """The smallest PostgresClient: query() over an asyncpg pool, returning dicts."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def query(self, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.pool.fetch(sql, *params)]


async def test_plain_client_without_listen_polls(postgres_server: Server, pg_schema: str) -> None:
    pool = await asyncpg.create_pool(postgres_server.url, min_size=1, max_size=2)
    client = QueryOnly(pool)
    assert isinstance(client, PostgresClient)
    try:
        with pytest.raises(ValueError, match="poll_interval"):
            PostgresStreamStore(client, poll_interval=None)
        store = PostgresStreamStore(
            client,
            chunks_table=f"{pg_schema}.c",
            status_table=f"{pg_schema}.s",
            poll_interval=0.02,
        )
        assert store.listener is None
        await store.setup()
        writer = PostgresStreamStore(
            QueryOnly(pool), chunks_table=f"{pg_schema}.c", status_table=f"{pg_schema}.s"
        )
        sid = new_id()
        await writer.create(sid)
        reader = store.read_from(sid)
        waiting = __import__("asyncio").ensure_future(anext(reader))
        await writer.append(sid, "polled")  # another store: no local wake-up, only polling
        assert await within(waiting, 5) == StreamChunk(1, "polled")
        await writer.complete(sid)
        with pytest.raises(StopAsyncIteration):
            await within(anext(reader), 5)
    finally:
        await pool.close()


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
async def test_from_url_opens_and_closes_its_pool(
    postgres_server: Server, pg_schema: str, driver: str
) -> None:
    async with from_url(postgres_server.url, driver=driver, max_size=2) as db:
        assert db.driver == driver
        rows = await db.query("SELECT $1::text AS v", ["x"])
        assert rows[0]["v"] == "x"
    with pytest.raises(StoreClosedError):
        await db.query("SELECT 1")
    store = PostgresStreamStore.from_url(
        postgres_server.url.replace("postgresql://", "postgres://", 1),
        driver=driver,
        chunks_table=f"{pg_schema}.c",
        status_table=f"{pg_schema}.s",
    )
    await store.setup()  # opens lazily without `async with`
    await store.create("s1")
    await store.aclose()
    await store.aclose()
    with pytest.raises(StoreClosedError):
        await store.get_status("s1")


@pytest.mark.parametrize(
    "scheme", ["postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg"]
)
async def test_registry_backend(postgres_server: Server, pg_schema: str, scheme: str) -> None:
    url = scheme + "://" + postgres_server.url.split("://", 1)[1]
    options = {"chunks_table": f"{pg_schema}.c", "status_table": f"{pg_schema}.s", "ttl": 60}
    async with open_stores(
        url, stream_options=options, conversation_options={"table": f"{pg_schema}.conv"}
    ) as stores:
        streams: Any = stores.streams
        conversations: Any = stores.conversations
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


async def test_stores_never_close_a_client_passed_in(
    postgres_server: Server, pg_schema: str
) -> None:
    pool = await asyncpg.create_pool(postgres_server.url, min_size=1, max_size=2)
    try:
        store = PostgresStreamStore(
            wrap_asyncpg(pool), chunks_table=f"{pg_schema}.c", status_table=f"{pg_schema}.s"
        )
        await store.setup()
        await store.aclose()
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()


def test_wrong_client_types() -> None:
    with pytest.raises(TypeError, match="client"):
        PostgresStreamStore(object())
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
        from_url("postgresql://h/db", driver="pg8000")
    with pytest.raises(ValueError, match="postgresql://"):
        from_url("mysql://h/db")


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
