"""The SqliteClient adapters: thread ownership, atomic batches, busy retries, error wrapping,
and that stores never close a connection they were given."""

from __future__ import annotations

import asyncio
import importlib
import itertools
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlite_helpers import HAS_LIBSQL, make_db, open_aiosqlite, raw_rows

from aibind.core.errors import BackendTimeoutError, StoreClosedError
from aibind.core.types import StreamStatus
from aibind.sqlite import (
    SqliteClient,
    SqliteError,
    SqliteStreamStore,
    schema_sql,
    wrap_libsql,
    wrap_sqlite3,
)


def test_sqlite3_connection_bound_to_another_thread_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.db")
    with pytest.raises(ValueError, match="check_same_thread=False"):
        wrap_sqlite3(conn)
    conn.close()


def test_unknown_client_type_is_refused() -> None:
    with pytest.raises(TypeError, match="client"):
        SqliteStreamStore(object())
    with pytest.raises(TypeError, match="connection"):
        wrap_sqlite3("app.db")  # type: ignore[arg-type]


async def test_adapters_satisfy_the_protocol(tmp_path: Path) -> None:
    make_db(tmp_path / "p.db")
    client = wrap_sqlite3(sqlite3.connect(tmp_path / "p.db", check_same_thread=False))
    assert isinstance(client, SqliteClient)
    assert [tuple(r) for r in await client.execute("SELECT ? + 1", (1,))] == [(2,)]
    await client.aclose()


async def test_batch_is_all_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    make_db(path)
    conn = sqlite3.connect(path, check_same_thread=False)
    client = wrap_sqlite3(conn)
    insert = "INSERT INTO aibind_stream_status (id, expires_at) VALUES (?, 0)"
    with pytest.raises(sqlite3.IntegrityError):
        await client.batch([(insert, ("a",)), (insert, ("a",))])
    assert raw_rows(path, "SELECT id FROM aibind_stream_status") == []
    assert not conn.in_transaction
    await client.batch([(insert, ("a",)), (insert, ("b",))])
    assert len(raw_rows(path, "SELECT id FROM aibind_stream_status")) == 2
    await client.aclose()
    conn.close()


async def test_driver_errors_are_wrapped_and_nothing_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "check.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE aibind_stream_chunks (id TEXT NOT NULL, seq INTEGER NOT NULL, "
        "data TEXT NOT NULL CHECK (length(data) < 4), PRIMARY KEY (id, seq));"
        + schema_sql().split(";", 1)[1]
    )
    conn.close()
    store = SqliteStreamStore(await open_aiosqlite(str(path)))
    try:
        await store.create("s")
        await store.append("s", "ok")
        with pytest.raises(SqliteError, match="CHECK") as info:
            await store.append("s", "too long")
        assert isinstance(info.value.__cause__, sqlite3.IntegrityError)
        with pytest.raises(SqliteError):
            await store.append_many("s", ["a", "too long"])
        assert await store.get_status("s") == StreamStatus("active", 1, None)
    finally:
        await store.aclose()
        await store.client.connection.close()  # type: ignore[attr-defined]


async def test_aiosqlite_connection_is_wrapped_and_left_open(tmp_path: Path) -> None:
    path = tmp_path / "aio.db"
    make_db(path)
    conn = await open_aiosqlite(str(path))
    async with SqliteStreamStore(conn) as store:
        await store.create("s")
        assert await store.append("s", "x") == 1
    assert [
        tuple(r) for r in await conn.execute_fetchall("SELECT count(*) FROM aibind_stream_chunks")
    ] == [(1,)]
    await conn.close()


