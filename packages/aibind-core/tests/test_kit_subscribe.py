"""When ``read_from`` subscribes: only once a read found the stream active, then it reads again
at once, so a write between that read and the subscription is not missed; a replay of a
finished stream never subscribes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aibind.core.memory import MemoryStreamStore
from aibind.core.notify import Notifier, Subscription
from aibind.core.types import StreamChunk, StreamStatus


class _CountingNotifier(Notifier):
    def __init__(self) -> None:
        super().__init__()
        self.subscribed = 0

    async def subscribe(self, stream_id: str) -> Subscription:
        self.subscribed += 1
        return await super().subscribe(stream_id)


class _WriteAfterFirstRead(MemoryStreamStore):
    """The first read of a follower is followed by a write no wake-up announces (stored
    through the storage hook alone), as a write landing before the subscription would be."""

    def __init__(self, notifier: Notifier) -> None:
        super().__init__()
        self._notifier = notifier
        self.reads = 0

    async def _fetch(
        self, stream_id: str, after: int, limit: int
    ) -> tuple[StreamStatus | None, Sequence[StreamChunk]]:
        result = await super()._fetch(stream_id, after, limit)
        self.reads += 1
        if self.reads == 1:
            await self._append(stream_id, ["unannounced"])
        return result


async def test_a_replay_of_a_finished_stream_subscribes_to_nothing() -> None:
    notifier = _CountingNotifier()
    store = MemoryStreamStore()
    store._notifier = notifier  # before any use
    async with store:
        await store.create("s")
        await store.append_many("s", [f"c{i}" for i in range(2500)])  # three pages
        await store.complete("s")
        got = [c.seq async for c in store.read_from("s")]
        assert got == list(range(1, 2501))
        assert [c.seq async for c in store.read_from("s", 2500)] == []
    assert notifier.subscribed == 0


async def test_a_write_before_the_subscription_is_read_right_after_it() -> None:
    notifier = _CountingNotifier()
    async with _WriteAfterFirstRead(notifier) as store:
        await store.create("s")
        got: asyncio.Queue[str] = asyncio.Queue()

        async def follow() -> None:
            async for chunk in store.read_from("s"):
                got.put_nowait(chunk.data)

        follower = asyncio.ensure_future(follow())
        # No sweep (memory store) and nothing else written yet: only the read that follows
        # the subscription can find the write made after the first read.
        assert await asyncio.wait_for(got.get(), 5) == "unannounced"
        assert (store.reads, notifier.subscribed) == (2, 1)
        await store.append("s", "announced")
        assert await asyncio.wait_for(got.get(), 5) == "announced"
        await store.complete("s")
        await asyncio.wait_for(follower, 5)
        assert got.empty()
