"""The DDL: one source (``schema_sql``) for ``setup()``, ``aibind schema postgres`` and the
repository's ``schema/postgres.sql``; setup is idempotent and safe to race; missing tables are
a ``SchemaError`` that says how to create them; the npm package's SQL reads what we write and
we read what it writes; table options that cannot work are refused up front, and a 63-byte
table name still gets its ``expires_at`` index (issue #7 item 13)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from postgres_testkit import admin, pg_schema

from aibind.conformance import collect, new_id
from aibind.conformance.servers import Server
from aibind.core.errors import SchemaError, StreamExistsError
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
        with pytest.raises(StreamExistsError):
            await store.create("from-node")
        rows = await conn.fetch(
            f"SELECT seq, data FROM {chunks} WHERE id = $1 AND seq > $2 ORDER BY seq",
            "from-python",
            0,
        )
        assert [tuple(r) for r in rows] == [(1, "a"), (2, "b")]
    finally:
        await store.aclose()
        await conn.close()


def test_chunks_table_and_status_table_must_differ() -> None:
    class NoClient:
        async def query(self, sql: str, params: Any = ()) -> list[Any]:
            raise AssertionError("a refused option must not reach the database")

    for same in ("t", "app.t", ("app", "t")):
        with pytest.raises(ValueError, match="two different tables"):
            PostgresStreamStore(NoClient(), chunks_table=same, status_table=same)
    with pytest.raises(ValueError, match="two different tables"):
        PostgresStreamStore(NoClient(), chunks_table="app.t", status_table=("app", "t"))
    PostgresStreamStore(NoClient(), chunks_table="app.t", status_table="other.t")


async def _indexes(conn: asyncpg.Connection[Any], schema: str) -> dict[str, set[str]]:
    rows = await conn.fetch(
        "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = $1", schema
    )
    found: dict[str, set[str]] = {}
    for table, index in rows:
        found.setdefault(table, set()).add(index)
    return found


async def test_63_byte_table_names_get_their_expires_at_index(
    postgres_server: Server, pg_schema: str
) -> None:
    # Two 63-byte names that share their first 60 bytes: a plain truncation of
    # "<name>_expires_at_idx" would give both the same index name, equal to the table's.
    status_a, status_b = "s" * 60 + "_aa", "s" * 60 + "_bb"
    conversations = "c" * 61 + "ü"  # 63 bytes in UTF-8, a multi-byte character at the end
    conn = await admin(postgres_server)
    try:
        for status in (status_a, status_b):
            store = PostgresStreamStore(
                conn, chunks_table=(pg_schema, status[:40] + "_c"), status_table=(pg_schema, status)
            )
            await store.setup()
            await store.setup()  # idempotent
            await store.create("x")
            await store.aclose()
        conv = PostgresConversationStore(conn, table=(pg_schema, conversations))
        await conv.setup()
        await conv.aclose()
        indexes = await _indexes(conn, pg_schema)
        names = set()
        for table in (status_a, status_b, conversations):
            expiry = {i for i in indexes[table] if i.endswith("_expires_at_idx")}
            assert len(expiry) == 1, f"{table}: {indexes[table]}"
            (index,) = expiry
            names.add(index)
            assert index.endswith("_expires_at_idx")
            assert len(index.encode()) <= 63
            columns = await conn.fetchval(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = $2",
                pg_schema,
                index,
            )
            assert "(expires_at)" in columns
        assert len(names) == 3
    finally:
        await conn.close()