async def test_busy_database_is_retried(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    make_db(path)
    holder = sqlite3.connect(path, isolation_level=None)
    # timeout=0: SQLite's own busy handler gives up at once, so only the adapter retries
    conn = sqlite3.connect(path, check_same_thread=False, timeout=0)
    store = SqliteStreamStore(wrap_sqlite3(conn, busy_timeout=10.0))
    await store.create("s")
    holder.execute("BEGIN IMMEDIATE")
    task = asyncio.create_task(store.append("s", "x"))
    await asyncio.sleep(0.3)
    holder.execute("COMMIT")
    assert await asyncio.wait_for(task, 10) == 1
    await store.aclose()
    await store.client.aclose()  # type: ignore[attr-defined]
    conn.close()
    holder.close()


async def test_busy_past_the_timeout_raises_a_timeout(tmp_path: Path) -> None:
    path = tmp_path / "busy2.db"
    make_db(path)
    holder = sqlite3.connect(path, isolation_level=None)
    conn = sqlite3.connect(path, check_same_thread=False, timeout=0)
    client = wrap_sqlite3(conn, busy_timeout=0.2)
    store = SqliteStreamStore(client)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(BackendTimeoutError, match="locked") as info:
        await store.create("s")
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    holder.execute("ROLLBACK")
    await store.create("s")
    await client.aclose()
    conn.close()
    holder.close()


async def test_two_stores_sharing_one_sqlite3_connection(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    make_db(path)
    conn = sqlite3.connect(path, check_same_thread=False)
    stores = [SqliteStreamStore(conn), SqliteStreamStore(conn)]
    await stores[0].create("s")

    async def writer(store: SqliteStreamStore) -> list[int]:
        return [await store.append("s", "x") for _ in range(50)]

    results = await asyncio.gather(*(writer(s) for s in stores))
    seqs = sorted(itertools.chain.from_iterable(results))
    assert seqs == list(range(1, 101))
    for store in stores:
        await store.aclose()
    # the stores released their adapters, never the caller's connection
    assert conn.execute("SELECT total_chunks FROM aibind_stream_status").fetchall() == [(100,)]
    with pytest.raises(StoreClosedError):
        await stores[0].get_status("s")
    conn.close()


@pytest.mark.skipif(not HAS_LIBSQL, reason="libsql is not installed")
async def test_libsql_adapter(tmp_path: Path) -> None:
    libsql = importlib.import_module("libsql")
    path = tmp_path / "libsql.db"
    make_db(path)
    conn = libsql.connect(str(path))
    client = wrap_libsql(conn)
    store = SqliteStreamStore(client)
    await store.create("s")
    assert await store.append_many("s", ["a", "b"]) == 2
    await store.complete("s")
    assert [c.data async for c in store.read_from("s")] == ["a", "b"]
    await store.aclose()
    await client.aclose()
    assert raw_rows(path, "SELECT count(*) FROM aibind_stream_chunks") == [(2,)]
    conn.close()


@pytest.mark.skipif(not HAS_LIBSQL, reason="libsql is not installed")
async def test_libsql_busy_wait_does_not_stall_the_lock_holder(tmp_path: Path) -> None:
    # libsql waits for a lock holding the GIL (5 s by default), so the thread holding the lock
    # could not commit until that wait failed; the adapter must turn the native wait off.
    libsql = importlib.import_module("libsql")
    path = tmp_path / "libsql-busy.db"
    make_db(path)
    conn = libsql.connect(str(path))
    client = wrap_libsql(conn, busy_timeout=3.0)
    assert conn.execute("PRAGMA busy_timeout").fetchall() == [(0,)]
    store = SqliteStreamStore(client)
    await store.create("s")
    holder = libsql.connect(str(path))
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    assert await asyncio.wait_for(store.append("s", "x"), 10) == 1
    release.join()
    await store.aclose()
    await client.aclose()
    conn.close()
    holder.close()


async def _hold_worker(client: object, seconds: float) -> asyncio.Future[object]:
    """Occupy the client's worker thread (so the next calls queue up behind it)."""
    worker = client._worker  # type: ignore[attr-defined]
    held = worker.submit(lambda: __import__("time").sleep(seconds))
    await asyncio.sleep(0.01)
    return held  # type: ignore[no-any-return]


async def test_concurrent_batches_commit_together_and_fail_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches queued together run in one transaction, each in its own savepoint: a failing
    # batch is rolled back entirely (its first statement too), the others are committed.
    adapters = importlib.import_module("aibind.sqlite._adapters")
    groups: list[int] = []
    run_batches = adapters.run_batches

    def counting(conn: object, batches: list[object], timeout: float) -> object:
        groups.append(len(batches))
        return run_batches(conn, batches, timeout)

    monkeypatch.setattr(adapters, "run_batches", counting)
    path = tmp_path / "g.db"
    make_db(path)
    conn = sqlite3.connect(path, check_same_thread=False)
    client = wrap_sqlite3(conn)
    insert = "INSERT INTO aibind_stream_status (id, expires_at) VALUES (?, 0)"
    held = await _hold_worker(client, 0.2)
    calls = [client.batch([(insert, (f"s{i}",)), (insert, (f"t{i}",))]) for i in range(10)]
    calls.append(client.batch([(insert, ("x",)), (insert, ("s3",))]))  # conflicts with s3
    calls += [client.batch([(insert, (f"u{i}",))]) for i in range(5)]
    tasks = [asyncio.ensure_future(c) for c in calls]
    await held
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(outcomes[10], sqlite3.IntegrityError)
    assert all(not isinstance(o, BaseException) for i, o in enumerate(outcomes) if i != 10)
    ids = {r[0] for r in raw_rows(path, "SELECT id FROM aibind_stream_status")}
    expected = {f"{p}{i}" for p in "st" for i in range(10)} | {f"u{i}" for i in range(5)}
    assert ids == expected  # "x" rolled back with its batch
    assert groups == [16]  # all queued behind the held worker: one transaction
    assert not conn.in_transaction
    await client.aclose()
    conn.close()


async def test_a_batch_cancelled_before_it_runs_is_not_applied(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    make_db(path)
    conn = sqlite3.connect(path, check_same_thread=False)
    client = wrap_sqlite3(conn)
    insert = "INSERT INTO aibind_stream_status (id, expires_at) VALUES (?, 0)"
    held = await _hold_worker(client, 0.2)
    cancelled = asyncio.ensure_future(client.batch([(insert, ("gone",))]))
    kept = asyncio.ensure_future(client.batch([(insert, ("kept",))]))
    await asyncio.sleep(0.01)
    cancelled.cancel()
    await held
    await kept
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert [r[0] for r in raw_rows(path, "SELECT id FROM aibind_stream_status")] == ["kept"]
    await client.aclose()
    conn.close()
