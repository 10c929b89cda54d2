"""A writer's chunk reaches this process's followers with the wake-up (StreamStoreBase
announces it), before their read: checked by holding every read after the follower's first
two (the one that finds the stream active, and the one right after it subscribes)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aibind.core.memory import MemoryStreamStore
from aibind.core.types import StreamChunk, StreamStatus


class _HeldReads(MemoryStreamStore):
    """Every read after the first two waits for ``release``."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.release = asyncio.Event()

    async def _fetch(
        self, stream_id: str, after: int, limit: int
    ) -> tuple[StreamStatus | None, Sequence[StreamChunk]]:
        self.reads += 1
        if self.reads > 2:
            await self.release.wait()
        return await super()._fetch(stream_id, after, limit)


async def test_an_appended_chunk_reaches_a_follower_before_its_read() -> None:
    async with _HeldReads() as store:
        await store.create("s")
        got: asyncio.Queue[StreamChunk] = asyncio.Queue()

        async def follow() -> None:
            async for chunk in store.read_from("s"):
                got.put_nowait(chunk)

        task = asyncio.create_task(follow())
        await asyncio.sleep(0.01)  # caught up, waiting
        assert await store.append("s", "hello") == 1
        assert await asyncio.wait_for(got.get(), 5) == StreamChunk(1, "hello")
        assert store.reads == 3  # its third read is still held
        store.release.set()
        await store.complete("s")
        await asyncio.wait_for(task, 5)
        assert got.empty()  # the read confirmed it and delivered nothing twice
