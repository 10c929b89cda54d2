"""The binding-path cases, run INSIDE Pyodide (tests/js/pyodide-harness.mjs) against
Miniflare's real D1 and KV bindings, once with the raw bindings (``JsProxy``) and once with the
``workers`` SDK's wrapped bindings. ``tests/test_pyodide.py`` reports each case to pytest.

Every ``test_*`` coroutine takes the :class:`Env` of its run (``env.DB``, ``env.KV``: the
bindings of the mode; ``env.mode``: ``"raw"`` or ``"sdk"``) and uses its own table names or key
prefix, removed at the end. This module is plain Python (no pytest inside Pyodide): a failed
``assert`` or an exception fails the case.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aibind.cloudflare import (
    D1BindingClient,
    D1ConstraintError,
    D1Error,
    KVConversationStore,
    wrap_d1,
)
from aibind.core import DurableStream
from aibind.core.chat_history import ChatHistory
from aibind.core.errors import (
    SchemaError,
    StreamExistsError,
    StreamNotActiveError,
    StreamNotFoundError,
)
from aibind.core.types import ConversationMessage, StreamChunk, StreamState, StreamStatus
from aibind.sqlite import SqliteConversationStore, SqliteStreamStore

DRIVERS = ("sqlite3", "aiosqlite", "httpx")
"""Modules that must not be needed inside a Worker (the harness blocks them)."""


class Env:
    """What a case gets: the bindings of one mode, and helpers of the harness.

    Attributes:
        mode: ``"raw"`` (the JS bindings as Pyodide gives them) or ``"sdk"`` (wrapped by the
            ``workers`` SDK's ``_BindingWrapper``, as ``self.env`` gives them in a Worker).
        DB: the D1 binding (Miniflare's proxy of the real binding).
        KV: the KV binding.
        DISPATCHED_DB: a D1 binding whose statements the Worker runs on its own real binding
            through ``dispatchFetch`` (``js/d1-binding.mjs``), for the 20 x 100 case: the
            proxied binding serialises concurrent callers (~80 ms an append).
        js_env: the Worker's JS ``env`` (``DB``, ``CONVERSATIONS``) for the example Worker: in
            ``sdk`` mode its bindings are of the classes the SDK's ``_EnvWrapper`` wraps.
        make_ctx: builds a JS execution context (``waitUntil`` + ``settle()``).
    """

    def __init__(
        self,
        mode: str,
        db: Any,
        kv: Any,
        dispatched_db: Any,
        js_env: Any,
        make_ctx: Callable[[], Any],
    ) -> None:
        self.mode = mode
        self.DB = db
        self.KV = kv
        self.DISPATCHED_DB = dispatched_db
        self.js_env = js_env
        self.make_ctx = make_ctx


def _unique() -> str:
    return f"p{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def stream_store(
    env: Env, binding: Any = None, **options: Any
) -> AsyncIterator[SqliteStreamStore]:
    """A stream store on ``wrap_d1(binding or env.DB)`` with its own tables (created, dropped
    after)."""
    name = _unique()
    client = wrap_d1(env.DB if binding is None else binding)
    store = SqliteStreamStore(
        client, chunks_table=f"{name}_chunks", status_table=f"{name}_status", **options
    )
    await store.setup()
    try:
        yield store
    finally:
        await store.aclose()
        await client.batch(
            [
                (f'DROP TABLE IF EXISTS "{name}_chunks"', ()),
                (f'DROP TABLE IF EXISTS "{name}_status"', ()),
            ]
        )


async def within(awaitable: Awaitable[Any], seconds: float = 20.0) -> Any:
    return await asyncio.wait_for(awaitable, seconds)


async def collect(chunks: AsyncIterator[StreamChunk], seconds: float = 20.0) -> list[StreamChunk]:
    async def drain() -> list[StreamChunk]:
        return [c async for c in chunks]

    drained: list[StreamChunk] = await within(drain(), seconds)
    return drained


async def raises(error: type[BaseException], awaitable: Awaitable[Any]) -> BaseException:
    try:
        await awaitable
    except error as exc:
        return exc
    raise AssertionError(f"expected {error.__name__}")


# ---- import anywhere --------------------------------------------------------------------


async def test_imports_without_drivers(env: Env) -> None:
    """``import aibind.core, aibind.sqlite, aibind.cloudflare`` needs none of the drivers: the
    harness blocks them (``sys.modules[name] = None``) before anything is imported."""
    for name in DRIVERS:
        assert sys.modules.get(name, "absent") in (None, "absent"), f"{name} was imported"
        try:
            importlib.import_module(name)
        except ImportError:
            pass
        else:
            raise AssertionError(f"{name} is importable: the harness did not block it")
    for name in ("aibind.core", "aibind.sqlite", "aibind.cloudflare", "aibind.core.kit"):
        assert importlib.import_module(name) is not None
    # a Worker's vendored packages are installed distributions: their metadata is found
    assert importlib.import_module("aibind.cloudflare").__version__
    assert sys.platform == "emscripten"


async def test_wrap_d1_accepts_the_binding(env: Env) -> None:
    client = wrap_d1(env.DB)
    assert isinstance(client, D1BindingClient)
    assert client.raw is (env.mode == "raw")
    assert wrap_d1(client) is client
    await raises(TypeError, _call(lambda: wrap_d1(object())))


async def _call(fn: Callable[[], Any]) -> Any:
    return fn()


# ---- conversions ------------------------------------------------------------------------


async def test_values_round_trip(env: Env) -> None:
    client = wrap_d1(env.DB)
    big = 2**53 - 1
    rows = await client.execute(
        "SELECT ? AS n, ? AS i, ? AS big, ? AS neg, ? AS f, ? AS s, ? AS t, ? AS b, "
        "typeof(?) AS bt",
        (None, 42, big, -big, 2.5, "☃ 'x'\n", True, b"\x00\xffab", b"ab"),
    )
    assert rows == [
        {"n": None, "i": 42, "big": big, "neg": -big, "f": 2.5, "s": "☃ 'x'\n", "t": 1,
         "b": b"\x00\xffab", "bt": "blob"}
    ], rows  # fmt: skip
    assert type(rows[0]["i"]) is int  # a REAL-bound integer comes back as int
    for bad, error in ((2**53, ValueError), (float("nan"), ValueError), (object(), TypeError)):
        await raises(error, client.execute("SELECT ?", (bad,)))
    await raises(ValueError, client.execute("SELECT 1", tuple(range(101))))


async def test_integer_columns_keep_integers(env: Env) -> None:
    """D1 binds numbers as REAL; an INTEGER column stores them as integers again."""
    client = wrap_d1(env.DB)
    table = _unique()
    await client.execute(f'CREATE TABLE "{table}" (n INTEGER NOT NULL)')
    try:
        await client.execute(f'INSERT INTO "{table}" VALUES (?)', (7,))
        rows = await client.execute(f'SELECT n, typeof(n) AS t FROM "{table}"')
        assert rows == [{"n": 7, "t": "integer"}], rows
    finally:
        await client.execute(f'DROP TABLE "{table}"')


# ---- typed errors and transactions --------------------------------------------------------


async def test_missing_table_is_a_schema_error(env: Env) -> None:
    client = wrap_d1(env.DB)
    exc = await raises(SchemaError, client.execute(f"SELECT * FROM {_unique()}"))
    assert "no such table" in str(exc), str(exc)
    assert "setup()" in str(exc), str(exc)
    assert type(exc.__cause__).__name__ == "JsException"
    store = SqliteStreamStore(client, chunks_table=f"{_unique()}_c", status_table=f"{_unique()}_s")
    await raises(SchemaError, store.create("s"))
    await store.aclose()


async def test_sql_errors_are_typed(env: Env) -> None:
    client = wrap_d1(env.DB)
    await raises(D1Error, client.execute("SELEC 1"))
    table = _unique()
    await client.execute(f'CREATE TABLE "{table}" (id INTEGER PRIMARY KEY)')
    try:
        await client.execute(f'INSERT INTO "{table}" VALUES (?)', (1,))
        exc = await raises(
            D1ConstraintError, client.execute(f'INSERT INTO "{table}" VALUES (?)', (1,))
        )
        assert "UNIQUE" in str(exc)
        await raises(D1Error, client.execute("PRAGMA data_version"))
    finally:
        await client.execute(f'DROP TABLE "{table}"')


async def test_batch_is_one_transaction(env: Env) -> None:
    client = wrap_d1(env.DB)
    assert await client.batch([]) == []
    table = _unique()
    await client.execute(f'CREATE TABLE "{table}" (id INTEGER PRIMARY KEY, v TEXT)')
    try:
        rows = await client.batch(
            [
                (f'INSERT INTO "{table}" VALUES (?, ?) RETURNING id', (1, "a")),
                (f'SELECT count(*) AS n FROM "{table}"', ()),
            ]
        )
        assert rows == [[{"id": 1}], [{"n": 1}]], rows
        await raises(
            D1ConstraintError,
            client.batch(
                [
                    (f'INSERT INTO "{table}" VALUES (?, ?)', (2, "b")),
                    (f'INSERT INTO "{table}" VALUES (?, ?)', (1, "dup")),
                ]
            ),
        )
        assert await client.execute(f'SELECT id FROM "{table}"') == [{"id": 1}]
    finally:
        await client.execute(f'DROP TABLE "{table}"')


# ---- the stream store on the binding ---------------------------------------------------------


async def test_setup_create_append(env: Env) -> None:
    async with stream_store(env) as store:
        await store.setup()  # idempotent
        await store.create("s")
        await raises(StreamExistsError, store.create("s"))
        assert await store.get_status("s") == StreamStatus("active", 0, None)
        assert [await store.append("s", t) for t in ("a", "b\nc", "☃")] == [1, 2, 3]
        assert await store.append_many("s", ["d", "e"]) == 5
        assert await store.append_many("s", []) == 5
        await raises(StreamNotFoundError, store.append("nope", "x"))
        assert await store.get_status("s") == StreamStatus("active", 5, None)


async def test_replay_and_resume(env: Env) -> None:
    async with stream_store(env) as store:
        await store.create("s")
        await store.append_many("s", [f"c{i}" for i in range(30)])
        await store.complete("s")
        got = await collect(store.read_from("s"))
        assert got == [StreamChunk(i + 1, f"c{i}") for i in range(30)]
        for after in (0, 1, 17, 29, 30, 99):
            tail = await collect(store.read_from("s", after))
            assert [c.seq for c in tail] == list(range(after + 1, 31))
        await raises(StreamNotFoundError, collect(store.read_from("nope")))


async def test_live_follow(env: Env) -> None:
    async with stream_store(env, poll_interval=None) as store:
        await store.create("s")
        await store.append("s", "first")
        followers = [asyncio.ensure_future(collect(store.read_from("s"))) for _ in range(3)]
        await asyncio.sleep(0.05)
        for i in range(20):
            await store.append("s", f"t{i}")
        await store.complete("s")
        expected = ["first", *(f"t{i}" for i in range(20))]
        for got in await within(asyncio.gather(*followers)):
            assert [c.data for c in got] == expected


async def test_follow_writes_of_another_client(env: Env) -> None:
    """Two stores on two wrap_d1 clients (as two Worker requests would have): the follower sees
    the other's writes by polling, since D1 answers PRAGMA data_version with a constant."""
    async with stream_store(env, poll_interval=0.05) as reader:
        writer = SqliteStreamStore(
            wrap_d1(env.DB), chunks_table=reader.chunks_table, status_table=reader.status_table
        )
        await writer.create("s")
        follower = asyncio.ensure_future(collect(reader.read_from("s")))
        await asyncio.sleep(0.1)
        for i in range(5):
            await writer.append("s", str(i))
        await writer.complete("s")
        assert [c.data for c in await within(follower)] == ["0", "1", "2", "3", "4"]
        await writer.aclose()


async def test_terminal_states(env: Env) -> None:
    async with stream_store(env) as store:
        ends: tuple[tuple[str, StreamState], ...] = (("complete", "done"), ("stop", "stopped"))
        for end, state in ends:
            sid = f"s-{end}"
            await store.create(sid)
            await store.append(sid, "x")
            await getattr(store, end)(sid)
            assert await store.get_status(sid) == StreamStatus(state, 1, None)
            exc = await raises(StreamNotActiveError, store.append(sid, "late"))
            assert exc.state == state  # type: ignore[attr-defined]
        await store.create("s-fail")
        await store.fail("s-fail", "model crashed")
        await store.complete("s-fail")  # already terminal: a no-op
        assert await store.get_status("s-fail") == StreamStatus("error", 0, "model crashed")
        await raises(StreamNotFoundError, store.complete("nope"))


async def test_concurrent_appenders_get_seqs_1_to_2000(env: Env) -> None:
    """20 writers (each its own wrap_d1 client and store) x 100 appends: every append is one
    D1 batch, so the seqs are exactly 1..2000 (on ``env.DISPATCHED_DB``, see :class:`Env`)."""
    async with stream_store(env, env.DISPATCHED_DB) as first:
        stores = [
            SqliteStreamStore(
                wrap_d1(env.DISPATCHED_DB),
                chunks_table=first.chunks_table,
                status_table=first.status_table,
            )
            for _ in range(20)
        ]
        await first.create("s")

        async def writer(w: int, store: SqliteStreamStore) -> list[int]:
            return [await store.append("s", f"w{w}-{i}") for i in range(100)]

        results = await within(asyncio.gather(*(writer(w, s) for w, s in enumerate(stores))), 240)
        seqs = sorted(s for r in results for s in r)
        assert seqs == list(range(1, 2001)), (len(seqs), seqs[:5])
        assert all(r == sorted(r) for r in results)
        assert await first.get_status("s") == StreamStatus("active", 2000, None)
        await first.complete("s")
        got = await collect(first.read_from("s"), 60)
        by_seq = {s: f"w{w}-{i}" for w, r in enumerate(results) for i, s in enumerate(r)}
        assert [c.seq for c in got] == seqs
        assert all(c.data == by_seq[c.seq] for c in got)
        for store in stores:
            await store.aclose()


async def test_durable_stream_sse(env: Env) -> None:
    async with stream_store(env) as store:

        async def tokens() -> AsyncIterator[str]:
            for word in ("Hello", " durable", " world"):
                yield word

        durable = await DurableStream.start(store, tokens())
        text = "".join([piece async for piece in durable.sse()])
        assert text.startswith(f"event: stream-id\nid: {durable.id}\ndata: {durable.id}\n\n")
        assert "id: 3\ndata:  world\n\n" in text
        assert text.endswith("event: done\ndata: \n\n")
        resumed = "".join([p async for p in DurableStream.resume(store, durable.id, 2)])
        assert resumed == "id: 3\ndata:  world\n\nevent: done\ndata: \n\n", resumed


# ---- conversations ---------------------------------------------------------------------------


def _chat(text: str) -> ChatHistory[ConversationMessage]:
    chat: ChatHistory[ConversationMessage] = ChatHistory()
    chat.append({"role": "user", "content": text})
    chat.append({"role": "assistant", "content": text[::-1]})
    return chat


async def test_kv_conversation_round_trip(env: Env) -> None:
    prefix = f"aibind-test:{_unique()}"
    store = KVConversationStore(env.KV, prefix=prefix, ttl=120)
    try:
        assert (await store.load("s")).is_empty
        chat = _chat("hello ☃")
        await store.save("s", chat)
        assert (await store.load("s")).to_json() == chat.to_json()
        raw = await env.KV.get(f"{prefix}:s")
        assert json.loads(raw) == json.loads(chat.to_json())  # the npm wire format
        await env.KV.put(f"{prefix}:empty", "")
        assert (await store.load("empty")).is_empty
        await store.delete("s")
        assert (await store.load("s")).is_empty
    finally:
        await env.KV.delete(f"{prefix}:s")
        await env.KV.delete(f"{prefix}:empty")
        await store.aclose()


async def test_kv_bad_ttl_and_key(env: Env) -> None:
    for ttl in (59, 0.5):

        def make(ttl: float = ttl) -> KVConversationStore:
            return KVConversationStore(env.KV, ttl=ttl)

        exc = await raises(ValueError, _call(make))
        assert "at least 60" in str(exc)
    store = KVConversationStore(env.KV, prefix="p" * 500)
    exc = await raises(ValueError, store.load("s" * 20))
    assert "512 bytes" in str(exc)


async def test_sqlite_conversations_on_d1(env: Env) -> None:
    client = wrap_d1(env.DB)
    table = _unique()
    store = SqliteConversationStore(client, table=table)
    await store.setup()
    try:
        chat = _chat("stored in D1")
        await store.save("s", chat)
        assert (await store.load("s")).to_json() == chat.to_json()
        assert await store.cleanup() == 0
    finally:
        await store.aclose()
        await client.execute(f'DROP TABLE "{table}"')


# ---- the example Worker --------------------------------------------------------------------


async def test_example_worker_end_to_end(env: Env) -> None:
    """examples/cloudflare-worker/src/entry.py: POST /chat streams an answer into D1 as SSE and
    records the turn in KV; GET /stream/<id> with Last-Event-ID resumes; GET /history/<s>."""
    js = importlib.import_module("js")
    entry = importlib.import_module("entry")
    workers = importlib.import_module("workers")
    setattr(entry, "TOKEN_PAUSE", 0.001)  # noqa: B010  # a faster stand-in model
    client = wrap_d1(env.DB)
    await SqliteStreamStore(client).setup()  # the default tables the example uses
    session = f"session-{_unique()}"
    ctx = env.make_ctx()
    try:
        # the SDK wraps env (and, in sdk mode, its bindings) as the runtime's entrypoint does
        worker = entry.Default(ctx, env.js_env)
        request = workers.Request(
            "https://worker.example/chat",
            method="POST",
            body=json.dumps({"session": session, "message": "stream me"}),
        )
        response = await worker.fetch(request)
        assert response.status == 200
        assert response.headers["content-type"] == "text/event-stream"
        text = await within(response.text())
        assert text.startswith("event: stream-id\n"), text
        stream_id = text.split("\n")[1].removeprefix("id: ")
        answer = "You said: stream me. That is 2 words."
        assert f"id: {answer.count(' ') + 1}\ndata:  words.\n\n" in text
        assert text.endswith("event: done\ndata: \n\n")
        await within(ctx.settle())  # the turn is saved in KV by a waitUntil task

        headers = js.Headers.new()
        headers.set("last-event-id", "5")
        url = f"https://worker.example/stream/{stream_id}"
        resumed = await worker.fetch(workers.Request(js.Request.new(url, headers=headers)))
        resumed_text = await within(resumed.text())
        assert resumed_text.startswith("id: 6\n"), resumed_text
        assert "stream-id" not in resumed_text

        history = await worker.fetch(workers.Request(f"https://worker.example/history/{session}"))
        messages = (await history.json())["messages"]
        assert messages == [
            {"role": "user", "content": "stream me"},
            {"role": "assistant", "content": answer},
        ], messages
        missing = await worker.fetch(workers.Request("https://worker.example/stream/nope"))
        assert missing.status == 404
    finally:
        await within(ctx.settle())
        await env.KV.delete(f"aibind:conv:{session}")
