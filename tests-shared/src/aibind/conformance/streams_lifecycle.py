"""Conformance: creating, appending, status, terminal transitions, data fidelity, bad input."""

from __future__ import annotations

import pytest

from aibind.conformance.base import StreamStoreFixtures, collect, new_id
from aibind.core.errors import StreamExistsError, StreamNotActiveError, StreamNotFoundError
from aibind.core.protocols import StreamStore
from aibind.core.types import StreamStatus

__all__ = ["StreamLifecycleTests"]

TRICKY_CHUNKS = [
    "",
    "plain",
    "ünïcödé ☃ 日本語 עברית 🧪👩🏽‍💻",
    "line one\nline two\r\nline three\r",
    "event-like\x01separator\x01twice",
    'tool_call\x01{"name":"x"}',
    "data: looks like SSE\n\nid: 9\n",
    "quotes ' \" ` and backslash \\ and %s %d {} $1 ?",
    "\t tabs and trailing spaces   ",
    "\x7f\x1b[31mansi\x1b[0m",
]


class StreamLifecycleTests(StreamStoreFixtures):
    """Create/append/status and the one-way terminal transitions."""

    async def test_create_gives_empty_active_stream(self, store: StreamStore) -> None:
        sid = new_id()
        await store.create(sid)
        assert await store.get_status(sid) == StreamStatus("active", 0, None)

    async def test_get_status_of_unknown_stream_is_none(self, store: StreamStore) -> None:
        assert await store.get_status(new_id()) is None

    async def test_create_twice_raises_and_keeps_data(self, store: StreamStore) -> None:
        sid = new_id()
        await store.create(sid)
        await store.append(sid, "kept")
        with pytest.raises(StreamExistsError) as info:
            await store.create(sid)
        assert info.value.stream_id == sid
        assert await store.get_status(sid) == StreamStatus("active", 1, None)
        await store.complete(sid)
        assert [c.data for c in await collect(store.read_from(sid))] == ["kept"]

    async def test_create_of_finished_stream_id_raises(self, store: StreamStore) -> None:
        sid = new_id()
        await store.create(sid)
        await store.complete(sid)
        with pytest.raises(StreamExistsError):
            await store.create(sid)

    async def test_append_returns_one_based_seqs(self, store: StreamStore) -> None:
        sid = new_id()
        await store.create(sid)
        assert [await store.append(sid, f"c{i}") for i in range(5)] == [1, 2, 3, 4, 5]
        assert await store.get_status(sid) == StreamStatus("active", 5, None)

    async def test_append_to_unknown_stream_raises(self, store: StreamStore) -> None:
        sid = new_id()
        with pytest.raises(StreamNotFoundError) as info:
            await store.append(sid, "x")
        assert info.value.stream_id == sid
        assert await store.get_status(sid) is None

    @pytest.mark.parametrize("end", ["complete", "stop", "fail"])
    async def test_append_after_terminal_raises(self, store: StreamStore, end: str) -> None:
        sid = new_id()
        await store.create(sid)
        await store.append(sid, "a")
        await (store.fail(sid, "boom") if end == "fail" else getattr(store, end)(sid))
        state = {"complete": "done", "stop": "stopped", "fail": "error"}[end]
        with pytest.raises(StreamNotActiveError) as info:
            await store.append(sid, "b")
        assert info.value.state == state
        status = await store.get_status(sid)
        assert status is not None
        assert (status.state, status.total_chunks) == (state, 1)

    async def test_complete(self, store: StreamStore) -> None:
        sid = new_id()
        await store.create(sid)
        await store.append(sid, "a")
        await store.complete(sid)
        assert await store.get_status(sid) == StreamStatus("done", 1, None)

    async def test_stop(self, store: StreamStore) -> None:
        sid = new_id()
        await store.create(sid)
        await store.stop(sid)
        assert await store.get_status(sid) == StreamStatus("stopped", 0, None)

    async def test_fail_records_message(self, store: StreamStore) -> None:
        sid = new_id()
        await store.create(sid)
        await store.append(sid, "partial")
        await store.fail(sid, "model overloaded: ünïcödé\nsecond line")
        assert await store.get_status(sid) == StreamStatus(
            "error", 1, "model overloaded: ünïcödé\nsecond line"
        )

    @pytest.mark.parametrize("first", ["complete", "stop", "fail"])
    async def test_terminal_states_are_one_way_and_idempotent(
        self, store: StreamStore, first: str
    ) -> None:
        sid = new_id()
        await store.create(sid)
        await (store.fail(sid, "first") if first == "fail" else getattr(store, first)(sid))
        before = await store.get_status(sid)
        await store.complete(sid)
        await store.stop(sid)
        await store.fail(sid, "second")
        await (store.fail(sid, "first") if first == "fail" else getattr(store, first)(sid))
        assert await store.get_status(sid) == before

    @pytest.mark.parametrize("end", ["complete", "stop", "fail"])
    async def test_terminal_transition_of_unknown_stream_raises(
        self, store: StreamStore, end: str
    ) -> None:
        sid = new_id()
        with pytest.raises(StreamNotFoundError):
            await (store.fail(sid, "x") if end == "fail" else getattr(store, end)(sid))
        assert await store.get_status(sid) is None

    async def test_streams_are_independent(self, store: StreamStore) -> None:
        a, b = new_id(), new_id()
        await store.create(a)
        await store.create(b)
        await store.append(a, "a1")
        await store.append(b, "b1")
        await store.append(a, "a2")
        await store.complete(a)
        assert await store.get_status(b) == StreamStatus("active", 1, None)
        assert [c.data for c in await collect(store.read_from(a))] == ["a1", "a2"]

    async def test_tricky_chunks_round_trip(self, store: StreamStore) -> None:
        sid = new_id()
        await store.create(sid)
        for chunk in TRICKY_CHUNKS:
            await store.append(sid, chunk)
        await store.complete(sid)
        got = await collect(store.read_from(sid))
        assert [c.data for c in got] == TRICKY_CHUNKS
        assert [c.seq for c in got] == list(range(1, len(TRICKY_CHUNKS) + 1))

    async def test_one_megabyte_chunk_round_trips(self, store: StreamStore) -> None:
        sid = new_id()
        big = ("0123456789abcdef☃\n\x01" * 60_000)[: 1024 * 1024]
        await store.create(sid)
        await store.append(sid, "before")
        await store.append(sid, big)
        await store.append(sid, "after")
        await store.complete(sid)
        got = await collect(store.read_from(sid))
        assert [c.data for c in got] == ["before", big, "after"]

    async def test_long_and_unusual_ids(self, store: StreamStore) -> None:
        for sid in ["x" * 500, "with spaces and ünïcödé ☃", "a:b:{c}:*?[]", "'; DROP TABLE x; --"]:
            await store.create(sid)
            await store.append(sid, sid)
            await store.complete(sid)
            assert [c.data for c in await collect(store.read_from(sid))] == [sid]

    # ---- bad input -------------------------------------------------------------------------

    @pytest.mark.parametrize("bad", [None, 1, b"bytes", ["x"]])
    async def test_non_string_ids_raise_type_error(self, store: StreamStore, bad: object) -> None:
        with pytest.raises(TypeError, match="stream_id"):
            await store.create(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="stream_id"):
            await store.get_status(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="stream_id"):
            await collect(store.read_from(bad))  # type: ignore[arg-type]

    @pytest.mark.parametrize("bad", ["", "x" * 513, "new\nline", "nul\x00"])
    async def test_bad_ids_raise_value_error(self, store: StreamStore, bad: str) -> None:
        with pytest.raises(ValueError, match="stream_id"):
            await store.create(bad)
        with pytest.raises(ValueError, match="stream_id"):
            await store.append(bad, "x")

    @pytest.mark.parametrize("bad", [None, 5, b"bytes", ["x"]])
    async def test_non_string_chunk_raises_and_stores_nothing(
        self, store: StreamStore, bad: object
    ) -> None:
        sid = new_id()
        await store.create(sid)
        await store.append(sid, "ok")
        with pytest.raises(TypeError, match="chunk"):
            await store.append(sid, bad)  # type: ignore[arg-type]
        assert await store.get_status(sid) == StreamStatus("active", 1, None)

    async def test_nul_in_chunk_raises_and_stores_nothing(self, store: StreamStore) -> None:
        sid = new_id()
        await store.create(sid)
        with pytest.raises(ValueError, match="chunk"):
            await store.append(sid, "a\x00b")
        assert await store.get_status(sid) == StreamStatus("active", 0, None)

    @pytest.mark.parametrize(
        ("bad", "error"), [(-1, ValueError), ("1", TypeError), (1.5, TypeError)]
    )
    async def test_bad_after_seq(
        self, store: StreamStore, bad: object, error: type[Exception]
    ) -> None:
        sid = new_id()
        await store.create(sid)
        with pytest.raises(error, match="after_seq"):
            await collect(store.read_from(sid, bad))  # type: ignore[arg-type]

    async def test_bad_error_message(self, store: StreamStore) -> None:
        sid = new_id()
        await store.create(sid)
        with pytest.raises(TypeError, match="error"):
            await store.fail(sid, None)  # type: ignore[arg-type]
        assert await store.get_status(sid) == StreamStatus("active", 0, None)
