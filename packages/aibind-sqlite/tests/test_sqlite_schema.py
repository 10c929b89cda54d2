"""The DDL (one source for setup(), `aibind schema sqlite` and schema/sqlite.sql), SchemaError on
missing tables, and table-name validation (no injection)."""

from __future__ import annotations

import sqlite3
from importlib.resources import files
from pathlib import Path

import pytest
from sqlite_helpers import raw_rows

from aibind.core.errors import SchemaError
from aibind.core.registry import available_backends, load_schema
from aibind.sqlite import SqliteConversationStore, SqliteStreamStore, schema_sql
from aibind.sqlite._schema import schema_statements

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_repository_schema_file_is_the_packaged_default() -> None:
    packaged = files("aibind.sqlite").joinpath("schema.sql").read_bytes()
    assert (REPO_ROOT / "schema" / "sqlite.sql").read_bytes() == packaged
    assert schema_sql().encode("utf-8") == packaged


def test_entry_points_are_registered() -> None:
    assert load_schema("sqlite") == schema_sql()
    assert available_backends()["sqlite"].value == "aibind.sqlite.backend:open_sqlite_stores"


def test_schema_is_the_npm_layout(tmp_path: Path) -> None:
    path = tmp_path / "layout.db"
    conn = sqlite3.connect(path)
    conn.executescript(schema_sql())
    conn.close()
    columns = {
        table: [(r[1], r[2], r[3], r[5]) for r in raw_rows(path, f"PRAGMA table_info({table})")]
        for table in ("aibind_stream_chunks", "aibind_stream_status", "aibind_conversations")
    }
    assert columns == {
        "aibind_stream_chunks": [
            ("id", "TEXT", 1, 1),
            ("seq", "INTEGER", 1, 2),
            ("data", "TEXT", 1, 0),
        ],
        "aibind_stream_status": [
            ("id", "TEXT", 0, 1),
            ("state", "TEXT", 1, 0),
            ("error", "TEXT", 0, 0),
            ("total_chunks", "INTEGER", 1, 0),
            ("expires_at", "INTEGER", 1, 0),
        ],
        "aibind_conversations": [
            ("session_id", "TEXT", 0, 1),
            ("data", "TEXT", 1, 0),
            ("expires_at", "INTEGER", 1, 0),
        ],
    }


def test_custom_names_render_quoted() -> None:
    text = schema_sql(chunks_table="c1", status_table="s1", conversations_table="v1")
    assert 'CREATE TABLE IF NOT EXISTS "c1"' in text
    assert 'CREATE TABLE IF NOT EXISTS "s1"' in text
    assert 'CREATE TABLE IF NOT EXISTS "v1"' in text
    assert "aibind_stream" not in text.split("\n\n", 1)[1]
    assert len(schema_statements(chunks_table="c1")) == 3


async def test_setup_is_idempotent_and_never_implicit(tmp_path: Path) -> None:
    path = tmp_path / "setup.db"
    async with SqliteStreamStore.from_url(f"sqlite:///{path}") as streams:
        with pytest.raises(SchemaError):
            await streams.create("s")
        assert raw_rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'") == []
        await streams.setup()
        await streams.setup()
        await streams.create("s")
    async with SqliteConversationStore.from_url(f"sqlite:///{path}") as conversations:
        await conversations.setup()
        await conversations.setup()
    names = {r[0] for r in raw_rows(path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert names == {"aibind_stream_chunks", "aibind_stream_status", "aibind_conversations"}


async def test_missing_tables_raise_schema_error(tmp_path: Path) -> None:
    async with SqliteStreamStore.from_url(f"sqlite:///{tmp_path / 'none.db'}") as store:
        for call in (
            lambda: store.create("s"),
            lambda: store.append("s", "x"),
            lambda: store.get_status("s"),
            lambda: store.cleanup(),
        ):
            with pytest.raises(SchemaError, match=r"setup\(\).*aibind schema sqlite") as info:
                await call()
            assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        with pytest.raises(SchemaError, match="aibind_stream_status"):
            async for _ in store.read_from("s"):
                pass
    async with SqliteConversationStore.from_url(f"sqlite:///{tmp_path / 'none.db'}") as conv:
        with pytest.raises(SchemaError, match="aibind_conversations"):
            await conv.load("s")
        with pytest.raises(SchemaError):
            await conv.cleanup()


BAD_NAMES = [
    "x; DROP TABLE y",
    'a"b',
    "1abc",
    "",
    "with space",
    "sqlite_master",
    "t" * 64,
    "ünï",
]


@pytest.mark.parametrize("bad", BAD_NAMES)
@pytest.mark.parametrize("option", ["chunks_table", "status_table"])
def test_bad_stream_table_names_are_rejected(tmp_path: Path, option: str, bad: str) -> None:
    conn = sqlite3.connect(tmp_path / "inj.db", check_same_thread=False)
    with pytest.raises(ValueError, match=option):
        SqliteStreamStore(conn, **{option: bad})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=option):
        SqliteStreamStore(conn, **{option: 5})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=option):
        schema_sql(**{option: bad})
    conn.close()


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_bad_conversation_table_names_are_rejected(tmp_path: Path, bad: str) -> None:
    conn = sqlite3.connect(tmp_path / "inj.db", check_same_thread=False)
    with pytest.raises(ValueError, match="table"):
        SqliteConversationStore(conn, table=bad)
    conn.close()
    assert raw_rows(tmp_path / "inj.db", "SELECT name FROM sqlite_master") == []


def test_same_table_twice_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="differ"):
        SqliteStreamStore.from_url(f"sqlite:///{tmp_path}/x.db", chunks_table="t", status_table="t")


async def test_custom_and_keyword_table_names_work(tmp_path: Path) -> None:
    path = tmp_path / "custom.db"
    url = f"sqlite:///{path}"
    async with SqliteStreamStore.from_url(url, chunks_table="select", status_table="order") as s:
        await s.setup()
        await s.create("a")
        assert await s.append_many("a", ["1", "2"]) == 2
        await s.complete("a")
        assert [c.data async for c in s.read_from("a")] == ["1", "2"]
    async with SqliteConversationStore.from_url(url, table="group") as conv:
        await conv.setup()
        assert (await conv.load("nobody")).is_empty
    names = {r[0] for r in raw_rows(path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert names == {"select", "order", "group"}
    assert raw_rows(path, 'SELECT id, seq, data FROM "select" ORDER BY seq') == [
        ("a", 1, "1"),
        ("a", 2, "2"),
    ]
