"""Conformance: atomicity under concurrent writers (DESIGN.md "Atomic")."""

from __future__ import annotations

import asyncio

import pytest

from aibind.conformance.base import StreamStoreFactory, StreamStoreFixtures, collect, new_id, within
from aibind.core.errors import StreamExistsError, StreamNotActiveError
from aibind.core.protocols import StreamStore

__all__ = ["StreamConcurrencyTests"]

WRITERS = 20
APPENDS = 100


class StreamConcurrencyTests(StreamStoreFixtures):
    """Twenty writers on one stream get exactly seqs 1..N; racing creates admit exactly one."""

    async def test_concurrent_appenders_get_gap_free_seqs(
        self, make_store: StreamStoreFactory
    ) -> None:
        stores = [await make_store() for _ in range(WRITERS)]
        sid = new_id()
        await stores[0].create(sid)

        async def writer(w: int, store: StreamStore) -> list[int]:
            return [await store.append(sid, f"w{w}-{i}") for i in range(APPENDS)]

        results = await within(asyncio.gather(*(writer(w, s) for w, s in enumerate(stores))), 120)
        seqs = sorted(s for r in results for s in r)
        assert seqs == list(range(1, WRITERS * APPENDS + 1))
        for r in results:
            assert r == sorted(r), "one writer's appends must keep their order"
        status = await stores[0].get_status(sid)
        assert status is not None
        assert status.total_chunks == WRITERS * APPENDS
        await stores[0].complete(sid)
        got = await collect(stores[-1].read_from(sid), 60)
        assert [c.seq for c in got] == seqs
        by_seq = {s: f"w{w}-{i}" for w, r in enumerate(results) for i, s in enumerate(r)}
        assert all(c.data == by_seq[c.seq] for c in got)

    async def test_racing_creates_admit_exactly_one(self, make_store: StreamStoreFactory) -> None:
        stores = [await make_store() for _ in range(8)]
        sid = new_id()
        outcomes = await within(
            asyncio.gather(*(s.create(sid) for s in stores), return_exceptions=True)
        )
        assert sum(o is None for o in outcomes) == 1
        assert all(o is None or isinstance(o, StreamExistsError) for o in outcomes)

    async def test_append_races_terminal_transition(self, make_store: StreamStoreFactory) -> None:
        writer, closer = await make_store(), await make_store()
        sid = new_id()
        await writer.create(sid)

        async def keep_appending() -> int:
            n = 0
            try:
                while True:
                    await writer.append(sid, str(n))
                    n += 1
                    await asyncio.sleep(0)
            except StreamNotActiveError:  # the append that loses the race, and only that
                return n

        task = asyncio.create_task(keep_appending())
        await asyncio.sleep(0.1)
        await closer.complete(sid)
        written = await within(task)
        status = await closer.get_status(sid)
        assert status is not None
        assert status.state == "done"
        assert status.total_chunks == written
        got = await collect(closer.read_from(sid))
        assert [c.data for c in got] == [str(i) for i in range(written)]

    @pytest.mark.parametrize("batch", [1, 7])
    async def test_concurrent_append_many_blocks_are_contiguous(
        self, make_store: StreamStoreFactory, batch: int
    ) -> None:
        stores = [await make_store() for _ in range(10)]
        self._require(stores[0], "append_many", self.capabilities)
        sid = new_id()
        await stores[0].create(sid)

        async def writer(w: int, store: StreamStore) -> list[int]:
            lasts = []
            for b in range(10):
                chunks = [f"w{w}-b{b}-{i}" for i in range(batch)]
                lasts.append(await store.append_many(sid, chunks))  # type: ignore[attr-defined]
            return lasts

        results = await within(asyncio.gather(*(writer(w, s) for w, s in enumerate(stores))), 60)
        await stores[0].complete(sid)
        got = await collect(stores[0].read_from(sid), 30)
        assert [c.seq for c in got] == list(range(1, 10 * 10 * batch + 1))
        for w, lasts in enumerate(results):
            for b, last in enumerate(lasts):
                block = got[last - batch : last]
                assert [c.data for c in block] == [f"w{w}-b{b}-{i}" for i in range(batch)]
