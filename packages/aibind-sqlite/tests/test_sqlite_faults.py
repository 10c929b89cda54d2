"""The SQLite fault matrix (DESIGN.md "One error model"): each fault gives the documented
:mod:`aibind.core.errors` class, chained to the driver's exception, and loses nothing stored.

| fault                                        | error                          |
| -------------------------------------------- | ------------------------------ |
| file cannot be opened (missing folder)       | BackendUnavailableError        |
| connection closed under the store            | StoreClosedError               |
| another process holds the write lock too long | BackendTimeoutError            |
| stored text that is not UTF-8                | CorruptDataError               |
| missing tables                               | SchemaError (says how to fix)  |
| constraint violation                         | SqliteError (a BackendError)   |
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import pytest
from sqlite_helpers import make_db, raw_rows

from aibind.core.errors import (
    AibindError,
    BackendTimeoutError,
    BackendUnavailableError,
    CorruptDataError,
    SchemaError,
    StoreClosedError,
)
from aibind.core.types import StreamStatus
from aibind.sqlite import SqliteConversationStore, SqliteStreamStore, wrap_sqlite3

pytestmark = pytest.mark.faults


async def test_unopenable_file(tmp_path: Path) -> None:
    store = SqliteStreamStore.from_url(f"sqlite:///{tmp_path / 'missing' / 'a.db'}")
    with pytest.raises(BackendUnavailableError, match="does not exist") as info:
        async with store:
            pass
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    not_a_db = tmp_path / "text.db"
    not_a_db.write_text("this is not a database" * 100)
    other = SqliteStreamStore.from_url(f"sqlite:///{not_a_db}")
    with pytest.raises(BackendUnavailableError, match="not a database") as info:
        await other.get_status("s")
    assert str(not_a_db) in str(info.value)
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)
    await other.aclose()


async def test_connection_closed_under_the_store(tmp_path: Path) -> None:
    path = tmp_path / "closed.db"
    make_db(path)
    conn = sqlite3.connect(path, check_same_thread=False)
    client = wrap_sqlite3(conn)
    store = SqliteStreamStore(client)
    await store.create("s")
    conn.close()  # the caller closed the connection the store uses
    with pytest.raises(StoreClosedError, match="closed") as info:
        await store.append("s", "x")
    assert isinstance(info.value.__cause__, sqlite3.ProgrammingError)
    await store.aclose()
    await client.aclose()


HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


async def test_another_process_holding_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    make_db(path)
    async with SqliteStreamStore.from_url(f"sqlite:///{path}?busy_timeout=0.3") as store:
        await store.create("s")
        holder = await asyncio.create_subprocess_exec(
            sys.executable, "-c", HOLDER, str(path), "3", stdout=asyncio.subprocess.PIPE
        )
        try:
            assert holder.stdout is not None
            assert (await holder.stdout.readline()).strip() == b"locked"
            with pytest.raises(BackendTimeoutError, match="busy_timeout") as info:
                await store.append("s", "x")
            assert isinstance(info.value.__cause__, sqlite3.OperationalError)
            assert isinstance(info.value, TimeoutError)
            # reads go on while the writer waits (WAL)
            assert await store.get_status("s") == StreamStatus("active", 0, None)
        finally:
            holder.kill()
            await holder.wait()
        assert await store.append("s", "x") == 1


async def test_undecodable_stored_text(tmp_path: Path) -> None:
    path = tmp_path / "bytes.db"
    make_db(path)
    async with SqliteStreamStore.from_url(f"sqlite:///{path}") as store:
        await store.create("s")
        await store.append("s", "good")
        raw_rows(path, "INSERT INTO aibind_stream_chunks VALUES ('s', 2, CAST(x'fffe' AS TEXT))")
        raw_rows(path, "UPDATE aibind_stream_status SET total_chunks = 2")
        with pytest.raises(CorruptDataError, match="UTF-8") as info:
            [c async for c in store.read_from("s")]
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    async with SqliteConversationStore.from_url(f"sqlite:///{path}") as conversations:
        raw_rows(
            path,
            "INSERT INTO aibind_conversations VALUES ('c', CAST(x'7bff' AS TEXT), 9e15)",
        )
        with pytest.raises(CorruptDataError):
            await conversations.load("c")
    assert raw_rows(path, "SELECT count(*) FROM aibind_conversations") == [(1,)]


async def test_missing_tables(tmp_path: Path) -> None:
    async with SqliteStreamStore.from_url(f"sqlite:///{tmp_path / 'empty.db'}") as store:
        with pytest.raises(SchemaError, match=r"setup\(\)") as info:
            await store.create("s")
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        with pytest.raises(SchemaError, match="aibind schema sqlite"):
            [c async for c in store.read_from("s")]


async def test_corrupt_stored_status(tmp_path: Path) -> None:
    path = tmp_path / "status.db"
    make_db(path)
    async with SqliteStreamStore.from_url(f"sqlite:///{path}") as store:
        for sid, state, total in [("neg", "active", -3), ("odd", "paused", 0)]:
            raw_rows(
                path,
                "INSERT INTO aibind_stream_status VALUES (?, ?, NULL, ?, 9e15)",
                (sid, state, total),
            )
            with pytest.raises(CorruptDataError, match=sid):
                await store.get_status(sid)
            with pytest.raises(CorruptDataError):
                [c async for c in store.read_from(sid)]


async def test_no_raw_driver_error_reaches_the_caller(tmp_path: Path) -> None:
    """Every failure above is an AibindError (or an argument error), never a driver error."""
    path = tmp_path / "matrix.db"
    async with SqliteStreamStore.from_url(f"sqlite:///{path}") as store:
        for call in (store.create("s"), store.get_status("s"), store.stop("s")):
            with pytest.raises(AibindError):
                await asyncio.wait_for(call, 10)


async def test_failed_open_prints_one_typed_error_and_nothing_else(tmp_path: Path) -> None:
    """The CLI on an unopenable file: one line, the typed error; no traceback, and no
    'Event loop is closed' from a driver thread afterwards (issue #7 item 16)."""
    url = f"sqlite:///{tmp_path / 'missing' / 'x.db'}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aibind.core.cli",
        "status",
        url,
        "s1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    lines = err.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("aibind: error: cannot open the SQLite database")
    assert "does not exist" in lines[0]
    assert out == b""
