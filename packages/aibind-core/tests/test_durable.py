"""``DurableStream`` over the real in-memory store: npm fixtures byte for byte, live follow,
stop, failures, resume from every position."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable

import pytest
from sse_oracle import SSEMessage, parse_sse

from aibind.conformance.fixtures import npm_fixture_path
from aibind.core.durable import DurableStream, SourceItem
from aibind.core.errors import StoreClosedError, StreamExistsError, StreamNotFoundError
from aibind.core.memory import MemoryStreamStore
from aibind.core.sse import format_stream_id
from aibind.core.types import StreamStatus

pytestmark = pytest.mark.timeout(10)

DONE = "event: done\ndata: \n\n"


@pytest.fixture
def store() -> MemoryStreamStore:
    return MemoryStreamStore(ttl=300.0)


def fixture_bytes(name: str) -> bytes:
    return npm_fixture_path(name).read_bytes()


async def collect(it: AsyncIterable[str]) -> list[str]:
    return [text async for text in it]


async def text_of(it: AsyncIterator[str]) -> str:
    return "".join(await collect(it))


async def items(*values: SourceItem) -> AsyncIterator[SourceItem]:
    for value in values:
        yield value


async def until(predicate: Callable[[], bool]) -> None:
    """Yield to the event loop until ``predicate()`` holds (bounded by the test timeout)."""
    while not predicate():  # noqa: ASYNC110 (conditions on plain state, not on an Event)
        await asyncio.sleep(0.001)


async def first_chunk(store: MemoryStreamStore, stream_id: str) -> None:
    """Wait (pushed, not polled) until ``stream_id`` holds its first chunk."""
    chunks = store.read_from(stream_id)
    await anext(chunks)
    await chunks.aclose()  # type: ignore[attr-defined]


class Gate:
    """A source fed by the test, one item at a time; records whether it was closed."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[SourceItem | BaseException | None] = asyncio.Queue()
        self.closed = False

    async def source(self) -> AsyncGenerator[SourceItem, None]:
        try:
            while (item := await self.queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.closed = True


# ---- npm fixtures, byte for byte -----------------------------------------------------------

FIXTURE_CHUNKS = ["\x01Hello", "\x01 wor\nld", 'tool_call\x01{"name":"x"}', "\x01!"]
FIXTURE_ITEMS: list[SourceItem] = ["Hello", " wor\nld", ("tool_call", '{"name":"x"}'), "!"]


@pytest.mark.parametrize(
    ("after_seq", "name"), [(0, "sse_resume_done_after0.txt"), (2, "sse_resume_done_after2.txt")]
)
async def test_resume_done_matches_npm(store: MemoryStreamStore, after_seq: int, name: str) -> None:
    await store.create("s1")
    for chunk in FIXTURE_CHUNKS:
        await store.append("s1", chunk)
    await store.complete("s1")
    out = await text_of(DurableStream.resume(store, "s1", after_seq))
    assert out.encode() == fixture_bytes(name)


async def test_resume_error_matches_npm(store: MemoryStreamStore) -> None:
    await store.create("s1")
    await store.append("s1", "\x01partial")
    await store.fail("s1", "model overloaded")
    out = await text_of(DurableStream.resume(store, "s1"))
    assert out.encode() == fixture_bytes("sse_resume_error.txt")


async def test_resume_stopped_matches_npm(store: MemoryStreamStore) -> None:
    await store.create("s1")
    await store.append("s1", "\x01half")
    await store.stop("s1")
    out = await text_of(DurableStream.resume(store, "s1"))
    assert out.encode() == fixture_bytes("sse_resume_stopped.txt")


async def test_durable_stream_writes_npm_chunks_and_bytes(store: MemoryStreamStore) -> None:
    durable = await DurableStream.start(store, items(*FIXTURE_ITEMS), stream_id="s1")
    assert await durable.wait() == StreamStatus("done", 4)
    assert [c.data async for c in store.read_from("s1")] == FIXTURE_CHUNKS
    expected = fixture_bytes("sse_resume_done_after0.txt")
    assert (await text_of(durable.sse())).encode() == format_stream_id("s1").encode() + expected
    assert (await text_of(DurableStream.resume(store, "s1"))).encode() == expected


async def test_durable_stream_source_error_matches_npm(store: MemoryStreamStore) -> None:
    async def source() -> AsyncIterator[str]:
        yield "partial"
        raise RuntimeError("model overloaded")

    durable = await DurableStream.start(store, source(), stream_id="s1")
    assert await durable.wait() == StreamStatus("error", 1, "model overloaded")
    out = await text_of(DurableStream.resume(store, "s1"))
    assert out.encode() == fixture_bytes("sse_resume_error.txt")


async def test_durable_stream_stop_matches_npm(store: MemoryStreamStore) -> None:
    gate = Gate()
    durable = await DurableStream.start(store, gate.source(), stream_id="s1")
    reader = durable.sse()
    assert await anext(reader) == format_stream_id("s1")
    await gate.queue.put("half")
    assert await anext(reader) == "id: 1\ndata: half\n\n"
    # The source is now blocked waiting for its next token: stop() must interrupt it.
    assert await durable.stop() == StreamStatus("stopped", 1)
    assert gate.closed
    assert durable.done()
    rest = "".join([text async for text in reader])
    assert rest == "event: stopped\ndata: \n\n" + DONE
    out = await text_of(DurableStream.resume(store, "s1"))
    assert out.encode() == fixture_bytes("sse_resume_stopped.txt")


# ---- new streams ----------------------------------------------------------------------------


async def test_new_stream_starts_with_stream_id_message(store: MemoryStreamStore) -> None:
    durable = await DurableStream.start(store, items("a", "b"))
    assert len(durable.id) == 32
    assert int(durable.id, 16) >= 0  # uuid4 hex
    out = await collect(durable)
    assert out == [
        f"event: stream-id\nid: {durable.id}\ndata: {durable.id}\n\n",
        "id: 1\ndata: a\n\n",
        "id: 2\ndata: b\n\n",
        DONE,
    ]
    assert durable.headers["X-Stream-Id"] == durable.id
    assert durable.headers["Content-Type"] == "text/event-stream"


async def test_default_ids_are_unique(store: MemoryStreamStore) -> None:
    first = await DurableStream.start(store, items())
    second = await DurableStream.start(store, items())
    assert first.id != second.id
    assert (await first.wait()).state == (await second.wait()).state == "done"


async def test_empty_source_completes(store: MemoryStreamStore) -> None:
    durable = await DurableStream.start(store, items(), stream_id="empty")
    assert await durable.wait() == StreamStatus("done", 0)
    assert await text_of(durable.sse()) == format_stream_id("empty") + DONE


async def test_taken_id_raises_and_leaves_source_alone(store: MemoryStreamStore) -> None:
    await store.create("taken")
    gate = Gate()
    source = gate.source()
    with pytest.raises(StreamExistsError):
        await DurableStream.start(store, source, stream_id="taken")
    assert not gate.closed
    assert await store.get_status("taken") == StreamStatus("active", 0)


async def test_bad_arguments_raise_before_anything_is_stored(store: MemoryStreamStore) -> None:
    with pytest.raises(ValueError, match="stream_id"):
        await DurableStream.start(store, items(), stream_id="")
    with pytest.raises(TypeError, match="stream_id"):
        await DurableStream.start(store, items(), stream_id=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="source"):
        await DurableStream.start(store, ["a", "b"], stream_id="s1")  # type: ignore[arg-type]
    assert await store.get_status("s1") is None
    with pytest.raises(ValueError, match="after_seq"):
        DurableStream.resume(store, "s1", -1)
    with pytest.raises(TypeError, match="after_seq"):
        DurableStream.resume(store, "s1", "3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stream_id"):
        DurableStream.resume(store, "a\nb")


# ---- live follow, readers ----------------------------------------------------------------------


async def test_live_reader_gets_every_chunk_once_in_order(store: MemoryStreamStore) -> None:
    gate = Gate()
    durable = await DurableStream.start(store, gate.source(), stream_id="live")
    received: list[SSEMessage] = []

    async def read() -> None:
        async for text in durable:
            received.extend(parse_sse(text))

    reader = asyncio.create_task(read())
    await until(lambda: len(received) == 1)  # the stream-id message
    words = [f"token {i}\n" if i % 7 == 0 else f"token {i} " for i in range(50)]
    for n, word in enumerate(words, start=1):
        await gate.queue.put(word)
        await until(lambda n=n: len(received) == n + 1)  # type: ignore[misc]
    await gate.queue.put(None)
    await reader
    assert received[0] == SSEMessage("live", "stream-id", "live")
    assert received[1:-1] == [SSEMessage(str(i), "", w) for i, w in enumerate(words, start=1)]
    assert received[-1] == SSEMessage("", "done", "")
    assert await durable.wait() == StreamStatus("done", 50)


async def test_several_readers_get_the_same_text(store: MemoryStreamStore) -> None:
    gate = Gate()
    durable = await DurableStream.start(store, gate.source(), stream_id="multi")
    readers = [asyncio.create_task(text_of(durable.sse())) for _ in range(5)]
    for i in range(20):
        await gate.queue.put(f"{i},")
        if i % 3 == 0:
            await asyncio.sleep(0)
    await gate.queue.put(None)
    outs = await asyncio.gather(*readers)
    assert len(set(outs)) == 1
    assert [m.data for m in parse_sse(outs[0]) if m.seq] == [f"{i}," for i in range(20)]


async def test_slow_consumer_gets_everything(store: MemoryStreamStore) -> None:
    tokens = [f"w{i} " for i in range(200)]
    durable = await DurableStream.start(store, items(*tokens), stream_id="slow")
    got: list[str] = []
    async for text in durable:
        got.append(text)
        await asyncio.sleep(0.0005)  # the producer runs ahead; nothing is lost
    assert durable.done()
    assert [m.data for m in parse_sse("".join(got)) if m.seq] == tokens
    assert got[-1] == DONE


async def test_dropped_reference_keeps_producing(store: MemoryStreamStore) -> None:
    gate = Gate()
    durable = await DurableStream.start(store, gate.source(), stream_id="orphan")
    del durable
    gc.collect()
    for word in ("still", " ", "running"):
        await gate.queue.put(word)
    await gate.queue.put(None)
    out = parse_sse(await text_of(DurableStream.resume(store, "orphan")))
    assert "".join(m.data for m in out if m.seq) == "still running"
    assert out[-1].event == "done"


# ---- data edge cases ------------------------------------------------------------------------


async def test_unicode_newlines_and_separator_in_data(store: MemoryStreamStore) -> None:
    tokens = ["héllo 🌍", "two\nlines\n", "\x01lead", "mid\x01dle", "", "\r\ncrlf", "末尾\n\n"]
    durable = await DurableStream.start(store, items(*tokens), stream_id="uni")
    await durable.wait()
    stored = [c.data async for c in store.read_from("uni")]
    assert stored == ["\x01" + t for t in tokens]
    messages = parse_sse(await text_of(DurableStream.resume(store, "uni")))
    assert [(m.seq, m.data) for m in messages[:-1]] == list(enumerate(tokens, start=1))


async def test_named_event_data_with_newlines_is_split_into_data_lines(
    store: MemoryStreamStore,
) -> None:
    source = items("text", ("tool_call", '{\n  "name": "x"\n}'), ("usage", "\x01"))
    durable = await DurableStream.start(store, source, stream_id="ev")
    await durable.wait()
    out = await collect(DurableStream.resume(store, "ev"))
    assert out == [
        "id: 1\ndata: text\n\n",
        'event: tool_call\ndata: {\ndata:   "name": "x"\ndata: }\n\n',
        "event: usage\ndata: \x01\n\n",
        DONE,
    ]
    assert parse_sse(out[1]) == [SSEMessage("", "tool_call", '{\n  "name": "x"\n}')]


async def test_resume_from_every_position_is_a_suffix(store: MemoryStreamStore) -> None:
    source_items: list[SourceItem] = [
        "a",
        "b\nc",
        ("tool", "{}"),
        "",
        ("tool", "x\ny"),
        "é",
        "\x01",
    ]
    durable = await DurableStream.start(store, items(*source_items), stream_id="sfx")
    total = (await durable.wait()).total_chunks
    assert total == len(source_items)
    full = await collect(durable.sse())
    assert full[0] == format_stream_id("sfx")
    body = full[1:]  # one message per chunk, then the end
    for after in range(total + 1):
        assert await collect(DurableStream.resume(store, "sfx", after)) == body[after:]
    assert await collect(DurableStream.resume(store, "sfx", total + 5)) == [DONE]


# ---- stop and failure -------------------------------------------------------------------------


async def test_stop_before_the_producer_ran(store: MemoryStreamStore) -> None:
    gate = Gate()
    source = gate.source()
    durable = await DurableStream.start(store, source, stream_id="early")
    assert await durable.stop() == StreamStatus("stopped", 0)
    assert not gate.closed  # never started...
    gate.queue.put_nowait("late")
    with pytest.raises(StopAsyncIteration):  # ...but closed: it will never run
        await anext(source)


async def test_stop_before_any_token(store: MemoryStreamStore) -> None:
    gate = Gate()
    durable = await DurableStream.start(store, gate.source(), stream_id="early")
    await asyncio.sleep(0)  # the source is now waiting for its first token
    assert await durable.stop() == StreamStatus("stopped", 0)
    assert gate.closed
    assert await text_of(DurableStream.resume(store, "early")) == (
        "event: stopped\ndata: \n\n" + DONE
    )


async def test_stop_after_finish_is_a_no_op(store: MemoryStreamStore) -> None:
    durable = await DurableStream.start(store, items("x"), stream_id="fin")
    assert await durable.wait() == StreamStatus("done", 1)
    assert await durable.stop() == StreamStatus("done", 1)
    assert await durable.stop() == StreamStatus("done", 1)


async def test_stop_while_source_never_yields_control_back(store: MemoryStreamStore) -> None:
    # A source that ignores cancellation once and keeps yielding: the stop flag still ends it.
    stopped_once = False

    async def stubborn() -> AsyncIterator[str]:
        nonlocal stopped_once
        i = 0
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if stopped_once:
                    raise
                stopped_once = True
            i += 1
            yield f"t{i}"

    durable = await DurableStream.start(store, stubborn(), stream_id="stubborn")
    await asyncio.sleep(0)
    status = await durable.stop()
    assert stopped_once
    assert status == StreamStatus("stopped", 0)


async def test_stop_through_the_store_ends_the_producer(store: MemoryStreamStore) -> None:
    gate = Gate()
    durable = await DurableStream.start(store, gate.source(), stream_id="ext")
    await gate.queue.put("one")
    await first_chunk(store, "ext")
    await store.stop("ext")  # e.g. a stop endpoint served by another worker
    await gate.queue.put("two")
    assert await durable.wait() == StreamStatus("stopped", 1)
    assert gate.closed
    out = await text_of(DurableStream.resume(store, "ext"))
    assert out == "id: 1\ndata: one\n\nevent: stopped\ndata: \n\n" + DONE


async def test_source_exception_is_recorded_and_logged(
    store: MemoryStreamStore, caplog: pytest.LogCaptureFixture
) -> None:
    gate = Gate()
    with caplog.at_level(logging.WARNING, logger="aibind.core.durable"):
        durable = await DurableStream.start(store, gate.source(), stream_id="boom")
        await gate.queue.put("a")
        await gate.queue.put("b")
        await gate.queue.put(ValueError("upstream 529: overloaded\nretry later"))
        status = await durable.wait()
    assert status == StreamStatus("error", 2, "upstream 529: overloaded\nretry later")
    assert gate.closed
    out = await collect(DurableStream.resume(store, "boom"))
    assert out[-1] == "event: error\ndata: upstream 529: overloaded\ndata: retry later\n\n" + DONE
    assert any(r.exc_info and r.exc_info[0] is ValueError for r in caplog.records)


async def test_exception_without_message_records_its_type(store: MemoryStreamStore) -> None:
    async def source() -> AsyncIterator[str]:
        empty: tuple[str, ...] = ()
        for token in empty:
            yield token
        raise ConnectionResetError

    durable = await DurableStream.start(store, source(), stream_id="nomsg")
    assert await durable.wait() == StreamStatus("error", 0, "ConnectionResetError")


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (b"bytes", "source items must be str or (event, data) tuples, not bytes"),
        (("", "data"), "the event must be a non-empty str"),
        (("bad\nname", "data"), "event must not contain"),
        ("nul\x00", "must not contain NUL"),
    ],
)
async def test_bad_source_item_fails_the_stream(
    store: MemoryStreamStore, item: object, message: str
) -> None:
    durable = await DurableStream.start(
        store,
        items("ok", item),  # type: ignore[arg-type]
        stream_id="bad",
    )
    status = await durable.wait()
    assert (status.state, status.total_chunks) == ("error", 1)
    assert status.error is not None
    assert message in status.error


