"""RedisStreamStore / RedisConversationStore beyond the conformance suite: the npm key schema
byte for byte, keys written as npm writes them, script reload, a vanished chunk list, the shared
subscriber outside the pool, TTL units and limits, cluster hash tags and the registry."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio
from redis_minimal_client import MinimalClient

from aibind.conformance import collect, new_id, within
from aibind.core.chat_history import ChatHistory
from aibind.core.errors import (
    CorruptDataError,
    StreamExpiredError,
    StreamNotActiveError,
)
from aibind.core.registry import open_stores
from aibind.core.types import StreamChunk, StreamStatus
from aibind.redis import RedisConversationStore, RedisStreamStore
from aibind.redis._keys import MAX_TTL, StreamKeys


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


async def write_npm_chunk(raw: Any, prefix: str, sid: str, chunk: str, ttl: int = 300) -> int:
    """What ``@aibind/redis`` ``append`` does: RPUSH + EXPIRE, then GET/SET the status with
    ``totalChunks`` = the RPUSH result; it never publishes."""
    seq = int(await raw.rpush(f"{prefix}:{sid}:chunks", chunk))
    await raw.expire(f"{prefix}:{sid}:chunks", ttl)
    status = json.loads(await raw.get(f"{prefix}:{sid}:status"))
    status["totalChunks"] = seq
    await raw.set(f"{prefix}:{sid}:status", json.dumps(status, separators=(",", ":")), ex=ttl)
    return seq


async def test_reads_streams_laid_out_by_the_npm_package(
    store: RedisStreamStore, raw: redis.asyncio.Redis, prefix: str
) -> None:
    sid = new_id()
    await raw.set(f"{prefix}:{sid}:status", '{"state":"active","totalChunks":0}', ex=300)
    for chunk in ["Hel", "lo"]:
        await write_npm_chunk(raw, prefix, sid, chunk)
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


async def test_an_npm_writer_between_rpush_and_set_is_counted(
    store: RedisStreamStore, raw: redis.asyncio.Redis, prefix: str
) -> None:
    # npm's append is RPUSH, then SET status: in between, the list is one longer than the
    # count. Our append counts that chunk instead of calling the stream corrupt.
    sid = new_id()
    await store.create(sid)
    await raw.rpush(f"{prefix}:{sid}:chunks", "npm")
    assert await store.append(sid, "ours") == 2
    assert [c.data for c in await within(_first(store, sid, 2))] == ["npm", "ours"]


async def _first(store: RedisStreamStore, sid: str, n: int) -> list[StreamChunk]:
    got: list[StreamChunk] = []
    async for chunk in store.read_from(sid):
        got.append(chunk)
        if len(got) == n:
            break
    return got


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


async def test_corrupt_status_raises_and_is_left_alone(
    store: RedisStreamStore, raw: redis.asyncio.Redis, prefix: str
) -> None:
    sid = new_id()
    await raw.set(f"{prefix}:{sid}:status", "{nope", ex=60)
    with pytest.raises(CorruptDataError, match="status"):
        await store.get_status(sid)
    with pytest.raises(CorruptDataError):
        await store.append(sid, "x")
    assert await raw.get(f"{prefix}:{sid}:status") == b"{nope"


@pytest.mark.parametrize("size", [4, 4096], ids=["small-joined", "large-one-by-one"])
async def test_undecodable_bytes_are_corrupt_data_not_unicode_errors(
    store: RedisStreamStore, raw: redis.asyncio.Redis, prefix: str, size: int
) -> None:
    # small pages are decoded joined, large ones (over 512 bytes a value) value by value
    sid = new_id()
    await store.create(sid)
    await store.append(sid, "fine" * (size // 4))
    await raw.rpush(f"{prefix}:{sid}:chunks", b"\xff\xfe" * (size // 2))
    await raw.set(f"{prefix}:{sid}:status", '{"state":"done","totalChunks":2}', ex=60)
    with pytest.raises(CorruptDataError, match=r"seq 2.*not UTF-8") as info:
        await collect(store.read_from(sid))
    assert isinstance(info.value.__cause__, UnicodeDecodeError)
    bad = new_id()
    await raw.set(f"{prefix}:{bad}:status", b'{"state":"\xff"}', ex=60)
    with pytest.raises(CorruptDataError, match="not UTF-8"):
        await store.get_status(bad)


class TestVanishedChunkList:
    """Issue #7 item 3: the chunk list evicted or deleted while the status survives."""

    async def test_append_refuses_instead_of_renumbering(
        self, store: RedisStreamStore, raw: redis.asyncio.Redis, prefix: str
    ) -> None:
        sid = new_id()
        await store.create(sid)
        assert await store.append_many(sid, ["a", "b", "c"]) == 3
        await raw.delete(f"{prefix}:{sid}:chunks")  # as a maxmemory eviction would
        with pytest.raises(CorruptDataError, match=r"holds 0 chunks.*totalChunks=3"):
            await store.append(sid, "d")
        with pytest.raises(CorruptDataError, match="totalChunks=3"):
            await store.append_many(sid, ["d", "e"])
        assert not await raw.exists(f"{prefix}:{sid}:chunks"), "nothing was renumbered"
        assert await store.get_status(sid) == StreamStatus("active", 3, None)

    async def test_a_live_follower_ends_with_corrupt_data_not_normally(
        self, store: RedisStreamStore, raw: redis.asyncio.Redis, prefix: str
    ) -> None:
        sid = new_id()
        await store.create(sid)
        await store.append_many(sid, ["a", "b"])
        follower = store.read_from(sid)
        assert [(await anext(follower)).data, (await anext(follower)).data] == ["a", "b"]
        pending = asyncio.ensure_future(anext(follower))
        await asyncio.sleep(0.1)
        await raw.delete(f"{prefix}:{sid}:chunks")
        await store.complete(sid)  # the producer ends: the count it keeps is 2, not 0
        with pytest.raises(CorruptDataError, match="holds 0 chunks"):
            await within(pending, 5)
        assert await store.get_status(sid) == StreamStatus("done", 2, None)

    async def test_a_resuming_reader_is_told(
        self, store: RedisStreamStore, raw: redis.asyncio.Redis, prefix: str
    ) -> None:
        sid = new_id()
        await store.create(sid)
        await store.append_many(sid, ["a", "b", "c"])
        await raw.ltrim(f"{prefix}:{sid}:chunks", 0, 0)  # two chunks lost
        with pytest.raises(CorruptDataError, match=r"holds 1 chunks.*totalChunks=3"):
            await collect(store.read_from(sid, 1))


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
    await conv.save("s", ChatHistory())
    assert 0 < await raw.pttl(f"{prefix}:s") <= 750
    await store.aclose()


