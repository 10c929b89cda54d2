"""Conformance: the optional capabilities ``append_many``, ``delete`` and ``cleanup``."""

from __future__ import annotations

import asyncio

import pytest

from aibind.conformance.base import StreamStoreFactory, StreamStoreFixtures, collect, new_id, within
from aibind.core.errors import StreamExpiredError, StreamNotActiveError, StreamNotFoundError
from aibind.core.protocols import StreamStore
from aibind.core.types import StreamStatus

__all__ = ["StreamCapabilityTests"]

OPTIONAL = ("append_many", "delete", "cleanup")


class StreamCapabilityTests(StreamStoreFixtures):
    """Each claimed capability works; each unclaimed one is really absent."""

    async def test_claimed_capabilities_match_the_store(self, store: StreamStore) -> None:
        assert self.capabilities <= set(OPTIONAL), "unknown capability claimed"
        offered = {name for name in OPTIONAL if callable(getattr(store, name, None))}
        assert offered == set(self.capabilities)

    async def test_append_many(self, store: StreamStore) -> None:
        self._require(store, "append_many", self.capabilities)
        append_many = store.append_many  # type: ignore[attr-defined]
        sid = new_id()
        await store.create(sid)
        assert await append_many(sid, ["a", "b", "c"]) == 3
        assert await store.append(sid, "d") == 4
        assert await append_many(sid, ("e", "f")) == 6
        assert await append_many(sid, []) == 6
        await store.complete(sid)
        assert [c.data for c in await collect(store.read_from(sid))] == list("abcdef")

    async def test_append_many_bad_input_stores_nothing(self, store: StreamStore) -> None:
        self._require(store, "append_many", self.capabilities)
        append_many = store.append_many  # type: ignore[attr-defined]
        sid = new_id()
        await store.create(sid)
        with pytest.raises(TypeError, match="chunks"):
            await append_many(sid, "abc")
        with pytest.raises(TypeError, match="chunks"):
            await append_many(sid, ["ok", 3])
        with pytest.raises(ValueError, match="chunks"):
            await append_many(sid, ["ok", "nul\x00"])
        assert await store.get_status(sid) == StreamStatus("active", 0, None)

    async def test_append_many_errors(self, store: StreamStore) -> None:
        self._require(store, "append_many", self.capabilities)
        append_many = store.append_many  # type: ignore[attr-defined]
        with pytest.raises(StreamNotFoundError):
            await append_many(new_id(), ["a"])
        sid = new_id()
        await store.create(sid)
        await store.complete(sid)
        with pytest.raises(StreamNotActiveError):
            await append_many(sid, ["a"])

    async def test_append_many_wakes_followers(self, make_store: StreamStoreFactory) -> None:
        store = await make_store(push_only=self.push)
        self._require(store, "append_many", self.capabilities)
        sid = new_id()
        await store.create(sid)
        follower = asyncio.create_task(collect(store.read_from(sid)))
        await asyncio.sleep(0.05)
        await store.append_many(sid, [str(i) for i in range(50)])  # type: ignore[attr-defined]
        await store.complete(sid)
        assert [c.data for c in await within(follower)] == [str(i) for i in range(50)]

    async def test_delete(self, store: StreamStore) -> None:
        self._require(store, "delete", self.capabilities)
        sid = new_id()
        await store.create(sid)
        await store.append(sid, "a")
        await store.delete(sid)  # type: ignore[attr-defined]
        assert await store.get_status(sid) is None
        with pytest.raises(StreamNotFoundError):
            await collect(store.read_from(sid))
        await store.delete(sid)  # type: ignore[attr-defined]  # absent: no-op
        await store.create(sid)
        assert await store.append(sid, "fresh") == 1

    async def test_delete_ends_followers(self, make_store: StreamStoreFactory) -> None:
        store = await make_store(push_only=self.push)
        self._require(store, "delete", self.capabilities)
        sid = new_id()
        await store.create(sid)
        await store.append(sid, "a")
        seen: list[str] = []

        async def read() -> None:
            async for chunk in store.read_from(sid):
                seen.append(chunk.data)

        task = asyncio.create_task(read())
        await asyncio.sleep(0.1)
        await store.delete(sid)  # type: ignore[attr-defined]
        with pytest.raises(StreamExpiredError):
            await within(task)
        assert seen == ["a"]

    async def test_cleanup_removes_only_expired_streams(
        self, make_store: StreamStoreFactory
    ) -> None:
        short = await make_store(ttl=0.3)
        self._require(short, "cleanup", self.capabilities)
        long = await make_store(ttl=300.0)
        expired = [new_id() for _ in range(3)]
        for sid in expired:
            await short.create(sid)
            await short.append(sid, "x")
        await short.complete(expired[0])
        kept = new_id()
        await long.create(kept)
        await long.append(kept, "y")
        await asyncio.sleep(0.8)
        removed = await short.cleanup()  # type: ignore[attr-defined]
        assert removed == 3
        assert await short.cleanup() == 0  # type: ignore[attr-defined]
        for sid in expired:
            assert await long.get_status(sid) is None
        assert await long.get_status(kept) == StreamStatus("active", 1, None)
