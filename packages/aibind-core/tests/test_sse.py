"""SSE formatting, chunk encoding and parsing (``aibind.core.sse``), byte for byte as npm."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sse_oracle import SSEDecoder, SSEMessage, parse_sse

from aibind.core.errors import StreamExpiredError
from aibind.core.memory import MemoryStreamStore
from aibind.core.sse import (
    SSE_HEADERS,
    decode_chunk,
    encode_chunk,
    format_chunk,
    format_end,
    format_event,
    format_retry,
    format_stream_id,
    format_text,
    iter_sse,
    iter_sse_pages,
    parse_last_event_id,
)
from aibind.core.types import StreamChunk, StreamStatus

# Text without NUL (stores refuse it); everything else, \x01, \n and \r included, is fair game.
texts = st.text(st.characters(blacklist_characters="\x00", codec="utf-8"))
event_names = st.text(st.characters(blacklist_characters="\x00\x01\n\r", codec="utf-8"), min_size=1)


# ---- stored chunk encoding ------------------------------------------------------------------


def test_encode_plain_text_has_empty_event() -> None:
    assert encode_chunk("Hello") == "\x01Hello"
    assert encode_chunk("") == "\x01"


def test_encode_named_event() -> None:
    assert encode_chunk('{"name":"x"}', "tool_call") == 'tool_call\x01{"name":"x"}'


def test_decode_splits_at_first_separator_only() -> None:
    assert decode_chunk("\x01a\x01b") == ("", "a\x01b")
    assert decode_chunk("ev\x01\x01") == ("ev", "\x01")
    assert decode_chunk('tool_call\x01{"name":"x"}') == ("tool_call", '{"name":"x"}')


def test_decode_without_separator_is_plain_text() -> None:
    assert decode_chunk("raw text appended directly") == ("", "raw text appended directly")
    assert decode_chunk("") == ("", "")


@given(data=texts)
def test_plain_round_trip(data: str) -> None:
    assert decode_chunk(encode_chunk(data)) == ("", data)


@given(data=texts, event=event_names)
def test_event_round_trip(data: str, event: str) -> None:
    assert decode_chunk(encode_chunk(data, event)) == (event, data)


@pytest.mark.parametrize("event", ["a\nb", "a\rb", "a\x01b"])
def test_encode_rejects_event_names_that_break_framing(event: str) -> None:
    with pytest.raises(ValueError, match="event"):
        encode_chunk("data", event)


def test_encode_rejects_non_str() -> None:
    with pytest.raises(TypeError, match="data"):
        encode_chunk(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="event"):
        encode_chunk("x", 3)  # type: ignore[arg-type]


# ---- message formatting (npm bytes) -----------------------------------------------------------


def test_format_text_single_line() -> None:
    assert format_text(1, "Hello") == "id: 1\ndata: Hello\n\n"


def test_format_text_one_data_line_per_line() -> None:
    assert format_text(2, " wor\nld") == "id: 2\ndata:  wor\ndata: ld\n\n"
    assert format_text(3, "a\n\nb\n") == "id: 3\ndata: a\ndata: \ndata: b\ndata: \n\n"


def test_format_text_empty_keeps_space_after_colon() -> None:
    assert format_text(7, "") == "id: 7\ndata: \n\n"


def test_format_event_without_id() -> None:
    assert format_event("tool_call", '{"name":"x"}') == 'event: tool_call\ndata: {"name":"x"}\n\n'
    assert format_event("done") == "event: done\ndata: \n\n"


def test_format_event_splits_multiline_data() -> None:
    # The one place we differ from npm, whose output would be malformed here.
    assert format_event("tool_call", '{\n"a": 1\n}') == (
        'event: tool_call\ndata: {\ndata: "a": 1\ndata: }\n\n'
    )


def test_format_event_rejects_line_break_in_name() -> None:
    with pytest.raises(ValueError, match="event"):
        format_event("a\nb")


def test_format_stream_id() -> None:
    assert format_stream_id("abc123") == "event: stream-id\nid: abc123\ndata: abc123\n\n"


def test_format_chunk_plain_and_named() -> None:
    assert format_chunk(StreamChunk(4, "\x01!")) == "id: 4\ndata: !\n\n"
    assert format_chunk(StreamChunk(3, "tool_call\x01{}")) == "event: tool_call\ndata: {}\n\n"
    # A chunk stored without the separator (appended directly) is plain text.
    assert format_chunk(StreamChunk(5, "raw")) == "id: 5\ndata: raw\n\n"


def test_format_chunk_keeps_separator_and_unicode_in_data() -> None:
    assert format_chunk(StreamChunk(1, "\x01héllo 🌍\x01x")) == "id: 1\ndata: héllo 🌍\x01x\n\n"


def test_format_end() -> None:
    done = "event: done\ndata: \n\n"
    assert format_end(StreamStatus("done", 3)) == done
    assert format_end(StreamStatus("stopped", 1)) == "event: stopped\ndata: \n\n" + done
    assert format_end(StreamStatus("error", 1, "model overloaded")) == (
        "event: error\ndata: model overloaded\n\n" + done
    )
    assert format_end(StreamStatus("error", 0)) == "event: error\ndata: Unknown error\n\n" + done
    assert format_end(None) == done


def test_headers() -> None:
    assert SSE_HEADERS == {
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    }


# ---- the browser variant (event_ids=True) -------------------------------------------------------


def test_format_event_with_id_is_npm_format_with_event() -> None:
    # npm SSE.format(id, data, event): event line, id line, data lines.
    assert format_event("tool_call", "{}", event_id=3) == "event: tool_call\nid: 3\ndata: {}\n\n"
    assert format_event("stream-id", "s1", event_id="s1") == format_stream_id("s1")
    with pytest.raises(ValueError, match="event_id"):
        format_event("x", event_id="1\n2")


def test_format_chunk_with_event_ids() -> None:
    assert format_chunk(StreamChunk(3, "tool_call\x01{}"), event_ids=True) == (
        "event: tool_call\nid: 3\ndata: {}\n\n"
    )
    # Plain chunks carry their id either way.
    assert format_chunk(StreamChunk(4, "\x01!"), event_ids=True) == "id: 4\ndata: !\n\n"


def test_format_end_with_event_ids_numbers_done_one_past_the_last_chunk() -> None:
    assert format_end(StreamStatus("done", 3), event_ids=True) == "event: done\nid: 4\ndata: \n\n"
    assert format_end(StreamStatus("stopped", 0), event_ids=True) == (
        "event: stopped\ndata: \n\nevent: done\nid: 1\ndata: \n\n"
    )
    assert format_end(StreamStatus("error", 2, "boom"), event_ids=True) == (
        "event: error\ndata: boom\n\nevent: done\nid: 3\ndata: \n\n"
    )
    # Not terminal (or vanished): nothing says the client has the end, so no id.
    assert format_end(StreamStatus("active", 2), event_ids=True) == "event: done\ndata: \n\n"
    assert format_end(None, event_ids=True) == "event: done\ndata: \n\n"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (1.0, "retry: 1000\n\n"),
        (0.25, "retry: 250\n\n"),
        (1e-9, "retry: 1\n\n"),
        (3, "retry: 3000\n\n"),
    ],
)
def test_format_retry(seconds: float, expected: str) -> None:
    assert format_retry(seconds) == expected
    assert parse_sse(expected) == []  # the field alone dispatches no event


@pytest.mark.parametrize("seconds", [0, -1.0, float("inf"), float("nan")])
def test_format_retry_rejects_bad_values(seconds: float) -> None:
    with pytest.raises(ValueError, match="seconds"):
        format_retry(seconds)


@pytest.mark.parametrize("seconds", ["1", None, True])
def test_format_retry_rejects_non_numbers(seconds: object) -> None:
    with pytest.raises(TypeError, match="seconds"):
        format_retry(seconds)  # type: ignore[arg-type]


@given(event=event_names, data=texts, seq=st.integers(1, 10**9))
def test_event_with_id_round_trips_through_parser(event: str, data: str, seq: int) -> None:
    assert parse_sse(format_event(event, data, event_id=seq)) == [SSEMessage(str(seq), event, data)]


# ---- parsing ------------------------------------------------------------------------------------


def test_parse_npm_style_body() -> None:
    body = (
        "event: stream-id\nid: s1\ndata: s1\n\n"
        "id: 1\ndata: Hello\n\n"
        "id: 2\ndata:  wor\ndata: ld\n\n"
        "event: done\ndata: \n\n"
    )
    assert parse_sse(body) == [
        SSEMessage("s1", "stream-id", "s1"),
        SSEMessage("1", "", "Hello"),
        SSEMessage("2", "", " wor\nld"),
        SSEMessage("", "done", ""),
    ]


def test_message_seq() -> None:
    assert SSEMessage("12", "", "x").seq == 12
    assert SSEMessage("s1", "stream-id", "s1").seq is None
    assert SSEMessage("", "done", "").seq is None


@given(seq=st.integers(min_value=1, max_value=10**9), text=texts)
def test_text_message_round_trips_through_parser(seq: int, text: str) -> None:
    assert parse_sse(format_text(seq, text)) == [SSEMessage(str(seq), "", text)]


@given(event=event_names, data=texts)
def test_event_message_round_trips_through_parser(event: str, data: str) -> None:
    assert parse_sse(format_event(event, data)) == [SSEMessage("", event, data)]


@given(
    pieces=st.lists(st.tuples(st.integers(1, 99), texts), max_size=8),
    cuts=st.lists(st.integers(0, 10_000), max_size=10),
)
def test_decoder_handles_arbitrary_splits(pieces: list[tuple[int, str]], cuts: list[int]) -> None:
    body = "".join(format_text(seq, text) for seq, text in pieces)
    points = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
    decoder = SSEDecoder()
    got: list[SSEMessage] = []
    for start, end in itertools.pairwise(points):
        got += decoder.feed(body[start:end])
    got += decoder.close()
    assert got == [SSEMessage(str(seq), "", text) for seq, text in pieces]


def test_decoder_close_returns_unterminated_message() -> None:
    decoder = SSEDecoder()
    assert decoder.feed("id: 1\ndata: a\n\nid: 2\ndata: b") == [SSEMessage("1", "", "a")]
    assert decoder.close() == [SSEMessage("2", "", "b")]
    assert decoder.close() == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, 0), ("", 0), ("0", 0), ("17", 17), (" 42 ", 42), ("abc123", 0), ("-3", 0), ("٣", 0)],
)
def test_parse_last_event_id(header: str | None, expected: int) -> None:
    assert parse_last_event_id(header) == expected


# ---- iter_sse -------------------------------------------------------------------------------


class ChunkSource:
    """A real async iterator over fixed chunks that records whether it was closed."""

    def __init__(self, chunks: list[StreamChunk], fail_after: int | None = None) -> None:
        self._chunks = list(chunks)
        self._fail_after = fail_after
        self._sent = 0
        self.closed = False

    def __aiter__(self) -> AsyncIterator[StreamChunk]:
        return self

    async def __anext__(self) -> StreamChunk:
        if self._fail_after is not None and self._sent == self._fail_after:
            raise StreamExpiredError("s1")
        if not self._chunks:
            raise StopAsyncIteration
        self._sent += 1
        return self._chunks.pop(0)

    async def aclose(self) -> None:
        self.closed = True


def status_of(status: StreamStatus | None) -> Callable[[], Awaitable[StreamStatus | None]]:
    async def get() -> StreamStatus | None:
        return status

    return get


async def collect(it: AsyncIterator[str]) -> list[str]:
    return [text async for text in it]


async def test_iter_sse_new_stream() -> None:
    chunks = [StreamChunk(1, "\x01Hi"), StreamChunk(2, "ev\x01x")]
    out = await collect(
        iter_sse(ChunkSource(chunks), status_of(StreamStatus("done", 2)), stream_id="s1")
    )
    assert out == [
        "event: stream-id\nid: s1\ndata: s1\n\n",
        "id: 1\ndata: Hi\n\n",
        "event: ev\ndata: x\n\n",
        "event: done\ndata: \n\n",
    ]


async def test_iter_sse_resume_has_no_stream_id_message() -> None:
    source = ChunkSource([StreamChunk(3, "\x01x")])
    out = "".join(await collect(iter_sse(source, status_of(StreamStatus("stopped", 3)))))
    assert out == "id: 3\ndata: x\n\nevent: stopped\ndata: \n\nevent: done\ndata: \n\n"
    assert source.closed


async def test_iter_sse_read_failure_ends_with_npm_error(caplog: pytest.LogCaptureFixture) -> None:
    source = ChunkSource([StreamChunk(1, "\x01a"), StreamChunk(2, "\x01b")], fail_after=1)
    with caplog.at_level(logging.WARNING, logger="aibind.core.sse"):
        out = "".join(await collect(iter_sse(source, status_of(StreamStatus("done", 2)))))
    assert out == (
        "id: 1\ndata: a\n\nevent: error\ndata: Stream read failed\n\nevent: done\ndata: \n\n"
    )
    assert source.closed
    assert any(r.exc_info and r.exc_info[0] is StreamExpiredError for r in caplog.records)


async def test_iter_sse_closing_early_closes_chunks() -> None:
    source = ChunkSource([StreamChunk(i, f"\x01{i}") for i in range(1, 5)])
    it = iter_sse(source, status_of(StreamStatus("done", 4)), stream_id="s1")
    assert await anext(it) == "event: stream-id\nid: s1\ndata: s1\n\n"
    assert await anext(it) == "id: 1\ndata: 1\n\n"
    await it.aclose()  # type: ignore[attr-defined]
    assert source.closed


async def test_iter_sse_event_ids_numbers_every_message() -> None:
    chunks = [StreamChunk(1, "\x01Hi"), StreamChunk(2, "usage\x01{}")]
    out = await collect(
        iter_sse(ChunkSource(chunks), status_of(StreamStatus("done", 2)), event_ids=True)
    )
    assert out == [
        "id: 1\ndata: Hi\n\n",
        "event: usage\nid: 2\ndata: {}\n\n",
        "event: done\nid: 3\ndata: \n\n",
    ]


async def test_iter_sse_event_ids_read_failure_end_has_no_id() -> None:
    source = ChunkSource([StreamChunk(1, "\x01a")], fail_after=1)
    out = "".join(
        await collect(iter_sse(source, status_of(StreamStatus("done", 2)), event_ids=True))
    )
    assert out.endswith("event: error\ndata: Stream read failed\n\nevent: done\ndata: \n\n")


# ---- iter_sse_pages -------------------------------------------------------------------------


async def _stored(store: MemoryStreamStore, data: list[str], end: str = "complete") -> str:
    await store.create("s1")
    await store.append_many("s1", data)
    await getattr(store, end)("s1")
    return "s1"


@pytest.mark.parametrize("event_ids", [False, True])
async def test_iter_sse_pages_same_bytes_as_iter_sse(event_ids: bool) -> None:
    store = MemoryStreamStore()
    data = [
        encode_chunk(f"token {i}\nline") if i % 7 else encode_chunk("x", "ev") for i in range(2500)
    ]
    await _stored(store, data, "stop")
    status = status_of(await store.get_status("s1"))
    for after in (0, 1200, 2500):
        chunked = await collect(iter_sse(store.read_from("s1", after), status, event_ids=event_ids))
        paged = await collect(
            iter_sse_pages(store.read_pages("s1", after), status, event_ids=event_ids)
        )
        assert "".join(paged) == "".join(chunked)
        assert len(chunked) == 2500 - after + 1
        assert len(paged) <= 3  # a few pages and the end, not one text per chunk
    await store.aclose()


async def test_iter_sse_pages_sends_the_page_before_a_bad_chunk() -> None:
    store = MemoryStreamStore()
    data = [encode_chunk("a"), encode_chunk("b"), "bad\nname\x01x", encode_chunk("c")]
    await _stored(store, data)
    status = status_of(await store.get_status("s1"))
    expected = "".join(await collect(iter_sse(store.read_from("s1"), status)))
    paged = await collect(iter_sse_pages(store.read_pages("s1"), status, stream_id="s1"))
    assert paged == [
        "event: stream-id\nid: s1\ndata: s1\n\n",
        "id: 1\ndata: a\n\nid: 2\ndata: b\n\n",
        "event: error\ndata: Stream read failed\n\nevent: done\ndata: \n\n",
    ]
    assert "".join(paged[1:]) == expected
    await store.aclose()


async def test_iter_sse_pages_closing_early_releases_the_follower() -> None:
    store = MemoryStreamStore()
    await store.create("s1")
    await store.append("s1", encode_chunk("a"))
    it = iter_sse_pages(store.read_pages("s1"), status_of(None))
    assert await anext(it) == "id: 1\ndata: a\n\n"
    waiting = asyncio.ensure_future(anext(it))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # following the active stream
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await it.aclose()  # type: ignore[attr-defined]
    assert not store._following  # the follower and its subscription are gone
    assert not store._subscriptions
    await store.aclose()
