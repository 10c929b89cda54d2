"""Conformance: ``read_from`` — replay, resume from any seq, live follow, push wake-ups."""

from __future__ import annotations

import asyncio
import random

import pytest

from aibind.conformance.base import (
    StreamStoreFactory,
    StreamStoreFixtures,
    abandon_waiting,
    collect,
    new_id,
    within,
)
from aibind.core.errors import StreamExistsError, StreamExpiredError, StreamNotFoundError
from aibind.core.protocols import StreamStore
from aibind.core.types import StreamChunk, StreamStatus

__all__ = ["StreamFollowTests"]


async def _finished_stream(store: StreamStore, chunks: list[str], end: str = "complete") -> str:
    sid = new_id()
    await store.create(sid)
    for chunk in chunks:
        await store.append(sid, chunk)
    await (store.fail(sid, "boom") if end == "fail" else getattr(store, end)(sid))
    return sid


class StreamFollowTests(StreamStoreFixtures):
    """Replay and live delivery."""

    async def test_read_unknown_stream_raises(self, store: StreamStore) -> None:
        with pytest.raises(StreamNotFoundError):
            await collect(store.read_from(new_id()))

    @pytest.mark.parametrize("end", ["complete", "stop", "fail"])
    async def test_read_finished_stream(self, store: StreamStore, end: str) -> None:
        data = [f"chunk-{i}" for i in range(7)]
        sid = await _finished_stream(store, data, end)
        got = await collect(store.read_from(sid))
        assert got == [StreamChunk(i + 1, d) for i, d in enumerate(data)]

    async def test_read_empty_finished_stream(self, store: StreamStore) -> None:
        sid = await _finished_stream(store, [])
        assert await collect(store.read_from(sid)) == []

    async def test_resume_from_every_position(self, store: StreamStore) -> None:
        data = [f"c{i}" for i in range(12)]
        sid = await _finished_stream(store, data)
        for after in range(len(data) + 1):
            got = await collect(store.read_from(sid, after))
            assert [c.seq for c in got] == list(range(after + 1, len(data) + 1))
            assert [c.data for c in got] == data[after:]

    async def test_resume_past_the_end_of_finished_stream(self, store: StreamStore) -> None:
        sid = await _finished_stream(store, ["a", "b"])
        assert await collect(store.read_from(sid, 50)) == []

    async def test_replay_of_many_chunks(self, store: StreamStore) -> None:
        sid = new_id()
        await store.create(sid)
        for i in range(1500):
            await store.append(sid, f"{i}")
        await store.complete(sid)
        got = await collect(store.read_from(sid), 30)
        assert [c.data for c in got] == [f"{i}" for i in range(1500)]
        got = await collect(store.read_from(sid, 1234), 30)
        assert got[0] == StreamChunk(1235, "1234")
        assert len(got) == 1500 - 1234

    async def test_live_followers_see_every_chunk_once_in_order(self, store: StreamStore) -> None:
        sid = new_id()
        await store.create(sid)
        data = [f"tok{i} " for i in range(200)]
        followers = [asyncio.create_task(collect(store.read_from(sid), 30)) for _ in range(3)]
        rng = random.Random(7)
        for i, chunk in enumerate(data):
            await store.append(sid, chunk)
            if i % 10 == 0:
                await asyncio.sleep(rng.random() / 500)
            else:
                await asyncio.sleep(0)
        await store.complete(sid)
        for got in await within(asyncio.gather(*followers), 30):
            assert got == [StreamChunk(i + 1, d) for i, d in enumerate(data)]

    async def test_follower_resuming_mid_live_stream(self, store: StreamStore) -> None:
        sid = new_id()
        await store.create(sid)
        for i in range(5):
            await store.append(sid, f"{i}")
        follower = asyncio.create_task(collect(store.read_from(sid, 3)))
        for i in range(5, 10):
            await store.append(sid, f"{i}")
            await asyncio.sleep(0.001)
        await store.complete(sid)
        got = await within(follower)
        assert [c.seq for c in got] == list(range(4, 11))

    async def test_follower_started_after_completion(self, store: StreamStore) -> None:
        sid = await _finished_stream(store, ["x", "y", "z"])
        await asyncio.sleep(0.05)
        assert [c.data for c in await collect(store.read_from(sid, 1))] == ["y", "z"]

    @pytest.mark.parametrize("end", ["complete", "stop", "fail"])
    async def test_live_follower_ends_on_terminal_state(self, store: StreamStore, end: str) -> None:
        sid = new_id()
        await store.create(sid)
        await store.append(sid, "a")
        follower = asyncio.create_task(collect(store.read_from(sid)))
        await asyncio.sleep(0.05)
        await store.append(sid, "b")
        await (store.fail(sid, "boom") if end == "fail" else getattr(store, end)(sid))
        assert [c.data for c in await within(follower)] == ["a", "b"]

    async def test_follower_of_empty_stream_ends_when_stopped(self, store: StreamStore) -> None:
        sid = new_id()
        await store.create(sid)
        follower = asyncio.create_task(collect(store.read_from(sid)))
        await asyncio.sleep(0.05)
        await store.stop(sid)
        assert await within(follower) == []

    async def test_push_wakes_follower_with_polling_off(
        self, make_store: StreamStoreFactory
    ) -> None:
        if not self.push:
            pytest.skip("the backend does not claim push delivery (it polls)")
        store = await make_store(push_only=True)
        sid = new_id()
        await store.create(sid)
        await store.append(sid, "first")
        reader = store.read_from(sid)
        assert await within(anext(reader)) == StreamChunk(1, "first")
        # The reader is now subscribed and caught up; only a notification can wake it.
        nxt = asyncio.ensure_future(anext(reader))
        await asyncio.sleep(0.05)
        assert not nxt.done()
        await store.append(sid, "second")
        assert await within(nxt, 5) == StreamChunk(2, "second")
        await store.complete(sid)
        with pytest.raises(StopAsyncIteration):
            await within(anext(reader), 5)

    async def test_follower_on_one_store_sees_appends_through_another(
        self, make_store: StreamStoreFactory
    ) -> None:
        reader_store = await make_store(push_only=self.push)
        writer_store = await make_store(push_only=self.push)
        sid = new_id()
        await writer_store.create(sid)
        await writer_store.append(sid, "0")
        reader = reader_store.read_from(sid)
        assert (await within(anext(reader))).data == "0"
        for i in range(1, 20):
            await writer_store.append(sid, str(i))
            assert await within(anext(reader), 5) == StreamChunk(i + 1, str(i))
        await writer_store.complete(sid)
        with pytest.raises(StopAsyncIteration):
            await within(anext(reader), 5)

    async def test_many_followers_of_one_stream(self, store: StreamStore) -> None:
        sid = new_id()
        await store.create(sid)
        followers = [asyncio.create_task(collect(store.read_from(sid), 30)) for _ in range(50)]
        await asyncio.sleep(0.05)
        for i in range(20):
            await store.append(sid, str(i))
        await store.complete(sid)
        for got in await within(asyncio.gather(*followers), 30):
            assert [c.data for c in got] == [str(i) for i in range(20)]

    async def test_abandoned_reader_is_released(self, store: StreamStore) -> None:
        sid = new_id()
        await store.create(sid)
        await store.append(sid, "a")
        await abandon_waiting(store.read_from(sid))
        await store.append(sid, "b")
        await store.complete(sid)
        assert [c.data for c in await collect(store.read_from(sid))] == ["a", "b"]

    # ---- expiry ----------------------------------------------------------------------------

    async def test_follower_of_abandoned_stream_expires(
        self, make_store: StreamStoreFactory
    ) -> None:
        store = await make_store(ttl=0.5, push_only=self.push)
        sid = new_id()
        await store.create(sid)
        await store.append(sid, "last words")
        seen: list[str] = []

        async def read() -> None:
            async for chunk in store.read_from(sid):
                seen.append(chunk.data)

        with pytest.raises(StreamExpiredError) as info:
            await within(read(), 15)
        assert seen == ["last words"]
        assert info.value.stream_id == sid

    async def test_finished_stream_expires_after_ttl(self, make_store: StreamStoreFactory) -> None:
        store = await make_store(ttl=0.4)
        sid = await _finished_stream(store, ["a"])
        assert await store.get_status(sid) is not None
        await asyncio.sleep(1.0)
        if self.expiry == "cleanup":
            # Still readable until cleanup() removes it (npm writes expires_at once).
            assert [c.data for c in await collect(store.read_from(sid))] == ["a"]
            assert await store.cleanup() >= 1  # type: ignore[attr-defined]
        assert await store.get_status(sid) is None
        with pytest.raises(StreamNotFoundError):
            await collect(store.read_from(sid))

    async def test_writes_refresh_the_ttl(self, make_store: StreamStoreFactory) -> None:
        store = await make_store(ttl=0.8)
        sid = new_id()
        await store.create(sid)
        for i in range(8):
            await asyncio.sleep(0.2)
            await store.append(sid, str(i))
        await store.complete(sid)
        assert [c.data for c in await collect(store.read_from(sid))] == [str(i) for i in range(8)]

    async def test_expired_stream_id_can_be_created_again(
        self, make_store: StreamStoreFactory
    ) -> None:
        store = await make_store(ttl=0.3)
        sid = await _finished_stream(store, ["old"])
        await asyncio.sleep(0.8)
        if self.expiry == "cleanup":
            with pytest.raises(StreamExistsError):
                await store.create(sid)  # never replaces a stream cleanup() has not removed
            assert [c.data for c in await collect(store.read_from(sid))] == ["old"]
            await store.cleanup()  # type: ignore[attr-defined]
        await store.create(sid)
        assert await store.append(sid, "new") == 1
        await store.complete(sid)
        assert [c.data for c in await collect(store.read_from(sid))] == ["new"]

    async def test_stream_past_its_expiry_stays_until_cleanup(
        self, make_store: StreamStoreFactory
    ) -> None:
        """A cleanup-expiry backend keeps a stream past its ``expires_at`` readable and
        appendable until ``cleanup()`` (npm sets ``expires_at`` once, at create, so a Node
        writer may still be appending), and ``create()`` never replaces it."""
        if self.expiry != "cleanup":
            pytest.skip("native expiry: the stream's keys vanish at their TTL")
        store = await make_store(ttl=0.3)
        sid = new_id()
        await store.create(sid)
        await store.append(sid, "a")
        await asyncio.sleep(0.6)  # past expires_at, not cleaned up
        with pytest.raises(StreamExistsError):
            await store.create(sid)
        assert await store.get_status(sid) == StreamStatus("active", 1, None)
        seen: list[str] = []

        async def follow() -> None:
            async for chunk in store.read_from(sid):
                seen.append(chunk.data)

        task = asyncio.create_task(follow())
        await asyncio.sleep(0.05)
        assert await store.append(sid, "b") == 2
        await store.complete(sid)
        await within(task)
        assert seen == ["a", "b"]
