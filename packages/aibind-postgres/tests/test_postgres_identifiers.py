"""Table options are validated and quoted as identifiers, never pasted: a hostile name like
``x"; DROP TABLE t; --`` names a strange table, and nothing else in the database changes."""

from __future__ import annotations

from typing import Any

import pytest
from postgres_testkit import admin, pg_schema

from aibind.conformance import collect, new_id
from aibind.conformance.servers import Server
from aibind.postgres import PostgresConversationStore, PostgresStreamStore
from aibind.postgres._idents import fit_identifier, quote_identifier, table_name

__all__ = ["pg_schema"]

HOSTILE = [
    'x"; DROP TABLE t; --',
    "y'); DROP TABLE t; --",
    'Mixed Case "quoted" ☃',
]


async def _catalog(server: Server, own_schema: str) -> set[tuple[str, str, str]]:
    """Every relation of the database outside the per-test schemas, plus our own schema's."""
    conn = await admin(server)
    try:
        rows = await conn.fetch(
            "SELECT n.nspname, c.relname, c.relkind::text FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname <> 'pg_toast' "
            "AND (n.nspname NOT LIKE 'aibind\\_t\\_%' OR n.nspname = $1)",
            own_schema,
        )
    finally:
        await conn.close()
    return {(r[0], r[1], r[2]) for r in rows}


@pytest.mark.parametrize("kind", ["psycopg", "asyncpg"])
async def test_hostile_table_names_are_quoted_harmlessly(
    postgres_server: Server, pg_schema: str, kind: str
) -> None:
    conn = await admin(postgres_server)
    try:
        await conn.execute(f'CREATE TABLE "{pg_schema}".t (v text)')
        await conn.execute(f"INSERT INTO \"{pg_schema}\".t VALUES ('canary')")
    finally:
        await conn.close()
    before = await _catalog(postgres_server, pg_schema)

    options: dict[str, Any] = {
        "chunks_table": f"{pg_schema}.{HOSTILE[0]}",
        "status_table": (pg_schema, HOSTILE[1]),
    }
    async with PostgresStreamStore.from_url(postgres_server.url, driver=kind, **options) as s:
        await s.setup()
        sid = new_id()
        await s.create(sid)
        await s.append(sid, "a")
        await s.append_many(sid, ["b", "c"])
        await s.complete(sid)
        assert [c.data for c in await collect(s.read_from(sid))] == ["a", "b", "c"]
        await s.delete(sid)
        assert await s.cleanup() == 0
    async with PostgresConversationStore.from_url(
        postgres_server.url, driver=kind, table=(pg_schema, HOSTILE[2])
    ) as conversations:
        await conversations.setup()
        assert (await conversations.load("x")).is_empty

    after = await _catalog(postgres_server, pg_schema)
    created = after - before
    assert before <= after, f"relations vanished: {before - after}"
    assert {name for schema, name, kind_ in created if kind_ == "r"} == set(HOSTILE)
    assert all(schema == pg_schema for schema, _, _ in created)
    conn = await admin(postgres_server)
    try:
        assert await conn.fetchval(f'SELECT v FROM "{pg_schema}".t') == "canary"
    finally:
        await conn.close()


def test_derived_names_fit_and_never_collide() -> None:
    assert fit_identifier("aibind_stream_status", "_expires_at_idx") == (
        "aibind_stream_status_expires_at_idx"
    )
    long_a, long_b = "t" * 60 + "_aa", "t" * 60 + "_bb"
    a, b = fit_identifier(long_a, "_expires_at_idx"), fit_identifier(long_b, "_expires_at_idx")
    assert a != b
    assert a != long_a
    assert b != long_b
    assert max(len(a.encode()), len(b.encode())) <= 63
    assert a.endswith("_expires_at_idx")
    wide = "☃" * 21  # 63 bytes
    derived = fit_identifier(wide, "_x", prefix="aibind:")
    assert derived.startswith("aibind:☃")
    assert derived.endswith("_x")
    assert len(derived.encode()) <= 63
    derived.encode().decode()  # cut at a character boundary


def test_quote_identifier_doubles_quotes() -> None:
    assert quote_identifier("plain") == '"plain"'
    assert quote_identifier('x"; DROP TABLE t; --') == '"x""; DROP TABLE t; --"'
    assert table_name("app.my_chunks", "t").sql == '"app"."my_chunks"'
    assert table_name(("a.b", "c"), "t").sql == '"a.b"."c"'
    assert table_name("MyTable", "t").display == "MyTable"


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ("", ValueError),
        ("app.", ValueError),
        (".tbl", ValueError),
        ("nul\x00", ValueError),
        ("x" * 64, ValueError),
        (("only-one",), TypeError),
        (3, TypeError),
        (None, TypeError),
    ],
)
def test_bad_table_options_are_rejected(bad: object, error: type[Exception]) -> None:
    class NoClient:
        async def query(self, sql: str, params: Any = ()) -> list[Any]:
            raise AssertionError("a rejected option must not reach the database")

    with pytest.raises(error, match="chunks_table"):
        PostgresStreamStore(NoClient(), chunks_table=bad)  # type: ignore[arg-type]
    with pytest.raises(error, match="table"):
        PostgresConversationStore(NoClient(), table=bad)  # type: ignore[arg-type]
