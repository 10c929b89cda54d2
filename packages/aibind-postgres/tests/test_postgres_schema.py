"""The DDL: one source (``schema_sql``) for ``setup()``, ``aibind schema postgres`` and the
repository's ``schema/postgres.sql``; setup is idempotent and safe to race; missing tables are
a ``SchemaError`` that says how to create them; the npm package's SQL reads what we write and
we read what it writes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest
from postgres_testkit import admin, pg_schema

from aibind.conformance import collect, new_id
from aibind.conformance.servers import Server
from aibind.core.errors import SchemaError
from aibind.core.registry import load_schema
from aibind.core.types import StreamStatus
from aibind.postgres import PostgresConversationStore, PostgresStreamStore, schema_sql

__all__ = ["pg_schema"]

REPO_SCHEMA = Path(__file__).resolve().parents[3] / "schema" / "postgres.sql"


def test_repository_schema_file_is_schema_sql() -> None:
    assert REPO_SCHEMA.read_text(encoding="utf-8") == schema_sql(), (
        "schema/postgres.sql is out of date: regenerate it with `aibind schema postgres`"
    )


def test_registry_serves_the_same_ddl() -> None:
    assert load_schema("postgres") == schema_sql()


async def test_schema_file_runs_and_stores_use_its_tables(
    postgres_server: Server, pg_schema: str
) -> None:
    conn = await asyncpg.connect(postgres_server.url, server_settings={"search_path": pg_schema})
    try:
        await conn.execute(schema_sql())
        await conn.execute(schema_sql())  # idempotent
        streams = PostgresStreamStore(conn)  # default, unqualified names on the search_path
        sid = new_id()
        await streams.create(sid)
        await streams.append(sid, "x")
        assert await streams.get_status(sid) == StreamStatus("active", 1, None)
        await streams.aclose()
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1", pg_schema
        )
        assert [r[0] for r in tables] == [
            "aibind_conversations",
            "aibind_stream_chunks",
            "aibind_stream_status",
        ]
    finally:
        await conn.close()


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
async def test_missing_tables_raise_schema_error(
    postgres_server: Server, pg_schema: str, driver: str
) -> None:
    async with PostgresStreamStore.from_url(
        postgres_server.url,
        driver=driver,
        chunks_table=f"{pg_schema}.my_chunks",
        status_table=f"{pg_schema}.my_status",
    ) as store:
        with pytest.raises(SchemaError, match=r"my_status.*setup\(\)") as info:
            await store.create("s")
        assert info.value.__cause__ is not None
        with pytest.raises(SchemaError):
            await store.get_status("s")
        with pytest.raises(SchemaError):
            await collect(store.read_from("s"))
        await store.setup()
        await store.setup()
        await store.create("s")
    async with PostgresConversationStore.from_url(
        postgres_server.url, driver=driver, table=f"{pg_schema}.my_conversations"
    ) as conversations:
        with pytest.raises(SchemaError, match="my_conversations"):
            await conversations.load("s")
        async with PostgresStreamStore.from_url(
            postgres_server.url, driver=driver, chunks_table="no_such_schema_x.c"
        ) as other:
            with pytest.raises(SchemaError, match="no_such_schema_x"):
                await other.setup()


async def test_concurrent_setup_calls_do_not_collide(
    postgres_server: Server, pg_schema: str
) -> None:
    stores = [
        PostgresStreamStore.from_url(
            postgres_server.url,
            chunks_table=f"{pg_schema}.c",
            status_table=f"{pg_schema}.s",
        )
        for _ in range(6)
    ]
    try:
        await asyncio.gather(*(s.setup() for s in stores))
        await stores[0].create("ok")
    finally:
        for s in stores:
            await s.aclose()


async def test_npm_sql_and_ours_share_the_tables(postgres_server: Server, pg_schema: str) -> None:
    """Rows written with the npm package's statements are read by our store, and the npm
    package's read statements see what our store wrote (DESIGN.md "Wire formats")."""
    conn = await admin(postgres_server)
    status, chunks = f'"{pg_schema}".aibind_stream_status', f'"{pg_schema}".aibind_stream_chunks'
    store = PostgresStreamStore(
        conn,
        chunks_table=f"{pg_schema}.aibind_stream_chunks",
        status_table=(pg_schema, "aibind_stream_status"),
    )
    try:
        await store.setup()
        # npm create() and append() (postgres-stream-store.ts), with Date.now() + ttlMs.
        await conn.execute(
            f"INSERT INTO {status} (id, state, total_chunks, expires_at) "
            "VALUES ($1, 'active', 0, $2)",
            "from-node",
            int(time.time() * 1000) + 300_000,
        )
        for piece in ["Hel", "lo"]:
            await conn.fetch(
                f"""WITH upd AS (UPDATE {status} SET total_chunks = total_chunks + 1
                WHERE id = $1 AND state = 'active' RETURNING total_chunks)
                INSERT INTO {chunks} (id, seq, data) SELECT $1, upd.total_chunks, $2 FROM upd
                RETURNING seq""",
                "from-node",
                piece,
            )
        await conn.execute(
            f"UPDATE {status} SET state = $1, error = $2 WHERE id = $3 AND state = 'active'",
            "done",
            None,
            "from-node",
        )
        assert [c.data for c in await collect(store.read_from("from-node"))] == ["Hel", "lo"]
        assert await store.get_status("from-node") == StreamStatus("done", 2, None)

        await store.create("from-python")
        await store.append_many("from-python", ["a", "b"])
        await store.fail("from-python", "boom")
        row = await conn.fetchrow(
            f"SELECT state, error, total_chunks FROM {status} WHERE id = $1", "from-python"
        )
        assert row is not None
        assert tuple(row) == ("error", "boom", 2)
        rows = await conn.fetch(
            f"SELECT seq, data FROM {chunks} WHERE id = $1 AND seq > $2 ORDER BY seq",
            "from-python",
            0,
        )
        assert [tuple(r) for r in rows] == [(1, "a"), (2, "b")]
    finally:
        await store.aclose()
        await conn.close()
