"""Conformance: ``read_pages`` — the chunks of ``read_from``, a page at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from aibind.conformance.base import (
    StreamStoreFactory,
    StreamStoreFixtures,
    abandon_waiting,
    collect,
    new_id,
    within,
)
from aibind.core.errors import StreamNotFoundError
from aibind.core.protocols import StreamStore
from aibind.core.types import StreamChunk

__all__ = ["StreamPagesTests"]


async def _pages(
    pages: AsyncIterator[Sequence[StreamChunk]], seconds: float = 30
) -> list[list[StreamChunk]]:
    return [list(page) for page in await collect(pages, seconds)]


def _flat(pages: list[list[StreamChunk]]) -> list[StreamChunk]:
    for page in pages:
        assert page, "read_pages yielded an empty page"
    return [chunk for page in pages for chunk in page]


class StreamPagesTests(StreamStoreFixtures):
    """``read_pages`` yields what ``read_from`` yields, in non-empty pages."""

    async def test_replay_in_pages_equals_read_from(self, store: StreamStore) -> None:
        sid = new_id()
        await store.create(sid)
        data = [f"chunk {i} " for i in range(2500)]
        append_many = getattr(store, "append_many", None)  # optional: fewer round trips
        for i in range(0, len(data), 500):
            if append_many is not None:
                await append_many(sid, data[i : i + 500])
            else:
                await asyncio.gather(*(store.append(sid, d) for d in data[i : i + 500]))
        await store.complete(sid)
        expected = await collect(store.read_from(sid), 30)
        assert sorted(c.data for c in expected) == sorted(data)
        for after in (0, 1, 999, 1000, 2499, 2500, 4000):
            pages = await _pages(store.read_pages(sid, after))
            assert _flat(pages) == expected[after:]
            if after == 0:  # a replay comes in a few large pages, not chunk by chunk
                assert 1 < len(pages) <= 3

    async def test_unknown_stream_and_bad_arguments(self, store: StreamStore) -> None:
        with pytest.raises(StreamNotFoundError):
            await _pages(store.read_pages(new_id()))
        with pytest.raises(ValueError, match="after_seq"):
            await _pages(store.read_pages(new_id(), -1))

    async def test_live_pages_then_end(self, store: StreamStore) -> None:
        sid = new_id()
        await store.create(sid)
        await store.append(sid, "a")
        reader = store.read_pages(sid)
        assert list(await within(anext(reader))) == [StreamChunk(1, "a")]
        later = asyncio.ensure_future(anext(reader))
        await asyncio.sleep(0.02)
        await store.append(sid, "b")
        seen = list(await within(later, 5))
        assert seen[0] == StreamChunk(2, "b")
        await store.append(sid, "c")
        await store.complete(sid)
        rest = await _pages(reader, 10)
        assert [c.data for c in seen + _flat(rest)] == ["b", "c"]

    async def test_closed_page_reader_is_released(self, make_store: StreamStoreFactory) -> None:
        store = await make_store(push_only=self.push)
        sid = new_id()
        await store.create(sid)
        await store.append(sid, "a")
        assert list(await abandon_waiting(store.read_pages(sid))) == [StreamChunk(1, "a")]
        # A second reader, closed by closing the read_from it sits behind, mid-follow.
        chunks = store.read_from(sid)
        assert (await within(anext(chunks))).data == "a"
        await within(chunks.aclose())  # type: ignore[attr-defined]
        await store.append(sid, "b")
        await store.complete(sid)
        assert _flat(await _pages(store.read_pages(sid))) == [
            StreamChunk(1, "a"),
            StreamChunk(2, "b"),
        ]