async def test_ttl_redis_cannot_store_is_refused_up_front(
    raw: redis.asyncio.Redis, prefix: str
) -> None:
    # Issue #7 item 13: ttl=1e17 used to be accepted and fail at the first write.
    for cls in (RedisStreamStore, RedisConversationStore):
        with pytest.raises(ValueError, match="ttl must be at most"):
            cls(raw, prefix=prefix, ttl=1e17)
        with pytest.raises(ValueError, match="ttl must be at most"):
            cls.from_url("redis://localhost/0?ttl=1e17")
    store = RedisStreamStore(raw, prefix=prefix, ttl=MAX_TTL)  # the largest works
    sid = new_id()
    await store.create(sid)
    assert await store.append(sid, "x") == 1
    assert await raw.ttl(f"{prefix}:{sid}:status") > 10**14
    await store.aclose()


async def test_twenty_clients_times_hundred_appends(redis_url: str, prefix: str) -> None:
    stores = [RedisStreamStore.from_url(redis_url, prefix=prefix) for _ in range(20)]
    sid = new_id()
    await stores[0].create(sid)

    async def writer(s: RedisStreamStore, w: int) -> list[int]:
        return [await s.append(sid, f"{w}:{i}") for i in range(100)]

    results = await within(asyncio.gather(*(writer(s, w) for w, s in enumerate(stores))), 120)
    assert sorted(x for r in results for x in r) == list(range(1, 2001))
    status = await stores[5].get_status(sid)
    assert status is not None
    assert status.total_chunks == 2000
    for s in stores:
        await s.aclose()


