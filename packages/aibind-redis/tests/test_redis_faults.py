"""Fault tests: the follower store's connections are killed (``CLIENT KILL``) mid-stream; the
follower still yields every chunk exactly once, with polling disabled."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio

from aibind.conformance import collect, new_id, within
from aibind.core.types import StreamChunk
from aibind.redis import RedisStreamStore


async def _kill_named(admin: redis.asyncio.Redis, name: str) -> int:
    killed = 0
    for info in await admin.client_list():
        if info.get("name") == name:
            killed += int(
                await admin.execute_command(  # type: ignore[no-untyped-call,unused-ignore]
                    "CLIENT", "KILL", "ID", info["id"]
                )
            )
    return killed


async def _subscriber_connected(admin: redis.asyncio.Redis, name: str) -> bool:
    return any(
        info.get("name") == name and "P" in info.get("flags", "")
        for info in await admin.client_list()
    )


@pytest.mark.parametrize("kills", [1, 3])
async def test_follower_survives_killed_connections(
    redis_url: str, prefix: str, kills: int
) -> None:
    name = f"aibind-follower-{uuid.uuid4().hex[:8]}"
    follower_client = redis.asyncio.from_url(redis_url, client_name=name)
    writer_client = redis.asyncio.from_url(redis_url)
    admin = redis.asyncio.from_url(redis_url, decode_responses=True)
    reader = RedisStreamStore(follower_client, prefix=prefix, poll_interval=None)
    writer = RedisStreamStore(writer_client, prefix=prefix)
    sid = new_id()
    await writer.create(sid)
    followers = [asyncio.create_task(collect(reader.read_from(sid), 30)) for _ in range(3)]
    total = 300
    for i in range(total):
        await writer.append(sid, f"c{i}")
        if i % (total // (kills + 1)) == total // (kills + 1) // 2:
            assert await _kill_named(admin, name) >= 1
        await asyncio.sleep(0.002)
    await writer.complete(sid)
    expected = [StreamChunk(i + 1, f"c{i}") for i in range(total)]
    for got in await within(asyncio.gather(*followers), 30):
        assert got == expected
    for store in (reader, writer):
        await store.aclose()
    for client in (follower_client, writer_client, admin):
        await client.aclose()


async def test_live_chunk_after_reconnect_with_polling_off(redis_url: str, prefix: str) -> None:
    """A follower caught up and waiting: its subscriber connection is killed, then a chunk is
    appended while it reconnects; only pub/sub (and the re-read after reconnect) can wake it."""
    name = f"aibind-follower-{uuid.uuid4().hex[:8]}"
    follower_client = redis.asyncio.from_url(redis_url, client_name=name)
    writer_client = redis.asyncio.from_url(redis_url)
    admin = redis.asyncio.from_url(redis_url, decode_responses=True)
    reader = RedisStreamStore(follower_client, prefix=prefix, poll_interval=None)
    writer = RedisStreamStore(writer_client, prefix=prefix)
    sid = new_id()
    await writer.create(sid)
    await writer.append(sid, "first")
    it = reader.read_from(sid)
    assert await within(anext(it)) == StreamChunk(1, "first")
    nxt = asyncio.ensure_future(anext(it))
    await asyncio.sleep(0.05)
    assert not nxt.done()
    assert await _kill_named(admin, name) >= 1
    await writer.append(sid, "second")
    assert await within(nxt) == StreamChunk(2, "second")
    for _ in range(100):  # the subscriber is back
        if await _subscriber_connected(admin, name):
            break
        await asyncio.sleep(0.05)
    await writer.append(sid, "third")
    assert await within(anext(it)) == StreamChunk(3, "third")
    await writer.complete(sid)
    with pytest.raises(StopAsyncIteration):
        await within(anext(it))
    for store in (reader, writer):
        await store.aclose()
    for client in (follower_client, writer_client, admin):
        await client.aclose()
