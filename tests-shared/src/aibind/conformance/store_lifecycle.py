"""Conformance: the store lifecycle every backend shares (DESIGN.md "One lifecycle, from core"):
an async context manager, ``open()`` returning the store, an idempotent ``aclose()`` after which
calls raise :class:`~aibind.core.errors.StoreClosedError`, and followers that end when their
store closes instead of waiting out the TTL."""

from __future__ import annotations

import asyncio

import pytest

from aibind.conformance.base import StreamStoreFactory, StreamStoreFixtures, new_id, within
from aibind.core.errors import StoreClosedError
from aibind.core.protocols import StreamStore

__all__ = ["StreamStoreLifecycleTests"]


class StreamStoreLifecycleTests(StreamStoreFixtures):
    """Opening and closing a stream store, and followers that go away."""

    idle_followers: int = 500
    """How many idle followers :meth:`test_idle_followers_cancelled_at_once_all_end` starts
    (a web server cancels one per client that disconnects)."""

    async def test_store_is_an_async_context_manager(self, store: StreamStore) -> None:
        async with store as entered:
            assert entered is store
            sid = new_id()
            await entered.create(sid)
            assert await entered.append(sid, "x") == 1

    async def test_open_returns_the_store_and_is_idempotent(self, store: StreamStore) -> None:
        opener = getattr(store, "open", None)
        if not callable(opener):
            pytest.skip("the store has no open() (optional outside the kit)")
        assert await opener() is store
        assert await opener() is store

    async def test_aclose_is_idempotent_and_later_calls_raise(
        self, make_store: StreamStoreFactory
    ) -> None:
        store = await make_store()
        sid = new_id()
        await store.create(sid)
        await store.aclose()
        await store.aclose()
        with pytest.raises(StoreClosedError):
            await store.append(sid, "late")
        with pytest.raises(StoreClosedError):
            await store.get_status(sid)
        other = await make_store()
        if other is not store:  # (memory stores cannot share data between instances)
            assert (await other.get_status(sid)) is not None, "closing one store lost data"

    async def test_followers_end_when_their_store_closes(
        self, make_store: StreamStoreFactory
    ) -> None:
        store = await make_store()
        sid = new_id()
        await store.create(sid)
        await store.append(sid, "a")
        seen: list[str] = []

        async def follow() -> None:
            async for chunk in store.read_from(sid):
                seen.append(chunk.data)

        task = asyncio.create_task(follow())
        await asyncio.sleep(0.1)
        await within(store.aclose())
        with pytest.raises(StoreClosedError):
            await within(task, 5)
        assert seen == ["a"]

    async def test_idle_followers_cancelled_at_once_all_end(
        self, make_store: StreamStoreFactory
    ) -> None:
        """Issue #7: every follower's cancellation is honoured (a lost one is a leaked task
        and, on a server backend, a held connection): all end within 2 s, and the store
        still works."""
        store = await make_store()
        sid = new_id()
        await store.create(sid)
        await store.append(sid, "a")
        caught_up = 0
        all_caught_up = asyncio.Event()

        async def follow() -> None:
            nonlocal caught_up
            async for _ in store.read_from(sid):
                caught_up += 1
                if caught_up == self.idle_followers:
                    all_caught_up.set()

        tasks = [asyncio.create_task(follow()) for _ in range(self.idle_followers)]
        await within(all_caught_up.wait(), 60)  # every follower is idle, waiting for more
        for task in tasks:
            task.cancel()
        done, pending = await asyncio.wait(tasks, timeout=2.0)
        assert not pending, f"{len(pending)} of {len(tasks)} cancelled followers still run"
        assert all(task.cancelled() for task in done)
        assert await store.append(sid, "b") == 2
