"""The paths the speed work added (issue #8), checked for correctness: concurrent appends sent
as one pipeline still give each caller its own seq or error; reads as MULTI/EXEC; a one-chunk
append's message carries the chunk to followers in other stores; many followers starting at
once are subscribed in a few SUBSCRIBE commands."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import cast

import pytest
import redis.asyncio

from aibind.conformance import new_id, within
from aibind.core.errors import CorruptDataError, StreamNotActiveError, StreamNotFoundError
from aibind.core.types import StreamChunk
from aibind.redis import RedisStreamStore
from aibind.redis._subscriber import _hint


async def test_each_caller_of_a_pipelined_group_gets_its_own_outcome(
    redis_url: str, prefix: str
) -> None:
    async with RedisStreamStore.from_url(redis_url, prefix=prefix) as store:
        live, other, stopped, unknown = new_id(), new_id(), new_id(), new_id()
        for sid in (live, other, stopped):
            await store.create(sid)
        await store.stop(stopped)
        calls = [
            store.append(live, "a"),  # runs at once; the rest queue behind it: one pipeline
            store.append(live, "b"),
            store.append(stopped, "x"),
            store.append(other, "c"),
            store.append(unknown, "y"),
            store.append(live, "d"),
        ]
        outcomes = await within(asyncio.gather(*calls, return_exceptions=True), 30)
        assert outcomes[0] == 1
        assert outcomes[1] == 2
        assert isinstance(outcomes[2], StreamNotActiveError)
        assert outcomes[3] == 1
        assert isinstance(outcomes[4], StreamNotFoundError)
        assert outcomes[5] == 3
        assert store._appends is not None
        assert store._appends.groups >= 1
        await store.complete(live)
        assert [c.data async for c in store.read_from(live)] == ["a", "b", "d"]


async def test_fifty_writers_get_gap_free_seqs(redis_url: str, prefix: str) -> None:
    async with RedisStreamStore.from_url(redis_url, prefix=prefix) as store:
        sid = new_id()
        await store.create(sid)

        async def writer(w: int) -> list[int]:
            return [await store.append(sid, f"{w}-{i}") for i in range(40)]

        results = await within(asyncio.gather(*(writer(w) for w in range(50))), 60)
        assert sorted(s for r in results for s in r) == list(range(1, 2001))
        await store.complete(sid)
        got = [c async for c in store.read_from(sid)]
        by_seq = {s: f"{w}-{i}" for w, r in enumerate(results) for i, s in enumerate(r)}
        assert [(c.seq, c.data) for c in got] == sorted(by_seq.items())


async def test_a_read_is_one_transaction_and_sees_a_shortened_list(
    redis_url: str, prefix: str
) -> None:
    async with RedisStreamStore.from_url(redis_url, prefix=prefix) as store:
        assert store._multi
        sid = new_id()
        await store.create(sid)
        await store.append_many(sid, [f"c{i}" for i in range(5)])
        await store.complete(sid)
        assert [c.data async for c in store.read_from(sid, 3)] == ["c3", "c4"]
        raw = redis.asyncio.from_url(redis_url)
        await raw.ltrim(f"{prefix}:{sid}:chunks", 0, 1)  # an eviction, say
        await raw.aclose()
        with pytest.raises(CorruptDataError, match="holds 2 chunks"):
            _ = [c async for c in store.read_from(sid)]


async def test_a_follower_in_another_store_gets_the_chunk_with_the_message(
    redis_url: str, prefix: str
) -> None:
    async with (
        RedisStreamStore.from_url(redis_url, prefix=prefix) as writer,
        RedisStreamStore.from_url(redis_url, prefix=prefix, poll_interval=None) as reader,
    ):
        sid = new_id()
        await writer.create(sid)
        announced: list[tuple[str, int, str]] = []
        announce = reader._announced

        def record(stream_id: str, seq: int, chunk: str) -> None:
            announced.append((stream_id, seq, chunk))
            announce(stream_id, seq, chunk)

        assert reader._subscriber is not None
        reader._subscriber._announce = record
        got: list[StreamChunk] = []

        async def follow() -> None:
            async for chunk in reader.read_from(sid):
                got.append(chunk)

        task = asyncio.create_task(follow())
        await asyncio.sleep(0.1)
        await writer.append(sid, "small")
        await writer.append(sid, "x" * 5000)  # too big for the message: read instead
        await writer.complete(sid)
        await within(task, 10)
        assert [c.data for c in got] == ["small", "x" * 5000]
        assert announced == [(sid, 1, "small")]


def test_message_hints_are_parsed_strictly() -> None:
    assert _hint(b"12\x1fhello\x1fworld") == (12, "hello\x1fworld")
    assert _hint("3\x1f") == (3, "")
    assert _hint(b"7") is None  # a plain count
    assert _hint(b"done") is None
    assert _hint(b"x\x1fy") is None
    assert _hint(b"1\x1f\xff") is None  # undecodable: read instead


async def test_many_followers_are_subscribed_in_few_commands(redis_url: str, prefix: str) -> None:
    async with RedisStreamStore.from_url(redis_url, prefix=prefix) as store:
        ids = [new_id() for _ in range(300)]
        for sid in ids:
            await store.create(sid)
        assert store._subscriber is not None
        await store._subscriber.subscribe(ids[0], store._keys.channel(ids[0]))  # the link
        link = next(iter(store._subscriber._links.values()))
        sends: list[int] = []
        send = link._send

        async def counting(*channels: str) -> None:
            sends.append(len(channels))
            await send(*channels)

        link._send = counting  # type: ignore[method-assign]
        tasks = [asyncio.create_task(_drain(store, sid)) for sid in ids[1:]]
        await asyncio.sleep(0.5)
        assert store._subscriber.channels() == len(ids)
        assert sum(sends) == len(ids) - 1
        assert len(sends) <= 5  # batched, not one SUBSCRIBE per follower
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _drain(store: RedisStreamStore, sid: str) -> None:
    async for _ in store.read_from(sid):
        pass


async def test_a_follower_back_before_its_predecessors_unsubscribe_is_still_pushed(
    redis_url: str, prefix: str
) -> None:
    """The last follower of a stream leaves (its unsubscribe runs in a task, as when an
    abandoned generator is finalized) and a new one subscribes before that task ran: the new
    follower's subscription must neither wait for a confirmation that never comes nor be
    undone by the late unsubscribe."""
    async with RedisStreamStore.from_url(redis_url, prefix=prefix, poll_interval=None) as store:
        for _ in range(5):
            sid = new_id()
            await store.create(sid)
            first = cast(AsyncGenerator[StreamChunk, None], store.read_from(sid))
            step = asyncio.ensure_future(first.__anext__())
            await asyncio.sleep(0.02)
            await store.append(sid, "x")
            assert (await step).data == "x"
            closing = asyncio.ensure_future(first.aclose())
            again = cast(AsyncGenerator[StreamChunk, None], store.read_from(sid, 1))
            nxt = asyncio.ensure_future(again.__anext__())
            await closing
            await asyncio.sleep(0.05)
            await store.append(sid, "y")  # push only: no sweep would find it
            assert (await asyncio.wait_for(nxt, 5)).data == "y"
            await again.aclose()


async def _our_connections(redis_url: str, name: str) -> int:
    admin = redis.asyncio.from_url(redis_url)
    try:
        clients = await admin.client_list()
    finally:
        await admin.aclose()
    return sum(1 for c in clients if c.get("name") == name)


async def test_appends_run_on_one_connection_outside_the_pool(redis_url: str, prefix: str) -> None:
    """Single appends share the store's lane (one connection the pool does not count), so a
    pool of one connection still serves a follower's reads while appends run, and closing
    the store disconnects the lane."""
    name = f"lane-{new_id()[:8]}"
    url = f"{redis_url}?max_connections=1&client_name={name}"
    store = RedisStreamStore.from_url(url, prefix=prefix)
    sid = new_id()
    await store.create(sid)
    assert store._lane is not None

    async def follow() -> list[str]:
        return [c.data async for c in store.read_from(sid)]

    reader = asyncio.create_task(follow())
    seqs = [await store.append(sid, f"c{i}") for i in range(50)]
    seqs += await asyncio.gather(*(store.append(sid, f"c{i}") for i in range(50, 250)))
    await store.complete(sid)
    assert sorted(seqs) == list(range(1, 251))
    assert sorted(await within(reader, 30), key=lambda d: int(d[1:])) == [
        f"c{i}" for i in range(250)
    ]
    # the pool (1), the pub/sub subscriber and the lane
    assert 2 <= await _our_connections(redis_url, name) <= 3
    await store.aclose()
    assert await _our_connections(redis_url, name) == 0


async def test_a_lane_append_refused_with_noscript_runs_through_eval(
    redis_url: str, prefix: str
) -> None:
    async with RedisStreamStore.from_url(redis_url, prefix=prefix) as store:
        sid = new_id()
        await store.create(sid)
        assert await store.append(sid, "a") == 1
        admin = redis.asyncio.from_url(redis_url)
        await admin.script_flush()
        await admin.aclose()
        assert await store.append(sid, "b") == 2  # EVALSHA refused: EVAL, once
        assert await store.append(sid, "c") == 3
        await store.complete(sid)
        assert [c.data async for c in store.read_from(sid)] == ["a", "b", "c"]


async def test_the_lane_is_used_by_one_call_at_a_time(redis_url: str, prefix: str) -> None:
    """A second call finding the lane busy goes through the pool; both get their reply."""
    async with RedisStreamStore.from_url(redis_url, prefix=prefix) as store:
        sid = new_id()
        await store.create(sid)
        lane = store._lane
        assert lane is not None
        packed = [store._head(lane, sid) + lane.tail(text) for text in ("x", "y")]
        replies = await asyncio.gather(*(lane.send(p, "EVALSHA") for p in packed))
        assert sorted(int(r[0]) for r in replies) == [1, 2]
        assert (await store.get_status(sid)).total_chunks == 2  # type: ignore[union-attr]
