"""D1HttpClient against the local stand-in (real D1 in Miniflare): configuration, value
conversions, typed errors, the 429 wait, transactions, closing and cancellation."""

from __future__ import annotations

import asyncio
import random
import socket
import time

import httpx
import pytest
from cf_node import StandIn
from conftest import D1Factory

from aibind.cloudflare import (
    CloudflareApiError,
    CloudflareAuthError,
    CloudflareRateLimitError,
    D1ConstraintError,
    D1Error,
    D1HttpClient,
)
from aibind.cloudflare._api import DEFAULT_BASE_URL, retry_after_seconds
from aibind.core.errors import (
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    ConnectionLostError,
    SchemaError,
    StoreClosedError,
)
from aibind.sqlite import SqliteError, SqliteStreamStore


async def test_token_and_base_url_from_the_environment(
    standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", standin.token)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", standin.base_url + "/")
    async with D1HttpClient(standin.account_id, standin.database_id) as d1:
        assert d1.base_url == standin.base_url
        assert await d1.execute("SELECT 1 AS one") == [{"one": 1}]


def test_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    monkeypatch.delenv("CLOUDFLARE_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="CLOUDFLARE_API_TOKEN"):
        D1HttpClient("acc", "db")
    with pytest.raises(ValueError, match="base_url"):
        D1HttpClient("acc", "db", api_token="x", base_url="ftp://example")
    with pytest.raises(ValueError, match="database_id"):
        D1HttpClient("acc", "../db", api_token="x")
    with pytest.raises(TypeError, match="account_id"):
        D1HttpClient(3, "db", api_token="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="http_client"):
        D1HttpClient("acc", "db", api_token="x", http_client=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_retry_wait"):
        D1HttpClient("acc", "db", api_token="x", max_retry_wait=-1)


async def test_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDFLARE_BASE_URL", raising=False)
    async with D1HttpClient("acc", "db", api_token="secret-token-123") as d1:
        assert d1.base_url == DEFAULT_BASE_URL
        assert "secret-token" not in repr(d1)  # the token never shows


async def test_values_round_trip(make_d1: D1Factory) -> None:
    d1 = make_d1()
    big = 2**53 - 1
    rows = await d1.execute(
        "SELECT ? AS n, ? AS i, ? AS big, ? AS neg, ? AS f, ? AS s, ? AS t, typeof(?) AS ty",
        (None, 42, big, -big, 2.5, "☃ \x01 'quoted'", True, 7),
    )
    assert rows == [
        {"n": None, "i": 42, "big": big, "neg": -big, "f": 2.5, "s": "☃ \x01 'quoted'", "t": 1,
         "ty": "real"}
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((2**53,), ValueError, "outside the range"),
        ((-(2**53),), ValueError, "outside the range"),
        ((float("nan"),), ValueError, "NaN"),
        ((float("inf"),), ValueError, "NaN or infinity"),
        ((b"blob",), TypeError, "BLOB"),
        (([1],), TypeError, r"args\[0\]"),
        (tuple(range(101)), ValueError, "at most 100"),
        ("abc", TypeError, "sequence"),
    ],
)
async def test_unbindable_values_are_refused_before_sending(
    make_d1: D1Factory, args: object, error: type[Exception], match: str
) -> None:
    d1 = make_d1(base_url="http://127.0.0.1:9/client/v4")  # nothing listens: nothing is sent
    with pytest.raises(error, match=match):
        await d1.execute("SELECT ?", args)  # type: ignore[arg-type]


async def test_sql_errors_are_typed_and_chained(make_d1: D1Factory, unique: str) -> None:
    d1 = make_d1()
    with pytest.raises(SchemaError, match="no such table") as info:
        await d1.execute(f"SELECT * FROM {unique}")
    assert "setup()" in str(info.value)
    assert "wrangler d1 execute" in str(info.value)
    assert isinstance(info.value.__cause__, CloudflareApiError)
    assert info.value.__cause__.status_code == 400
    with pytest.raises(D1Error, match="syntax error") as syntax:
        await d1.execute("SELEC 1")
    assert isinstance(syntax.value, SqliteError)
    assert syntax.value.code == 7500
    await d1.execute(f"CREATE TABLE {unique} (id INTEGER PRIMARY KEY)")
    try:
        await d1.execute(f"INSERT INTO {unique} VALUES (?)", (1,))
        with pytest.raises(D1ConstraintError, match="UNIQUE"):
            await d1.execute(f"INSERT INTO {unique} VALUES (?)", (1,))
    finally:
        await d1.execute(f"DROP TABLE {unique}")


async def test_data_version_is_refused(make_d1: D1Factory) -> None:
    """D1 answers PRAGMA data_version with a constant, so the client refuses it and the
    SQLite stores poll by re-reading instead (see aibind.cloudflare._values.check_sql)."""
    d1 = make_d1()
    with pytest.raises(D1Error, match="data_version"):
        await d1.execute("  PRAGMA data_version")
    with pytest.raises(D1Error, match="data_version"):
        await d1.batch([("pragma main.data_version", ())])


async def test_batch_is_one_transaction(make_d1: D1Factory, unique: str) -> None:
    d1 = make_d1()
    assert await d1.batch([]) == []
    await d1.execute(f"CREATE TABLE {unique} (id INTEGER PRIMARY KEY, v TEXT)")
    try:
        rows = await d1.batch(
            [
                (f"INSERT INTO {unique} VALUES (?, ?) RETURNING id", (1, "a")),
                (f"SELECT count(*) AS n FROM {unique}", ()),
            ]
        )
        assert rows == [[{"id": 1}], [{"n": 1}]]
        with pytest.raises(D1ConstraintError):
            await d1.batch(
                [
                    (f"INSERT INTO {unique} VALUES (?, ?)", (2, "b")),
                    (f"INSERT INTO {unique} VALUES (?, ?)", (1, "dup")),
                ]
            )
        assert await d1.execute(f"SELECT id, v FROM {unique}") == [{"id": 1, "v": "a"}]
    finally:
        await d1.execute(f"DROP TABLE {unique}")


async def test_api_errors(make_d1: D1Factory, standin: StandIn) -> None:
    with pytest.raises(CloudflareAuthError, match="api_token") as auth:
        await make_d1(api_token="wrong").execute("SELECT 1")
    assert auth.value.status_code == 403
    assert auth.value.errors == ((10000, "Authentication error"),)
    missing = D1HttpClient(
        standin.account_id, "no-such-db", api_token=standin.token, base_url=standin.base_url
    )
    async with missing:
        with pytest.raises(CloudflareApiError, match="could not be found") as info:
            await missing.execute("SELECT 1")
    assert info.value.status_code == 404
    assert not isinstance(info.value, CloudflareAuthError)


async def test_unreachable_api(make_d1: D1Factory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again at once: nothing listens there
    d1 = make_d1(base_url=f"http://127.0.0.1:{port}/client/v4")
    with pytest.raises(BackendUnavailableError, match="ConnectError") as info:
        await d1.execute("SELECT 1")
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_dropped_and_silent_connections(make_d1: D1Factory) -> None:
    """A local server that closes the connection after reading the request, and one that never
    answers: a lost connection and a timeout, in the kit's error classes."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await reader.read()  # never answers; returns when the client gives up and closes
        writer.close()

    for handler, error in ((hang_up, ConnectionLostError), (silent, BackendTimeoutError)):
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            d1 = make_d1(base_url=f"http://127.0.0.1:{port}/client/v4", timeout=0.3)
            with pytest.raises(error) as info:
                await d1.execute("SELECT 1")
            assert isinstance(info.value, BackendError)
            assert isinstance(info.value.__cause__, httpx.HTTPError)
        finally:
            server.close()
            await server.wait_closed()


async def test_429_is_retried_within_the_bound(
    make_d1: D1Factory, control: httpx.AsyncClient
) -> None:
    d1 = make_d1(max_retry_wait=2.0)
    await control.post("/__standin/throttle", json={"count": 2, "retry_after": "0.3"})
    started = time.monotonic()
    assert await d1.execute("SELECT 1 AS one") == [{"one": 1}]
    assert time.monotonic() - started >= 0.6


async def test_429_past_the_bound_raises_without_waiting(
    make_d1: D1Factory, control: httpx.AsyncClient
) -> None:
    d1 = make_d1(max_retry_wait=1.0)
    await control.post("/__standin/throttle", json={"count": 3, "retry_after": "30"})
    started = time.monotonic()
    with pytest.raises(CloudflareRateLimitError, match="429") as info:
        await d1.execute("SELECT 1")
    assert time.monotonic() - started < 1.0
    assert info.value.retry_after == 30
    assert info.value.errors == ((971, "Please wait and consider throttling your request speed"),)
    never = make_d1(max_retry_wait=0)
    await control.post("/__standin/throttle", json={"count": 1, "retry_after": "0.1"})
    with pytest.raises(CloudflareRateLimitError):
        await never.execute("SELECT 1")


def test_retry_after_parsing() -> None:
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds(" 0.5 ") == 0.5
    assert retry_after_seconds("-3") == 0.0
    assert retry_after_seconds("nan") is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0


async def test_own_client_closed_callers_client_kept(standin: StandIn) -> None:
    own = D1HttpClient(
        standin.account_id, standin.database_id, api_token=standin.token, base_url=standin.base_url
    )
    await own.execute("SELECT 1")
    await own.aclose()
    await own.aclose()  # idempotent
    assert own.http_client.is_closed
    with pytest.raises(StoreClosedError):
        await own.execute("SELECT 1")
    async with httpx.AsyncClient() as mine:
        d1 = D1HttpClient(
            standin.account_id,
            standin.database_id,
            api_token=standin.token,
            base_url=standin.base_url,
            http_client=mine,
        )
        await d1.aclose()
        assert not mine.is_closed
    with pytest.raises(StoreClosedError):  # the caller closed their client
        await D1HttpClient(
            standin.account_id,
            standin.database_id,
            api_token=standin.token,
            base_url=standin.base_url,
            http_client=mine,
        ).execute("SELECT 1")


async def test_cancelled_calls_leave_the_client_usable(make_d1: D1Factory) -> None:
    d1 = make_d1()
    for delay in (0, 0.001, 0.003):
        task = asyncio.ensure_future(d1.execute("SELECT 1 AS one"))
        await asyncio.sleep(delay)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
    assert await d1.execute("SELECT 1 AS one") == [{"one": 1}]


async def test_a_cancelled_call_never_runs_on(make_d1: D1Factory) -> None:
    """A call whose task accepted ``cancel()`` ends cancelled, whenever the cancellation lands,
    and the client's connection pool survives it. Cancelled inside httpx, a request can run on
    anyway before Python 3.12 (anyio's timeouts lose the cancellation: measured on Python 3.10
    with httpx 0.27, 90 of 3,920 ran on, so a follower whose client went away went on
    following) and can leak a pool slot for good (encode/httpcore#1093; with 5 connections the
    pool was full, every call a PoolTimeout, within a few rounds here on Python 3.10 and 3.11)."""
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=5)) as http:
        d1 = make_d1(http_client=http)
        accepted = ran_on = 0
        for _ in range(40):
            tasks = [asyncio.ensure_future(d1.execute("SELECT 1 AS one")) for _ in range(40)]
            await asyncio.sleep(random.random() * 0.03)
            cancelled = [task for task in tasks if task.cancel()]
            await asyncio.gather(*tasks, return_exceptions=True)
            accepted += len(cancelled)
            ran_on += sum(1 for task in cancelled if not task.cancelled())
            assert await d1.execute("SELECT 1 AS one") == [{"one": 1}]  # the pool still serves
        assert accepted > 0
        assert ran_on == 0, f"{ran_on} of {accepted} cancelled calls ran on"
        await d1.aclose()  # waits for the cancelled callers' requests


async def test_store_on_missing_tables_raises_schema_error(
    make_d1: D1Factory, tables: dict[str, str]
) -> None:
    store = SqliteStreamStore(
        make_d1(), chunks_table=tables["chunks_table"], status_table=tables["status_table"]
    )
    with pytest.raises(SchemaError, match="no such table"):
        await store.create("s1")
    await store.setup()
    await store.create("s1")
    assert await store.append_many("s1", ["a", "b"]) == 2
    await store.aclose()