async def test_stop_from_inside_the_source_fails_the_stream(store: MemoryStreamStore) -> None:
    holder: list[DurableStream] = []

    async def source() -> AsyncIterator[str]:
        await until(lambda: bool(holder))
        yield "x"
        await holder[0].stop()

    holder.append(await DurableStream.start(store, source(), stream_id="self"))
    status = await holder[0].wait()
    assert status.state == "error"
    assert status.error == "DurableStream.stop() cannot be awaited from inside its source"


async def test_store_failure_is_raised_by_wait_and_logged(
    store: MemoryStreamStore, caplog: pytest.LogCaptureFixture
) -> None:
    gate = Gate()
    durable = await DurableStream.start(store, gate.source(), stream_id="gone")
    await gate.queue.put("a")
    await first_chunk(store, "gone")
    await store.delete("gone")  # the stream vanishes mid-generation: nothing can be recorded
    with caplog.at_level(logging.ERROR, logger="aibind.core.durable"):
        await gate.queue.put("b")
        await until(durable.done)
    assert gate.closed
    # Observed by the done callback already (no "exception was never retrieved")...
    assert any(r.exc_info and r.exc_info[0] is StreamNotFoundError for r in caplog.records)
    # ...and raised to whoever waits.
    with pytest.raises(StreamNotFoundError):
        await durable.wait()