async def test_many_followers_share_one_subscriber_connection_outside_the_pool(
    redis_url: str, prefix: str
) -> None:
    name = f"aibind-sub-{new_id()}"
    # one pooled connection: a subscriber holding it would leave none for the followers' reads
    store = RedisStreamStore.from_url(
        f"{redis_url}?client_name={name}&max_connections=1&pool_timeout=5",
        prefix=prefix,
        poll_interval=None,
    )
    wstore = RedisStreamStore.from_url(redis_url, prefix=prefix)
    admin = redis.asyncio.from_url(redis_url, decode_responses=True)
    sids = [new_id() for _ in range(5)]
    for sid in sids:
        await wstore.create(sid)
    followers = [
        asyncio.create_task(collect(store.read_from(sid))) for sid in sids for _ in range(40)
    ]
    await asyncio.sleep(0.3)
    mine = [c for c in await admin.client_list() if c.get("name") == name]
    subscribers = [c for c in mine if "P" in c.get("flags", "")]
    assert len(subscribers) == 1, "one pub/sub connection for 200 followers of 5 streams"
    assert len(mine) <= 1 + 1, f"pool of 1 plus the subscriber: {len(mine)}"
    numsub = dict(await admin.pubsub_numsub(*(f"{prefix}:{sid}:notify" for sid in sids)))
    assert all(n == 1 for n in numsub.values()), numsub
    for sid in sids:
        await wstore.append(sid, "x")
        await wstore.complete(sid)
    for got in await within(asyncio.gather(*followers)):
        assert got == [StreamChunk(1, "x")]
    channels = [f"{prefix}:{sid}:notify" for sid in sids]

    async def unsubscribed() -> bool:
        return all(n == 0 for _, n in await admin.pubsub_numsub(*channels))

    # UNSUBSCRIBE and a socket's close reach the server a moment after the call returns.
    assert await _eventually(unsubscribed), "channels are unsubscribed after the last follower"
    for s in (store, wstore):
        await s.aclose()

    async def all_closed() -> bool:
        return not [c for c in await admin.client_list() if c.get("name") == name]

    assert await _eventually(all_closed), "the store's connections are all closed"
    await admin.aclose()


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> bool:
    """Poll ``check`` until it holds or ``seconds`` pass; return its last answer."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


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


async def test_deleted_stream_ends_its_followers(store: RedisStreamStore) -> None:
    sid = new_id()
    await store.create(sid)
    await store.append(sid, "a")
    follower = asyncio.ensure_future(collect(store.read_from(sid)))
    await asyncio.sleep(0.1)
    await store.delete(sid)
    with pytest.raises(StreamExpiredError):
        await within(follower)


class _NoClient:
    """Stands in for a client in tests that fail before any I/O."""


def test_cluster_keys_share_a_hash_tag() -> None:
    keys = StreamKeys("p", cluster=True)
    assert keys.status("a:b") == "p:{a:b}:status"
    assert keys.chunks("a:b") == "p:{a:b}:chunks"
    assert keys.channel("a:b") == "p:{a:b}:notify"
    # An id starting with "}" would make an empty hash tag: it gets a "\" in front, as does
    # an id starting with "\", so every id keeps keys of its own in one slot.
    assert keys.status("}x") == "p:{\\}x}:status"
    assert keys.status("\\}x") == "p:{\\\\}x}:status"
    assert keys.status("\\x") == "p:{\\\\x}:status"
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
    with pytest.raises(TypeError, match="cluster"):
        RedisStreamStore(client, cluster="yes")  # type: ignore[arg-type]


async def test_registry_opens_redis_urls(redis_url: str, prefix: str) -> None:
    async with open_stores(f"{redis_url}?prefix={prefix}&conversation_prefix={prefix}c") as st:
        assert isinstance(st.streams, RedisStreamStore)
        assert isinstance(st.conversations, RedisConversationStore)
        assert st.conversations.prefix == f"{prefix}c"
        sid = new_id()
        await st.streams.create(sid)
        assert await st.streams.get_status(sid) == StreamStatus("active", 0, None)
        await st.conversations.save("u", ChatHistory())
        assert (await st.conversations.load("u")).is_empty


@pytest.mark.skipif(
    sys.version_info >= (3, 12), reason="asyncio.wait_for keeps cancellations from Python 3.12"
)
async def test_a_cancellation_the_driver_swallows_is_raised_again(
    store: RedisStreamStore,
) -> None:
    """redis-py 8 sends under asyncio.wait_for, which before Python 3.12 returns the reply when
    the caller's cancel() lands with it (measured: 17 of 2,000 cancelled MGETs returned
    normally on 3.11): a cancelled follower would go on following. Every store call keeps
    the cancellation."""
    await store.open()

    async def swallowing() -> str:  # what wait_for does when the reply lands with the cancel
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "reply"
        return "reply"

    started = asyncio.Event()
    lost = asyncio.ensure_future(swallowing())
    await started.wait()
    lost.cancel()
    assert await lost == "reply", "the bug this guards against"
    started = asyncio.Event()
    kept = asyncio.ensure_future(store._call(swallowing()))
    await started.wait()
    kept.cancel()
    with pytest.raises(asyncio.CancelledError):
        await kept
