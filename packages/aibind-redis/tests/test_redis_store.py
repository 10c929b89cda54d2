"""RedisStreamStore / RedisConversationStore beyond the conformance suite: the npm key schema
byte for byte, keys written as npm writes them, script reload, the shared subscriber, TTL units,
cluster hash tags, from_url and the registry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio
from redis_minimal_client import MinimalClient

from aibind.conformance import collect, new_id, within
from aibind.core.errors import CorruptDataError, StreamNotActiveError
from aibind.core.registry import open_stores
from aibind.core.types import StreamChunk, StreamStatus
from aibind.redis import RedisConversationStore, RedisStreamStore
from aibind.redis.keys import StreamKeys


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def store(raw: redis.asyncio.Redis, prefix: str) -> AsyncIterator[RedisStreamStore]:
    s = RedisStreamStore(raw, prefix=prefix, ttl=300)
    yield s
    await s.aclose()


async def test_keys_are_byte_for_byte_the_npm_schema(
    store: RedisStreamStore, raw: redis.asyncio.Redis, prefix: str
) -> None:
    sid = new_id()
    await store.create(sid)
    assert await raw.get(f"{prefix}:{sid}:status") == b'{"state":"active","totalChunks":0}'
    assert await raw.ttl(f"{prefix}:{sid}:status") in (299, 300)
    await store.append(sid, "he")
    await store.append(sid, "llo ☃")
    assert await raw.get(f"{prefix}:{sid}:status") == b'{"state":"active","totalChunks":2}'
    assert await raw.lrange(f"{prefix}:{sid}:chunks", 0, -1) == [b"he", "llo ☃".encode()]
    assert await raw.type(f"{prefix}:{sid}:chunks") == b"list"
    assert await raw.ttl(f"{prefix}:{sid}:chunks") in (299, 300)
    await store.fail(sid, 'bad "quote"\n/ ☃')
    assert (
        await raw.get(f"{prefix}:{sid}:status")
        == '{"state":"error","totalChunks":2,"error":"bad \\"quote\\"\\n/ ☃"}'.encode()
    )
    done = new_id()
    await store.create(done)
    await store.complete(done)
    assert await raw.get(f"{prefix}:{done}:status") == b'{"state":"done","totalChunks":0}'
    assert sorted(await raw.keys(f"{prefix}:*")) == sorted(
        k.encode()
        for k in (f"{prefix}:{sid}:status", f"{prefix}:{sid}:chunks", f"{prefix}:{done}:status")
    )


async def test_reads_streams_laid_out_by_the_npm_package(
    store: RedisStreamStore, raw: redis.asyncio.Redis, prefix: str
) -> None:
    # Exactly what @aibind/redis writes: RPUSH + EXPIRE, then SET status JSON EX ttl.
    sid = new_id()
    await raw.set(f"{prefix}:{sid}:status", '{"state":"active","totalChunks":0}', ex=300)
    for i, chunk in enumerate(["Hel", "lo"], 1):
        await raw.rpush(f"{prefix}:{sid}:chunks", chunk)
        await raw.expire(f"{prefix}:{sid}:chunks", 300)
        await raw.set(
            f"{prefix}:{sid}:status",
            json.dumps({"state": "active", "totalChunks": i}, separators=(",", ":")),
            ex=300,
        )
    assert await store.get_status(sid) == StreamStatus("active", 2, None)
    assert await store.append(sid, "!") == 3
    await raw.set(
        f"{prefix}:{sid}:status",
        '{"state":"error","totalChunks":3,"error":"model overloaded"}',
        ex=300,
    )
    assert await store.get_status(sid) == StreamStatus("error", 3, "model overloaded")
    assert await collect(store.read_from(sid, 1)) == [StreamChunk(2, "lo"), StreamChunk(3, "!")]
    with pytest.raises(StreamNotActiveError):
        await store.append(sid, "late")


async def test_npm_reader_view_of_our_keys(
    store: RedisStreamStore, raw: redis.asyncio.Redis, prefix: str
) -> None:
    # What the npm readFrom does: LRANGE chunks afterSeq -1, JSON.parse(status).
    sid = new_id()
    await store.create(sid)
    await store.append_many(sid, ["a", "b", "c"])
    await store.stop(sid)
    status = json.loads(await raw.get(f"{prefix}:{sid}:status") or b"")
    assert status == {"state": "stopped", "totalChunks": 3}
    assert await raw.lrange(f"{prefix}:{sid}:chunks", 1, -1) == [b"b", b"c"]


async def test_corrupt_status_raises(
    store: RedisStreamStore, raw: redis.asyncio.Redis, prefix: str
) -> None:
    sid = new_id()
    await raw.set(f"{prefix}:{sid}:status", "{nope", ex=60)
    with pytest.raises(CorruptDataError, match="status"):
        await store.get_status(sid)
    with pytest.raises(CorruptDataError):
        await store.append(sid, "x")
    assert await raw.get(f"{prefix}:{sid}:status") == b"{nope"


async def test_scripts_reload_after_script_flush(
    store: RedisStreamStore, raw: redis.asyncio.Redis
) -> None:
    sid = new_id()
    await store.create(sid)
    assert await store.append(sid, "a") == 1
    await raw.script_flush()
    assert await store.append(sid, "b") == 2
    await raw.script_flush()
    await store.complete(sid)
    await raw.script_flush()
    assert [c.data for c in await collect(store.read_from(sid))] == ["a", "b"]


async def test_fractional_ttl_uses_px(raw: redis.asyncio.Redis, prefix: str) -> None:
    store = RedisStreamStore(raw, prefix=prefix, ttl=2.5)
    sid = new_id()
    await store.create(sid)
    await store.append(sid, "x")
    for key in (f"{prefix}:{sid}:status", f"{prefix}:{sid}:chunks"):
        assert 2000 < await raw.pttl(key) <= 2500
    conv = RedisConversationStore(raw, prefix=prefix, ttl=0.75)
    from aibind.core.chat_history import ChatHistory

    await conv.save("s", ChatHistory())
    assert 0 < await raw.pttl(f"{prefix}:s") <= 750
    await store.aclose()


async def test_twenty_clients_times_hundred_appends(redis_url: str, prefix: str) -> None:
    clients = [redis.asyncio.from_url(redis_url) for _ in range(20)]
    stores = [RedisStreamStore(c, prefix=prefix) for c in clients]
    sid = new_id()
    await stores[0].create(sid)

    async def writer(s: RedisStreamStore, w: int) -> list[int]:
        return [await s.append(sid, f"{w}:{i}") for i in range(100)]

    results = await within(asyncio.gather(*(writer(s, w) for w, s in enumerate(stores))), 120)
    assert sorted(x for r in results for x in r) == list(range(1, 2001))
    status = await stores[5].get_status(sid)
    assert status is not None
    assert status.total_chunks == 2000
    for s, c in zip(stores, clients, strict=False):
        await s.aclose()
        await c.aclose()


async def test_many_followers_share_one_subscriber_connection(redis_url: str, prefix: str) -> None:
    client = redis.asyncio.from_url(redis_url)
    writer = redis.asyncio.from_url(redis_url)
    store = RedisStreamStore(client, prefix=prefix, poll_interval=None)
    wstore = RedisStreamStore(writer, prefix=prefix)
    sids = [new_id() for _ in range(5)]
    for sid in sids:
        await wstore.create(sid)
    followers = [
        asyncio.create_task(collect(store.read_from(sid))) for sid in sids for _ in range(40)
    ]
    await asyncio.sleep(0.3)
    assert store.subscriber is not None
    assert store.subscriber.connections() == 1
    numsub = dict(await writer.pubsub_numsub(*(f"{prefix}:{sid}:notify" for sid in sids)))
    assert all(n == 1 for n in numsub.values()), numsub
    for sid in sids:
        await wstore.append(sid, "x")
        await wstore.complete(sid)
    for got in await within(asyncio.gather(*followers)):
        assert got == [StreamChunk(1, "x")]
    await asyncio.sleep(0.1)
    numsub = dict(await writer.pubsub_numsub(*(f"{prefix}:{sid}:notify" for sid in sids)))
    assert all(n == 0 for n in numsub.values()), "channels are unsubscribed after the last follower"
    for s in (store, wstore):
        await s.aclose()
    await client.aclose()
    await writer.aclose()


async def test_minimal_client_polls_and_refuses_push_only(redis_url: str, prefix: str) -> None:
    client = MinimalClient(redis_url)
    with pytest.raises(ValueError, match="poll_interval"):
        RedisStreamStore(client, prefix=prefix, poll_interval=None)
    store = RedisStreamStore(client, prefix=prefix, poll_interval=0.01)
    assert not store.push
    writer_client = MinimalClient(redis_url)
    writer = RedisStreamStore(writer_client, prefix=prefix)
    sid = new_id()
    await writer.create(sid)
    follower = asyncio.create_task(collect(store.read_from(sid)))
    await asyncio.sleep(0.05)
    await writer.append(sid, "polled")
    await writer.complete(sid)
    assert [c.data for c in await within(follower)] == ["polled"]
    await client.aclose()
    await writer_client.aclose()


class _NoClient:
    """Stands in for a client in tests that fail before any I/O."""


def test_cluster_keys_share_a_hash_tag() -> None:
    keys = StreamKeys("p", cluster=True)
    assert keys.status("a:b") == "p:{a:b}:status"
    assert keys.chunks("a:b") == "p:{a:b}:chunks"
    assert keys.channel("a:b") == "p:{a:b}:notify"
    with pytest.raises(ValueError, match="stream_id"):
        keys.status("}x")
    with pytest.raises(ValueError, match="prefix"):
        RedisStreamStore(_NoClient(), prefix="a{b}", cluster=True)  # type: ignore[arg-type]


def test_bad_options() -> None:
    client: Any = _NoClient()
    with pytest.raises(TypeError, match="prefix"):
        RedisStreamStore(client, prefix=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ttl"):
        RedisStreamStore(client, ttl=0)
    with pytest.raises(ValueError, match="prefix"):
        RedisConversationStore(client, prefix="has space")


async def test_from_url_closes_what_it_opened(redis_url: str, prefix: str) -> None:
    async with RedisStreamStore.from_url(redis_url, prefix=prefix, ttl=60) as store:
        sid = new_id()
        await store.create(sid)
        reader = store.read_from(sid)
        await store.append(sid, "x")
        assert (await within(anext(reader))).data == "x"
        await reader.aclose()  # type: ignore[attr-defined]
    async with RedisConversationStore.from_url(redis_url, prefix=prefix) as conv:
        assert (await conv.load("nobody")).is_empty
    from aibind.core.errors import StoreClosedError

    with pytest.raises(StoreClosedError):
        await store.get_status(sid)


async def test_registry_opens_redis_urls(redis_url: str, prefix: str) -> None:
    async with open_stores(
        redis_url, stream_options={"prefix": prefix}, conversation_options={"prefix": prefix}
    ) as stores:
        assert isinstance(stores.streams, RedisStreamStore)
        assert isinstance(stores.conversations, RedisConversationStore)
        sid = new_id()
        await stores.streams.create(sid)
        assert await stores.streams.get_status(sid) == StreamStatus("active", 0, None)
