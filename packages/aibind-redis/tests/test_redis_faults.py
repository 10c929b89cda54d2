"""The Redis fault suite (marker ``faults``; issue #7 and the fault matrix of issue #11): every
test starts its own ``redis-server`` processes (:mod:`redis_servers`) on free ports and stops,
freezes, restarts or reconfigures only those, never the shared server.

Each check asserts the outcome: every acknowledged chunk delivered exactly once and in order,
or the documented :mod:`aibind.core.errors` class, chained to the driver's exception, within a
bounded time.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis_servers import RedisProcess, free_port

from aibind.conformance import collect, new_id, within
from aibind.core.chat_history import ChatHistory
from aibind.core.errors import (
    TRANSIENT_ERRORS,
    AibindError,
    BackendTimeoutError,
    BackendUnavailableError,
    ConnectionLostError,
    CorruptDataError,
    StreamExistsError,
)
from aibind.core.types import StreamChunk, StreamStatus
from aibind.redis import RedisBackendError, RedisConversationStore, RedisStreamStore

pytestmark = pytest.mark.faults


@pytest.fixture
async def admin(own_redis: RedisProcess) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis(port=own_redis.port, decode_responses=True)
    yield client
    await client.aclose()


async def _command(client: redis.asyncio.Redis, *args: Any) -> Any:
    return await client.execute_command(*args)  # type: ignore[no-untyped-call,unused-ignore]


def _assert_typed(exc: BaseException, cls: type[AibindError]) -> None:
    assert isinstance(exc, cls), f"{type(exc).__name__}: {exc}"
    assert exc.__cause__ is not None, "the driver's exception is chained"
    assert type(exc.__cause__).__name__ in str(exc), "the message names the cause's type"


# ---- the fault matrix ----------------------------------------------------------------------


class TestFaultMatrix:
    """docs/errors.md, Redis section: each fault gives the documented error, chained."""

    async def test_server_unreachable_at_open(self) -> None:
        url = f"redis://127.0.0.1:{free_port()}/0"
        started = time.monotonic()
        store = RedisStreamStore.from_url(url)
        with pytest.raises(BackendUnavailableError) as info:
            await store.open()
        _assert_typed(info.value, BackendUnavailableError)
        with pytest.raises(BackendUnavailableError):
            await store.create("s")  # the first call, lazily
        with pytest.raises(BackendUnavailableError):
            async with RedisConversationStore.from_url(url):
                pass
        assert time.monotonic() - started < 5
        await store.aclose()
        unknown = RedisStreamStore.from_url("redis://no-such-host.invalid:6379/0")
        with pytest.raises(BackendUnavailableError) as info:
            await unknown.open()
        _assert_typed(info.value, BackendUnavailableError)
        await unknown.aclose()

    async def test_connection_killed_mid_call(
        self, own_redis: RedisProcess, admin: redis.asyncio.Redis
    ) -> None:
        name = f"matrix-{new_id()}"
        store = RedisStreamStore.from_url(f"{own_redis.url}?client_name={name}")
        sid = new_id()
        await store.create(sid)
        await _command(admin, "CLIENT", "PAUSE", "5000", "WRITE")
        try:
            append = asyncio.ensure_future(store.append(sid, "x"))  # held by the pause
            await asyncio.sleep(0.2)
            assert not append.done()
            killed = 0
            for client in await admin.client_list():
                if client.get("name") == name:
                    await _command(admin, "CLIENT", "KILL", "ID", client["id"])
                    killed += 1
            assert killed >= 1
            with pytest.raises(ConnectionLostError) as info:
                await within(append, 5)
            _assert_typed(info.value, ConnectionLostError)
        finally:
            await _command(admin, "CLIENT", "UNPAUSE")
        # the killed command never ran, and nothing re-sent it; the store goes on
        assert await store.get_status(sid) == StreamStatus("active", 0, None)
        assert await store.append(sid, "y") == 1
        await store.aclose()

    async def test_server_frozen_mid_call(self, own_redis: RedisProcess) -> None:
        store = RedisStreamStore.from_url(f"{own_redis.url}?socket_timeout=0.5")
        sid = new_id()
        await store.create(sid)
        own_redis.pause()
        try:
            with pytest.raises(BackendTimeoutError) as info:
                await store.append(sid, "x")  # not within(): a TimeoutError itself
            _assert_typed(info.value, BackendTimeoutError)
            assert isinstance(info.value, TimeoutError)
        finally:
            own_redis.resume()
        await store.aclose()

    async def test_pool_exhausted(self, own_redis: RedisProcess) -> None:
        store = RedisStreamStore.from_url(f"{own_redis.url}?max_connections=2&pool_timeout=0.3")
        await store.open()
        client: Any = store.client
        busy = [asyncio.ensure_future(client.blpop(["nothing"], 2)) for _ in range(2)]
        await asyncio.sleep(0.1)
        with pytest.raises(BackendTimeoutError) as info:
            await store.get_status("s")
        assert isinstance(info.value, TimeoutError)
        assert isinstance(info.value.__cause__, Exception)
        assert "ConnectionError" in str(info.value)
        await asyncio.gather(*busy)
        assert await store.get_status("s") is None  # free again: it works
        await store.aclose()

    async def test_undecodable_bytes_stored(self, own_redis: RedisProcess) -> None:
        raw = redis.asyncio.Redis(port=own_redis.port)
        streams = RedisStreamStore.from_url(own_redis.url, prefix="m")
        conversations = RedisConversationStore.from_url(own_redis.url, prefix="c")
        await raw.set("m:bad:status", b"\xff\xfe", ex=60)
        with pytest.raises(CorruptDataError) as info:
            await streams.get_status("bad")
        assert isinstance(info.value.__cause__, UnicodeDecodeError)
        await raw.set("c:bad", b'{"version":1,"nodes":{"\xff":1}}', ex=60)
        with pytest.raises(CorruptDataError, match="not UTF-8"):
            await conversations.load("bad")
        assert await raw.get("c:bad") == b'{"version":1,"nodes":{"\xff":1}}', "left alone"
        for closer in (streams.aclose, conversations.aclose, raw.aclose):
            await closer()

    async def test_error_reply(self, own_redis: RedisProcess) -> None:
        raw = redis.asyncio.Redis(port=own_redis.port)
        store = RedisStreamStore.from_url(own_redis.url, prefix="w")
        conversations = RedisConversationStore.from_url(own_redis.url, prefix="w")
        await raw.rpush("w:list", "x")  # a key of another type where a value is expected
        await raw.set("w:s:status", '{"state":"active","totalChunks":0}')
        await raw.set("w:s:chunks", "not a list")
        with pytest.raises(RedisBackendError) as info:
            await store.append("s", "x")
        _assert_typed(info.value, RedisBackendError)
        assert "WRONGTYPE" in str(info.value)
        with pytest.raises(RedisBackendError, match="ResponseError"):
            await conversations.load("list")
        for closer in (store.aclose, conversations.aclose, raw.aclose):
            await closer()

    async def test_restart_between_calls_is_transparent(self, own_redis: RedisProcess) -> None:
        store = RedisStreamStore.from_url(own_redis.url)
        conversations = RedisConversationStore.from_url(own_redis.url)
        sid = new_id()
        await store.create(sid)
        await conversations.save("u", ChatHistory())
        await asyncio.to_thread(own_redis.stop)  # the app's event loop runs meanwhile
        await asyncio.to_thread(own_redis.start)
        assert await store.append(sid, "after") == 1  # persisted; pooled sockets reconnect
        assert (await conversations.load("u")).is_empty
        await store.aclose()
        await conversations.aclose()


# ---- exactly-once writes (issue #7 item 4) ---------------------------------------------------


def _bare_client(port: int, retries: int) -> redis.asyncio.Redis:
    """A redis-py client that retries ``retries`` times and sends nothing but the command on a
    new connection (no CLIENT SETINFO), so a retry reaches the server."""
    params = inspect.signature(redis.asyncio.Redis.__init__).parameters
    extra: dict[str, Any] = (
        {"driver_info": None}
        if "driver_info" in params
        else {"lib_name": None, "lib_version": None}
    )
    return redis.asyncio.Redis(port=port, retry=Retry(NoBackoff(), retries), **extra)


async def test_a_write_whose_reply_is_lost_is_not_sent_again(own_redis: RedisProcess) -> None:
    """redis-py retries a command whose connection drops after sending; for an append that had
    run, the retry stored the chunk again. The store sends writes exactly once: the caller gets
    ConnectionLostError and the chunk is stored once (the server drops each reply here: an
    output buffer limit of 1 byte closes the connection after the command has run)."""
    client = _bare_client(own_redis.port, retries=3)
    store = RedisStreamStore(client, prefix="once")
    sid = new_id()
    await store.create(sid)
    limiter = _bare_client(own_redis.port, retries=0)
    with contextlib.suppress(redis.exceptions.ConnectionError):  # its own reply may be cut
        await limiter.config_set("client-output-buffer-limit", "normal 1 0 0")
    try:
        with pytest.raises(ConnectionLostError):
            await store.append(sid, "x")
    finally:
        reset = _bare_client(own_redis.port, retries=0)
        await reset.config_set("client-output-buffer-limit", "normal 0 0 0")
        await reset.aclose()
    assert await store.get_status(sid) == StreamStatus("active", 1, None), "stored once"
    await store.aclose()
    for c in (client, limiter):
        await c.aclose()


async def test_cluster_appends_and_creates_from_new_clients_are_exactly_once(
    redis_cluster: str, cluster_prefix: str
) -> None:
    """Issue #7 "What it must show" 4: 20 rounds of 50 concurrent appends to new streams from a
    brand-new 3-master RedisCluster client each: every stream holds exactly one chunk; 50
    concurrent creates from a new client give no spurious StreamExistsError."""
    setup = RedisStreamStore(RedisCluster.from_url(redis_cluster), prefix=cluster_prefix)
    doubled: list[str] = []
    for round_ in range(20):
        ids = [f"r{round_}-{i}" for i in range(50)]
        creator = RedisCluster.from_url(redis_cluster)
        creating = RedisStreamStore(creator, prefix=cluster_prefix)
        created = await within(
            asyncio.gather(*(creating.create(s) for s in ids), return_exceptions=True), 60
        )
        assert not [r for r in created if isinstance(r, StreamExistsError)], f"round {round_}"
        assert created == [None] * 50, created
        client = RedisCluster.from_url(redis_cluster)
        store = RedisStreamStore(client, prefix=cluster_prefix)
        seqs = await within(asyncio.gather(*(store.append(s, "x") for s in ids)), 60)
        assert seqs == [1] * 50, f"round {round_}: {seqs}"
        for sid in ids:
            status = await setup.get_status(sid)
            assert status is not None
            if status.total_chunks != 1:
                doubled.append(sid)
        for s, c in ((creating, creator), (store, client)):
            await s.aclose()
            await c.aclose()
    print(f"cluster: 20 rounds x 50 appends, {len(doubled)} streams with more than one chunk")
    assert doubled == []
    await setup.aclose()
    await setup.client.aclose()  # type: ignore[attr-defined]


# ---- a server restart while a producer writes and followers read ----------------------------


async def test_restart_while_producing_and_following(own_redis: RedisProcess) -> None:
    """Issue #7 "What it must show" 2: redis-server restarts (down about 2 s) while a producer
    appends at 100/s and 3 followers read: each follower yields every chunk exactly once, in
    order, and ends with the stream."""
    producer = RedisStreamStore.from_url(f"{own_redis.url}?socket_timeout=1")
    readers = RedisStreamStore.from_url(f"{own_redis.url}?socket_timeout=1")
    sid = new_id()
    await producer.create(sid)
    followers = [asyncio.create_task(collect(readers.read_from(sid), 60)) for _ in range(3)]
    total = 400
    restarted = asyncio.Event()

    async def append_acknowledged(seq: int) -> None:
        # Retry until acknowledged. A refused connection sent nothing: try again. A connection
        # lost (or timed out) after sending may have applied the append: a read tells which.
        while True:
            try:
                assert await producer.append(sid, f"c{seq}") == seq
                return
            except BackendUnavailableError:
                await asyncio.sleep(0.05)
                continue
            except TRANSIENT_ERRORS:
                pass
            while True:
                await asyncio.sleep(0.05)
                try:
                    status = await producer.get_status(sid)
                    break
                except TRANSIENT_ERRORS:
                    continue
            assert status is not None
            if status.total_chunks >= seq:
                return

    async def produce() -> None:
        for seq in range(1, total + 1):
            await append_acknowledged(seq)
            await asyncio.sleep(0.01)
        await producer.complete(sid)

    async def restart() -> None:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(own_redis.stop)
        await asyncio.sleep(2.0)
        await asyncio.to_thread(own_redis.start)
        restarted.set()

    await within(asyncio.gather(produce(), restart()), 60)
    assert restarted.is_set()
    expected = [StreamChunk(seq, f"c{seq}") for seq in range(1, total + 1)]
    results = await within(asyncio.gather(*followers), 60)
    print(f"restart: followers got {[len(r) for r in results]} chunks of {total}")
    for got in results:
        assert got == expected
    for store in (producer, readers):
        await store.aclose()


async def test_follower_survives_its_push_connection_killed(
    own_redis: RedisProcess, admin: redis.asyncio.Redis
) -> None:
    """The subscriber's connection (and the pool's) killed three times mid-stream, with the
    sweep off: pub/sub reconnects, every follower yields every chunk exactly once."""
    name = f"kill-{new_id()}"
    reader = RedisStreamStore.from_url(f"{own_redis.url}?client_name={name}", poll_interval=None)
    writer = RedisStreamStore.from_url(own_redis.url)
    sid = new_id()
    await writer.create(sid)
    followers = [asyncio.create_task(collect(reader.read_from(sid), 30)) for _ in range(3)]
    await asyncio.sleep(0.2)
    total = 300
    for i in range(total):
        await writer.append(sid, f"c{i}")
        if i % 75 == 37:
            for client in await admin.client_list():
                if client.get("name") == name:
                    await _command(admin, "CLIENT", "KILL", "ID", client["id"])
        await asyncio.sleep(0.002)
    await writer.complete(sid)
    expected = [StreamChunk(i + 1, f"c{i}") for i in range(total)]
    for got in await within(asyncio.gather(*followers), 30):
        assert got == expected
    for store in (reader, writer):
        await store.aclose()


# ---- cancelled followers (issue #7 item 2 and "What it must show" 3) -------------------------


async def _drain(store: RedisStreamStore, sid: str) -> list[StreamChunk]:
    """A follower as a web handler runs it: cancelling its task cancels ``read_from`` itself
    (``collect()`` awaits the follower in a task of its own, which a cancel does not reach)."""
    return [chunk async for chunk in store.read_from(sid)]


async def _numsub(admin: redis.asyncio.Redis, channel: str) -> int:
    return int(dict(await admin.pubsub_numsub(channel)).get(channel, 0))


async def _cancel_during_subscription(own_redis: RedisProcess) -> tuple[RedisStreamStore, str]:
    """100 followers of one stream cancelled while the server has not yet confirmed their
    subscription (the server is frozen meanwhile)."""
    store = RedisStreamStore.from_url(own_redis.url, poll_interval=None)
    sid = new_id()
    await store.create(sid)
    own_redis.pause()
    try:
        followers = [asyncio.create_task(_drain(store, sid)) for _ in range(100)]
        await asyncio.sleep(0.3)
        assert not any(f.done() for f in followers)
        for follower in followers:
            follower.cancel()
        results = await within(asyncio.gather(*followers, return_exceptions=True), 5)
        assert all(isinstance(r, asyncio.CancelledError) for r in results), results
    finally:
        own_redis.resume()
    await asyncio.sleep(0.5)  # the server catches up with what was sent meanwhile
    return store, sid


async def test_followers_cancelled_while_subscribing_leave_no_server_subscription(
    own_redis: RedisProcess, admin: redis.asyncio.Redis
) -> None:
    store, sid = await _cancel_during_subscription(own_redis)
    numsub = await _numsub(admin, f"aibind:stream:{sid}:notify")
    print(f"100 followers cancelled while subscribing: PUBSUB NUMSUB {numsub}")
    assert numsub == 0
    assert store._subscriber is not None
    assert store._subscriber.channels() == 0
    await store.aclose()


async def test_followers_cancelled_while_subscribing_leave_no_notifier_subscription(
    own_redis: RedisProcess,
) -> None:
    store, _ = await _cancel_during_subscription(own_redis)
    try:
        count = store._notifier.subscriber_count()
        print(f"100 followers cancelled while subscribing: {count} notifier subscriptions")
        assert count == 0
    finally:
        await store.aclose()


async def test_five_hundred_idle_followers_cancelled_at_once_end_within_two_seconds(
    own_redis: RedisProcess, admin: redis.asyncio.Redis
) -> None:
    store = RedisStreamStore.from_url(own_redis.url)
    sids = [new_id() for _ in range(5)]
    for sid in sids:
        await store.create(sid)
        await store.append(sid, "a")
    followers = [asyncio.create_task(_drain(store, sid)) for sid in sids for _ in range(100)]
    await asyncio.sleep(1.0)  # all subscribed, caught up and idle
    assert not any(f.done() for f in followers)
    started = time.monotonic()
    for follower in followers:
        follower.cancel()
    done, pending = await asyncio.wait(followers, timeout=2.0)
    elapsed = time.monotonic() - started
    print(f"500 idle followers cancelled: {len(done)} ended in {elapsed:.3f} s")
    assert not pending, f"{len(pending)} of 500 followers still running after 2 s"
    assert all(f.cancelled() for f in done)
    assert elapsed < 2.0
    await asyncio.sleep(0.2)
    assert store._notifier.subscriber_count() == 0
    for sid in sids:
        assert await _numsub(admin, f"aibind:stream:{sid}:notify") == 0
    await store.aclose()


async def test_a_killed_server_never_hangs_a_follower(own_redis: RedisProcess) -> None:
    """SIGKILL while followers wait and the server never comes back: a write raises a typed
    error at once; each follower, once ``ttl`` passes with no chunk, reads again, retries for
    ``read_retry_window`` and ends with the typed error: never a raw driver exception, never a
    hang."""

    class ShortRetries(RedisStreamStore):
        read_retry_window = 1.0

    store = ShortRetries.from_url(f"{own_redis.url}?socket_timeout=0.5", ttl=1.0)
    sid = new_id()
    await store.create(sid)
    await store.append(sid, "a")
    followers = [asyncio.ensure_future(collect(store.read_from(sid), 30)) for _ in range(3)]
    await asyncio.sleep(0.2)
    own_redis.stop(signal.SIGKILL)
    with pytest.raises((BackendUnavailableError, ConnectionLostError)) as info:
        await store.append(sid, "b")
    assert info.value.__cause__ is not None
    started = time.monotonic()
    results = await asyncio.gather(*followers, return_exceptions=True)
    assert all(isinstance(r, TRANSIENT_ERRORS) and r.__cause__ for r in results), results
    assert time.monotonic() - started < 1.0 + 1.0 + 2.0
    await store.aclose()


async def test_an_append_to_a_frozen_server_times_out_and_the_next_one_works(
    own_redis: RedisProcess,
) -> None:
    """Appends run on the store's lane, whose reads keep no timer of their own: a server
    that stops answering still ends the call after ``socket_timeout`` with
    BackendTimeoutError, and the lane reconnects for the next append (the timed-out one ran
    when the server woke up, or not: a read tells which, and no seq is handed out twice)."""
    store = RedisStreamStore.from_url(f"{own_redis.url}?socket_timeout=0.5", prefix="lane")
    sid = new_id()
    await store.create(sid)
    assert await store.append(sid, "a") == 1
    own_redis.pause()
    try:
        started = time.monotonic()
        with pytest.raises(BackendTimeoutError):
            await within(store.append(sid, "b"), 10)
        assert time.monotonic() - started < 5  # bounded by socket_timeout, not by the pause
    finally:
        own_redis.resume()
    last = await within(store.append(sid, "c"), 10)
    status = await store.get_status(sid)
    assert status is not None
    assert status.total_chunks == last
    await store.complete(sid)
    got = [c.data async for c in store.read_from(sid)]
    assert got in (["a", "c"], ["a", "b", "c"])
    assert last == len(got)
    await store.aclose()
