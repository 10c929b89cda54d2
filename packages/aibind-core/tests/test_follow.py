"""Edge cases of the shared follower loop (the conformance suite covers the common paths)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import pytest

from aibind.core.errors import CorruptDataError, StreamExpiredError, StreamNotFoundError
from aibind.core.follow import follow, follow_pages
from aibind.core.types import StreamChunk, StreamStatus

Script = list[tuple[StreamStatus | None, Sequence[StreamChunk]]]
Fetch = Callable[[int], Awaitable[tuple[StreamStatus | None, Sequence[StreamChunk]]]]


def _fetcher(script: Script) -> tuple[Fetch, list[int]]:
    calls: list[int] = []

    async def fetch(after: int) -> tuple[StreamStatus | None, Sequence[StreamChunk]]:
        calls.append(after)
        return script[min(len(calls) - 1, len(script) - 1)]

    return fetch, calls


async def _no_wait(timeout: float | None) -> bool:
    return False


async def test_unknown_stream() -> None:
    fetch, _ = _fetcher([(None, [])])
    with pytest.raises(StreamNotFoundError):
        async for _ in follow("s", 0, fetch=fetch, wait=_no_wait, ttl=1, poll_interval=0.01):
            pass


async def test_stream_vanishing_mid_read_is_expiry() -> None:
    fetch, _ = _fetcher([(StreamStatus("active", 1), [StreamChunk(1, "a")]), (None, [])])
    seen: list[str] = []

    async def read() -> None:
        async for c in follow("s", 0, fetch=fetch, wait=_no_wait, ttl=1, poll_interval=0.01):
            seen.append(c.data)

    with pytest.raises(StreamExpiredError):
        await read()
    assert seen == ["a"]


async def test_duplicate_chunks_from_storage_are_not_repeated() -> None:
    fetch, calls = _fetcher(
        [
            (StreamStatus("active", 2), [StreamChunk(1, "a"), StreamChunk(2, "b")]),
            (StreamStatus("done", 3), [StreamChunk(2, "b"), StreamChunk(3, "c")]),
        ]
    )
    got = [c async for c in follow("s", 0, fetch=fetch, wait=_no_wait, ttl=1, poll_interval=0.01)]
    assert [c.seq for c in got] == [1, 2, 3]
    assert calls == [0, 2]


async def test_gap_in_seqs_is_corrupt_data() -> None:
    fetch, _ = _fetcher([(StreamStatus("done", 3), [StreamChunk(1, "a"), StreamChunk(3, "c")])])
    with pytest.raises(CorruptDataError, match="expected seq 2"):
        async for _ in follow("s", 0, fetch=fetch, wait=_no_wait, ttl=1, poll_interval=0.01):
            pass


async def test_terminal_stream_missing_chunks_is_corrupt_data() -> None:
    fetch, calls = _fetcher(
        [(StreamStatus("done", 5), [StreamChunk(1, "a")]), (StreamStatus("done", 5), [])]
    )
    with pytest.raises(CorruptDataError, match="total_chunks=5"):
        async for _ in follow("s", 0, fetch=fetch, wait=_no_wait, ttl=1, poll_interval=0.01):
            pass
    assert len(calls) == 4  # one read, then retries before giving up


async def test_idle_active_stream_expires_after_ttl() -> None:
    fetch, _ = _fetcher([(StreamStatus("active", 0), [])])
    waits: list[float | None] = []

    async def wait(timeout: float | None) -> bool:
        waits.append(timeout)
        return False

    with pytest.raises(StreamExpiredError, match=r"no chunk for 0\.2 s"):
        async for _ in follow("s", 0, fetch=fetch, wait=wait, ttl=0.2, poll_interval=None):
            pass
    assert waits
    assert all(w is not None and 0 <= w <= 0.2 for w in waits)


async def test_poll_interval_caps_each_wait() -> None:
    fetch, _ = _fetcher([(StreamStatus("active", 0), []), (StreamStatus("done", 0), [])])
    waits: list[float | None] = []

    async def wait(timeout: float | None) -> bool:
        waits.append(timeout)
        return False

    got = [c async for c in follow("s", 0, fetch=fetch, wait=wait, ttl=300, poll_interval=0.05)]
    assert got == []
    assert waits == [0.05]


async def test_hinted_chunks_come_before_the_read_that_confirms_them() -> None:
    # The writer announces seqs 2 and 3 (out of order, 2 twice, plus a stale 1 and a 5 after a
    # gap): 2 and 3 are delivered before the read, which then adds only 4.
    events: list[str] = []
    script: Script = [
        (StreamStatus("active", 1), [StreamChunk(1, "a")]),
        (StreamStatus("done", 4), [StreamChunk(3, "c"), StreamChunk(4, "d")]),
    ]
    inner, calls = _fetcher(script)

    async def fetch(after: int) -> tuple[StreamStatus | None, Sequence[StreamChunk]]:
        events.append(f"read after {after}")
        return await inner(after)

    def hints() -> list[StreamChunk]:
        if len(calls) != 1:
            return []
        seqs = [3, 1, 2, 2, 5]
        return [StreamChunk(seq, "abcde"[seq - 1]) for seq in seqs]

    got = []
    async for page in follow_pages(
        "s", 0, fetch=fetch, wait=_no_wait, ttl=1, poll_interval=0.01, page_size=10, hints=hints
    ):
        got.append([c.seq for c in page])
        events.append(f"page {got[-1]}")
    assert got == [[1], [2, 3], [4]]
    assert events == ["read after 0", "page [1]", "page [2, 3]", "read after 3", "page [4]"]
