"""The fault matrix (issue #11 "What it must show" 2; docs/errors.md, PostgreSQL section), on a
private server the tests may starve and kill, through both drivers: each fault gives its
documented :class:`~aibind.core.errors.AibindError` subclass, chained to the driver's exception,
never a raw driver exception, and within a bounded time.

* unreachable at open (refused port, unknown host) -> ``BackendUnavailableError``, promptly,
  from ``open()``, ``async with`` and the first call; ``aibind status`` prints one line;
* a connection killed mid-call (``pg_terminate_backend``) -> ``ConnectionLostError``, and the
  store works on afterwards;
* the pool exhausted -> ``BackendTimeoutError`` after ``pool_timeout``;
* undecodable stored bytes (a ``SQL_ASCII`` database) and corrupt stored values
  -> ``CorruptDataError``;
* a missing table -> ``SchemaError`` that says how to create it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import asyncpg
import pytest
from pg_server import PrivatePostgres, free_port

from aibind.conformance import collect, new_id, within
from aibind.core.chat_history import ChatHistory
from aibind.core.errors import (
    AibindError,
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    ConnectionLostError,
    CorruptDataError,
    SchemaError,
    StreamNotActiveError,
)
from aibind.postgres import PostgresConversationStore, PostgresStreamStore

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]

DRIVERS = ["psycopg", "asyncpg"]


def _check_chained(exc: AibindError) -> None:
    cause = exc.__cause__
    assert cause is not None, "the driver's exception must be chained"
    assert not isinstance(cause, AibindError)
    if isinstance(exc, BackendError):
        assert type(cause).__name__ in str(exc), f"the message must name {type(cause).__name__}"


async def _raises(
    kind: type[AibindError], call: Awaitable[Any], seconds: float = 10
) -> AibindError:
    """Await ``call`` (at most ``seconds``) and check it raised ``kind``, chained. (Not with
    ``within()``: it would take a ``BackendTimeoutError``, a ``TimeoutError``, for its own.)"""
    task = asyncio.ensure_future(call)
    done, _ = await asyncio.wait([task], timeout=seconds)
    if not done:
        task.cancel()
        pytest.fail(f"no error within {seconds} s (the call hung)")
    with pytest.raises(kind) as info:
        task.result()
    _check_chained(info.value)
    return info.value


@pytest.fixture
async def admin(private_server: PrivatePostgres) -> AsyncIterator[asyncpg.Connection[Any]]:
    conn = await asyncpg.connect(private_server.url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def tables(admin: asyncpg.Connection[Any]) -> AsyncIterator[dict[str, str]]:
    schema = f"f_{new_id('')[1:17]}"
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield {"chunks_table": f"{schema}.chunks", "status_table": f"{schema}.status"}
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


# ---- unreachable at open ------------------------------------------------------------------


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("how", ["open", "async with", "first call"])
async def test_unreachable_server_at_open(driver: str, how: str) -> None:
    for url in (
        f"postgresql://postgres@127.0.0.1:{free_port()}/postgres",
        "postgresql://postgres@no-such-host.invalid/postgres",
    ):
        for cls in (PostgresStreamStore, PostgresConversationStore):
            store: Any = cls.from_url(url, driver=driver)
            started = time.monotonic()
            if how == "open":
                call = store.open()
            elif how == "first call":
                call = (
                    store.load("x") if cls is PostgresConversationStore else store.get_status("x")
                )
            else:

                async def enter(s: Any = store) -> None:
                    async with s:
                        pytest.fail("entered a store whose server is unreachable")

                call = enter()
            await _raises(BackendUnavailableError, call)
            assert time.monotonic() - started < 5, "an unreachable server must fail promptly"
            await store.aclose()


def test_cli_status_on_unreachable_server_prints_one_line() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "aibind.core.cli", "status", url, "some-id"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert time.monotonic() - started < 10
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("aibind: error: cannot open a connection to PostgreSQL")
    assert "Connection refused" in done.stderr or "ConnectionRefusedError" in done.stderr


# ---- a connection killed mid-call, the pool exhausted ---------------------------------------


async def _blocked_backend(admin: asyncpg.Connection[Any], needle: str) -> int:
    """The pid of the backend waiting on a lock while running a statement containing
    ``needle`` (waits until there is one)."""
    for _ in range(500):
        pid = await admin.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid() LIMIT 1",
            needle,
        )
        if pid is not None:
            return int(pid)
        await asyncio.sleep(0.01)
    raise AssertionError("no backend blocked on the lock")


@pytest.mark.parametrize("driver", DRIVERS)
async def test_connection_killed_mid_call(
    private_server: PrivatePostgres,
    admin: asyncpg.Connection[Any],
    tables: dict[str, str],
    driver: str,
) -> None:
    async with PostgresStreamStore.from_url(private_server.url, driver=driver, **tables) as store:
        await store.setup()
        sid = new_id()
        await store.create(sid)
        status = store.status_table.sql
        locker = await asyncpg.connect(private_server.url)
        try:
            tx = locker.transaction()
            await tx.start()
            await locker.execute(f"SELECT 1 FROM {status} WHERE id = $1 FOR UPDATE", sid)
            append = asyncio.ensure_future(store.append(sid, "x"))
            pid = await _blocked_backend(admin, "total_chunks + 1")
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
            await _raises(ConnectionLostError, append)
            await tx.rollback()
        finally:
            await locker.close()
        # The broken connection is gone from the pool: the store works on, nothing was stored.
        assert await within(store.append(sid, "y")) == 1


@pytest.mark.parametrize("driver", DRIVERS)
async def test_pool_exhausted(
    private_server: PrivatePostgres,
    admin: asyncpg.Connection[Any],
    tables: dict[str, str],
    driver: str,
) -> None:
    store = PostgresStreamStore.from_url(
        private_server.url, driver=driver, max_size=1, pool_timeout=0.3, **tables
    )
    async with store:
        await store.setup()
        sid = new_id()
        await store.create(sid)
        locker = await asyncpg.connect(private_server.url)
        try:
            tx = locker.transaction()
            await tx.start()
            await locker.execute(
                f"SELECT 1 FROM {store.status_table.sql} WHERE id = $1 FOR UPDATE", sid
            )
            holder = asyncio.ensure_future(store.append(sid, "holds the only connection"))
            await _blocked_backend(admin, "total_chunks + 1")
            started = time.monotonic()
            error = await _raises(BackendTimeoutError, store.get_status(sid), 5)
            assert isinstance(error, TimeoutError)
            assert 0.25 <= time.monotonic() - started < 3
            await tx.rollback()
            assert await within(holder) == 1
        finally:
            await locker.close()
        assert await store.append(sid, "after") == 2


# ---- corrupt and undecodable stored values -------------------------------------------------


@pytest.fixture
async def sql_ascii(private_server: PrivatePostgres) -> AsyncIterator[str]:
    """A SQL_ASCII database (text columns accept any bytes, as in some legacy databases)
    holding one stream, one chunk and one conversation with a byte that is not UTF-8."""
    name = f"ascii_{new_id('')[1:13]}"
    admin = await asyncpg.connect(private_server.url)
    try:
        await admin.execute(
            f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' "
            "TEMPLATE template0"
        )
        url = private_server.url_for(name)
        async with PostgresStreamStore.from_url(url, driver="asyncpg") as streams:
            await streams.setup()
            await streams.create("good")
            await streams.append("good", "plain ascii")
            await streams.complete("good")
        async with PostgresConversationStore.from_url(url, driver="asyncpg") as conversations:
            await conversations.setup()
        raw = await asyncpg.connect(url)
        try:
            await raw.execute(
                "INSERT INTO aibind_stream_status VALUES ('bad-chunk', 'done', NULL, 2, 0), "
                "('bad-error', 'error', E'boom \\xff', 0, 4102444800000);"
                "INSERT INTO aibind_stream_chunks VALUES ('bad-chunk', 1, 'fine'), "
                "('bad-chunk', 2, E'caf\\xe9');"
                "INSERT INTO aibind_conversations VALUES ('bad', E'{\"version\": 1\\xff', "
                "4102444800000)"
            )
        finally:
            await raw.close()
        yield url
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


@pytest.mark.parametrize("driver", DRIVERS)
async def test_undecodable_stored_bytes(sql_ascii: str, driver: str) -> None:
    async with PostgresStreamStore.from_url(sql_ascii, driver=driver) as streams:
        assert [c.data for c in await collect(streams.read_from("good"))] == ["plain ascii"]
        seen: list[str] = []

        async def read() -> None:
            async for chunk in streams.read_from("bad-chunk"):
                seen.append(chunk.data)

        error = await _raises(CorruptDataError, read())
        assert "UTF-8" in str(error) or "UTF8" in str(error)
        assert seen == []  # the page holding the bad chunk is refused whole
        await _raises(CorruptDataError, streams.get_status("bad-error"))
    async with PostgresConversationStore.from_url(sql_ascii, driver=driver) as conversations:
        await _raises(CorruptDataError, conversations.load("bad"))
        assert (await conversations.load("absent")).is_empty


@pytest.mark.parametrize("driver", DRIVERS)
async def test_corrupt_stored_values(
    private_server: PrivatePostgres,
    admin: asyncpg.Connection[Any],
    tables: dict[str, str],
    driver: str,
) -> None:
    async with PostgresStreamStore.from_url(private_server.url, driver=driver, **tables) as store:
        await store.setup()
        status, chunks = store.status_table.sql, store.chunks_table.sql
        await admin.execute(
            f"INSERT INTO {status} VALUES ('bogus', 'paused', NULL, 0, 4102444800000), "
            "('negative', 'active', NULL, -3, 4102444800000), "
            "('short', 'done', NULL, 5, 4102444800000), "
            "('behind', 'active', NULL, 1, 4102444800000)"
        )
        await admin.execute(
            f"INSERT INTO {chunks} VALUES ('short', 1, 'a'), ('short', 2, 'b'), "
            "('behind', 1, 'a'), ('behind', 2, 'b')"
        )
        for sid in ("bogus", "negative"):
            await _check_corrupt(store.get_status(sid))
            await _check_corrupt(store.append(sid, "x"))  # issue #7 item 11: never seq -2
            await _check_corrupt(collect(store.read_from(sid)))
        await _check_corrupt(store.complete("bogus"))
        assert (
            await admin.fetchval(f"SELECT total_chunks FROM {status} WHERE id = 'negative'")
        ) == -3
        got: list[str] = []

        async def read_short() -> None:
            async for chunk in store.read_from("short"):
                got.append(chunk.data)

        await _check_corrupt(read_short())
        assert got == ["a", "b"]
        await _check_corrupt(store.append("behind", "c"))  # count behind the stored chunks
        with pytest.raises(StreamNotActiveError):
            await store.append("short", "x")
    async with PostgresConversationStore.from_url(
        private_server.url, driver=driver, table=tables["chunks_table"] + "_conv"
    ) as conversations:
        await conversations.setup()
        await admin.execute(
            f"INSERT INTO {conversations.table.sql} VALUES ('s', 'not json', 4102444800000)"
        )
        await _check_corrupt(conversations.load("s"))
        await conversations.save("s", ChatHistory())  # a save replaces it
        assert (await conversations.load("s")).is_empty


async def _check_corrupt(call: Awaitable[Any]) -> None:
    with pytest.raises(CorruptDataError):
        await within(call)


# ---- missing tables ------------------------------------------------------------------------


@pytest.mark.parametrize("driver", DRIVERS)
async def test_missing_tables(private_server: PrivatePostgres, driver: str) -> None:
    options = {"chunks_table": "nowhere_c", "status_table": "nowhere_s"}
    async with PostgresStreamStore.from_url(private_server.url, driver=driver, **options) as s:
        for call in (s.create("x"), s.get_status("x"), collect(s.read_from("x")), s.cleanup()):
            error = await _raises(SchemaError, call)
            assert "nowhere_s" in str(error)
            assert "setup()" in str(error)
            assert "aibind schema postgres" in str(error)
    async with PostgresConversationStore.from_url(
        private_server.url, driver=driver, table="nowhere_conv"
    ) as conversations:
        error = await _raises(SchemaError, conversations.load("x"))
        assert "nowhere_conv" in str(error)
        await _raises(SchemaError, conversations.save("x", ChatHistory()))