async def test_resume_unknown_stream_ends_with_npm_error(store: MemoryStreamStore) -> None:
    out = await text_of(DurableStream.resume(store, "nope"))
    assert out == "event: error\ndata: Stream read failed\n\n" + DONE


async def test_cancelled_reader_does_not_disturb_producer(store: MemoryStreamStore) -> None:
    gate = Gate()
    durable = await DurableStream.start(store, gate.source(), stream_id="drop")
    reader = asyncio.create_task(text_of(durable.sse()))
    await gate.queue.put("a")
    await asyncio.sleep(0)
    reader.cancel()  # the client disconnects
    with pytest.raises(asyncio.CancelledError):
        await reader
    await gate.queue.put("b")
    await gate.queue.put(None)
    assert await durable.wait() == StreamStatus("done", 2)
    out = parse_sse(await text_of(DurableStream.resume(store, "drop", 1)))
    assert [(m.seq, m.data) for m in out] == [(2, "b"), (None, "")]


async def test_cancelling_a_waiter_does_not_cancel_the_producer(store: MemoryStreamStore) -> None:
    gate = Gate()
    durable = await DurableStream.start(store, gate.source(), stream_id="waiter")
    waiter = asyncio.create_task(durable.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not durable.done()
    await gate.queue.put("still here")
    await gate.queue.put(None)
    assert await durable.wait() == StreamStatus("done", 1)


def test_event_loop_shutdown_records_stopped() -> None:
    # Runs its own event loops (asyncio.run), so it is a plain function, not a coroutine.
    store = MemoryStreamStore()
    gate_closed: list[bool] = []

    async def main() -> None:
        gate = Gate()
        await DurableStream.start(store, gate.source(), stream_id="shutdown")
        await gate.queue.put("a")
        await first_chunk(store, "shutdown")
        gate_closed.append(gate.closed)
        # Returning leaves the producer running: asyncio.run cancels it on the way out.

    asyncio.run(main())
    assert gate_closed == [False]
    assert asyncio.run(store.get_status("shutdown")) == StreamStatus("stopped", 1)


# ---- the browser variant ---------------------------------------------------------------------


async def test_resume_with_event_ids_from_every_position(store: MemoryStreamStore) -> None:
    source = items("a", ("tool", "{}"), "b\nc", ("usage", '{"inputTokens":1}'))
    durable = await DurableStream.start(store, source, stream_id="ids")
    assert await durable.wait() == StreamStatus("done", 4)
    body = [
        "id: 1\ndata: a\n\n",
        "event: tool\nid: 2\ndata: {}\n\n",
        "id: 3\ndata: b\ndata: c\n\n",
        'event: usage\nid: 4\ndata: {"inputTokens":1}\n\n',
        "event: done\nid: 5\ndata: \n\n",
    ]
    for after in range(5):
        assert (
            await collect(DurableStream.resume(store, "ids", after, event_ids=True)) == body[after:]
        )
    # Past the end the text is just the end again (deciding to answer 204 is the server's job).
    assert await collect(DurableStream.resume(store, "ids", 5, event_ids=True)) == body[4:]
    # Without event_ids the bytes stay npm's.
    npm = await text_of(DurableStream.resume(store, "ids", 0))
    assert "id: 2" not in npm
    assert npm.endswith("event: done\ndata: \n\n")


# ---- shutdown: running(), stop_all() ------------------------------------------------------------


async def test_running_lists_live_producers_per_store() -> None:
    first, second = MemoryStreamStore(), MemoryStreamStore()
    gates = [Gate(), Gate(), Gate()]
    a = await DurableStream.start(first, gates[0].source(), stream_id="a")
    b = await DurableStream.start(first, gates[1].source(), stream_id="b")
    c = await DurableStream.start(second, gates[2].source(), stream_id="c")
    assert DurableStream.running(first) == [a, b]
    assert DurableStream.running(second) == [c]
    assert {a, b, c} <= set(DurableStream.running())
    await gates[0].queue.put(None)
    await a.wait()
    assert DurableStream.running(first) == [b]
    assert await DurableStream.stop_all(second) == {"c": StreamStatus("stopped", 0)}
    assert DurableStream.running(first) == [b]  # another store's streams are left alone
    assert await DurableStream.stop_all() == {"b": StreamStatus("stopped", 0)}
    assert DurableStream.running() == []


async def test_stop_all_records_stopped_and_followers_end_at_once(
    store: MemoryStreamStore,
) -> None:
    gates = [Gate() for _ in range(3)]
    streams = [
        await DurableStream.start(store, gate.source(), stream_id=f"g{i}")
        for i, gate in enumerate(gates)
    ]
    for gate in gates:
        await gate.queue.put("partial")
    for stream in streams:
        await first_chunk(store, stream.id)
    followers = [asyncio.create_task(text_of(DurableStream.resume(store, s.id))) for s in streams]
    await asyncio.sleep(0)
    result = await DurableStream.stop_all(store)
    assert result == {s.id: StreamStatus("stopped", 1) for s in streams}
    assert all(gate.closed for gate in gates)
    outs = await asyncio.wait_for(asyncio.gather(*followers), timeout=1.0)
    assert outs == ["id: 1\ndata: partial\n\nevent: stopped\ndata: \n\n" + DONE] * 3


async def test_stop_all_keeps_going_when_one_store_call_fails(
    store: MemoryStreamStore, caplog: pytest.LogCaptureFixture
) -> None:
    gates = [Gate(), Gate()]
    doomed = await DurableStream.start(store, gates[0].source(), stream_id="doomed")
    fine = await DurableStream.start(store, gates[1].source(), stream_id="fine")
    await asyncio.sleep(0)
    await store.delete("doomed")  # its stop() cannot be recorded
    with caplog.at_level(logging.ERROR, logger="aibind.core.durable"):
        result = await DurableStream.stop_all(store)
    assert result == {"fine": StreamStatus("stopped", 0)}
    assert doomed.done()
    assert fine.done()
    assert any("doomed" in r.getMessage() for r in caplog.records)


async def test_stop_all_from_inside_a_source_is_refused(store: MemoryStreamStore) -> None:
    async def source() -> AsyncIterator[str]:
        yield "x"
        await DurableStream.stop_all(store)

    durable = await DurableStream.start(store, source(), stream_id="inside")
    status = await durable.wait()
    assert status.state == "error"
    assert status.error == "DurableStream.stop_all() cannot be awaited from inside a source"


def test_lifespan_end_records_stopped_before_the_store_closes() -> None:
    # An app's lifespan: the store opens at startup and closes at shutdown. Stopping the
    # streams first (the documented order) records `stopped`; the store closes afterwards
    # (a closed store refuses everything, so in the other order nothing could be recorded).
    store = MemoryStreamStore()
    received: list[str] = []
    recorded: list[StreamStatus | None] = []

    async def app() -> None:
        try:
            gate = Gate()
            durable = await DurableStream.start(store, gate.source(), stream_id="life")
            await gate.queue.put("half")
            await first_chunk(store, "life")
            follower = asyncio.create_task(text_of(DurableStream.resume(store, "life")))
            await asyncio.sleep(0)
            # --- lifespan shutdown: stop the streams, then close the store ---
            await DurableStream.stop_all()
            received.append(await asyncio.wait_for(follower, timeout=1.0))
            assert durable.done()
            recorded.append(await store.get_status("life"))
        finally:
            await store.aclose()
        with pytest.raises(StoreClosedError):
            await store.stop("life")

    asyncio.run(app())
    assert received == ["id: 1\ndata: half\n\nevent: stopped\ndata: \n\n" + DONE]
    assert recorded == [StreamStatus("stopped", 1)]


async def test_sse_batched_sends_the_same_bytes_a_page_a_text(store: MemoryStreamStore) -> None:
    durable = await DurableStream.start(store, items("a", "b\nc", "d"), stream_id="bt")
    await durable.wait()
    per_message = [m async for m in durable.sse()]
    batched = [t async for t in durable.sse(batched=True)]
    assert "".join(batched) == "".join(per_message)
    assert len(per_message) == 5  # stream id, three chunks, done
    assert len(batched) == 3  # stream id, one page of the three chunks, done
