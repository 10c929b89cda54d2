"""RedisStreamTransport against a real server, every test run through the sync verbs and
through their async twins (issue #11 item 7): publish/read, groups, ack/pending/claim/
autoclaim (with trimmed entries reported), info/delete, a deleted group re-created, poisoned
entries delivered as CorruptEvent, JSON refused when JavaScript could not read it, errors typed
and chained. Plus: the sync half is generated from the async one and is current."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from aibind.conformance import within
from aibind.core.errors import BackendUnavailableError, CorruptDataError
from aibind.redis import (
    ClaimedEvents,
    CorruptEvent,
    RedisStreamTransport,
    StreamEvent,
    TransportError,
)
from aibind.redis._transport_async import AsyncTransportCore

Verb = Callable[..., Awaitable[Any]]


class Side:
    """Calls a transport verb by its sync name, either directly (``sync``) or through its
    ``a``-prefixed async twin (``async``)."""

    def __init__(self, transport: RedisStreamTransport, kind: str) -> None:
        self.t = transport
        self.kind = kind

    def __getattr__(self, verb: str) -> Verb:
        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.kind == "sync":
                return getattr(self.t, verb)(*args, **kwargs)
            return await getattr(self.t, "a" + verb)(*args, **kwargs)

        return call


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
async def transport(redis_url: str, prefix: str) -> AsyncIterator[RedisStreamTransport]:
    t = RedisStreamTransport(f"{prefix}:events", redis_url=redis_url)
    yield t
    t.delete()
    await t.aclose()


@pytest.fixture
def side(transport: RedisStreamTransport, kind: str) -> Side:
    return Side(transport, kind)


def test_defaults_and_attributes() -> None:
    t = RedisStreamTransport("agent_output")
    assert t.stream_name == "agent_output"
    assert t.consumer_group == "agents"
    assert t.max_len == 10000
    assert t.redis_url == "redis://localhost:6379"
    with pytest.raises(ValueError, match="stream_name"):
        RedisStreamTransport("")
    with pytest.raises(ValueError, match="max_len"):
        RedisStreamTransport("x", max_len=0)
    with pytest.raises(TypeError, match="consumer_group"):
        RedisStreamTransport("x", consumer_group=3)  # type: ignore[arg-type]


async def test_publish_and_read_all(side: Side, transport: RedisStreamTransport) -> None:
    first = await side.publish("token", {"token": "Hello"})
    await side.publish("token", {"token": " world ☃"}, metadata={"agent": "a1"})
    await side.publish("done", None)
    events = await side.read_all(count=10)
    assert [e.type for e in events] == ["token", "token", "done"]
    assert events[0].id == first
    assert events[0].data == {"token": "Hello"}
    assert events[0].metadata == {}
    assert events[1].metadata == {"agent": "a1"}
    assert abs(events[0].timestamp - time.time()) < 60
    assert await side.read_all(start_id=f"({first}") == events[1:]
    with redis.Redis.from_url(transport.redis_url, decode_responses=True) as r:
        fields = r.xrange(transport.stream_name, count=1)[0][1]
    assert set(fields) == {"type", "data", "metadata", "timestamp"}
    assert fields["data"] == '{"token":"Hello"}'


async def test_publish_trims_approximately(redis_url: str, prefix: str, kind: str) -> None:
    t = RedisStreamTransport(f"{prefix}:trim", redis_url=redis_url, max_len=10)
    s = Side(t, kind)
    for i in range(300):
        await s.publish("token", i)
    length = (await s.info())["length"]
    assert 10 <= length < 300
    await s.delete()
    await t.aclose()


async def test_bad_event_input_is_refused_before_anything_is_sent(side: Side) -> None:
    with pytest.raises(TypeError, match="event_type"):
        await side.publish(3, {})
    with pytest.raises(TypeError, match="JSON"):
        await side.publish("x", {1, 2})
    # Issue #7 item 14: JSON JavaScript cannot parse is refused, as is text that is not
    # valid Unicode (ValueError naming the argument, not TransportError).
    for bad in (float("nan"), float("inf"), {"x": [float("-inf")]}):
        with pytest.raises(ValueError, match="NaN or an infinity"):
            await side.publish("x", bad)
    with pytest.raises(ValueError, match=r"data is not valid Unicode.*surrogate"):
        await side.publish("x", {"text": "a\ud800b"})
    with pytest.raises(ValueError, match="metadata is not valid Unicode"):
        await side.publish("x", 1, metadata={"\udfff": 1})
    with pytest.raises(ValueError, match="event_type is not valid Unicode"):
        await side.publish("\ud800", 1)
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested too deeply"):
        await side.publish("x", deep)
    assert await side.read_all() == []


async def test_consumer_group_lifecycle(side: Side) -> None:
    for i in range(5):
        await side.publish("job", {"n": i})
    got = await side.read_group("worker-1", count=3)
    assert [e.data["n"] for e in got] == [0, 1, 2]
    pending = await side.pending()
    assert pending["pending"] == 3
    assert pending["consumers"] == {"worker-1": 3}
    assert await side.ack(got[0].id) == 1
    assert await side.ack([]) == 0
    rest = await side.read_group("worker-2", count=10)
    assert [e.data["n"] for e in rest] == [3, 4]
    claimed = await side.claim("worker-2", 0, [got[1].id])
    assert [e.id for e in claimed] == [got[1].id]
    assert (await side.pending())["consumers"] == {"worker-1": 1, "worker-2": 3}
    await asyncio.sleep(0.05)  # worker-1 died: its idle entries are reclaimed in one call
    reclaimed = await side.autoclaim("worker-3", min_idle_ms=10)
    assert isinstance(reclaimed, ClaimedEvents)
    assert {e.id for e in reclaimed} >= {got[2].id}
    assert reclaimed.deleted_ids == []
    assert "worker-1" not in (await side.pending())["consumers"]
    assert await side.ack([e.id for e in reclaimed] + [e.id for e in rest]) >= 3


async def test_group_is_created_lazily_and_again_after_a_delete(
    redis_url: str, prefix: str, kind: str
) -> None:
    name = f"{prefix}:lazy"
    t1 = RedisStreamTransport(name, redis_url=redis_url)
    t2 = RedisStreamTransport(name, redis_url=redis_url)
    s1, s2 = Side(t1, kind), Side(t2, kind)
    with redis.Redis.from_url(redis_url) as r:
        assert not r.exists(name)  # the constructor sent nothing
        await s1.publish("a", 1)
        assert [e.data for e in await s1.read_group("c1")] == [1]
        assert await s2.read_group("c2") == []  # same group, already there: no BUSYGROUP
        assert len(r.xinfo_groups(name)) == 1
        r.delete(name)  # deleted by someone else: both halves re-create the group
    assert await s1.read_group("c1") == []
    await s2.publish("b", 2)
    assert [e.data for e in await s2.read_group("c3")] == [2]
    await s1.delete()
    for t in (t1, t2):
        await t.aclose()


async def test_info_and_delete(side: Side) -> None:
    assert (await side.info())["length"] == 0
    eid = await side.publish("x", 1)
    info = await side.info()
    assert info["length"] == 1
    assert info["first_entry_id"] == eid == info["last_entry_id"]
    assert info["last_generated_id"] == eid
    assert await side.delete() is True
    assert await side.delete() is False


async def test_a_poisoned_entry_is_reported_and_skippable(
    side: Side, transport: RedisStreamTransport
) -> None:
    """Issue #7 item 5: an entry with bytes that are not UTF-8 used to raise a raw
    UnicodeDecodeError after XREADGROUP had moved the whole batch to the pending list, and
    autoclaim / read_all raised it every time. It is now a CorruptEvent in its place; the
    others are delivered; acknowledging it skips it."""
    await side.publish("token", "before")
    with redis.Redis.from_url(transport.redis_url) as r:
        bad = r.xadd(transport.stream_name, {b"type": b"token", b"data": b'"\xff\xfe"'}).decode()
    await side.publish("token", "after")
    events = await side.read_all()
    assert [type(e) for e in events] == [StreamEvent, CorruptEvent, StreamEvent]
    poisoned = events[1]
    assert isinstance(poisoned, CorruptEvent)
    assert poisoned.id == bad
    assert isinstance(poisoned.error, CorruptDataError)
    assert "not UTF-8" in str(poisoned.error)
    assert poisoned.raw[b"data"] == b'"\xff\xfe"'
    got = await side.read_group("w1", count=10)
    assert [e.data for e in got] == ["before", None, "after"]
    assert isinstance(got[1], CorruptEvent)
    await asyncio.sleep(0.02)
    reclaimed = await side.autoclaim("w2", 10)
    assert [type(e) for e in reclaimed] == [StreamEvent, CorruptEvent, StreamEvent]
    assert await side.ack([e.id for e in got]) == 3  # skipping the poisoned one included
    assert (await side.pending())["pending"] == 0


async def test_autoclaim_reports_pending_entries_trimmed_away(
    redis_url: str, prefix: str, kind: str
) -> None:
    """Issue #7 item 6: with max_len=10, entries a dead consumer read but never acknowledged
    are trimmed; XAUTOCLAIM drops them from the pending list and lists their ids, which
    autoclaim used to ignore (the consumer's next read silently started much later)."""
    t = RedisStreamTransport(f"{prefix}:trimmed", redis_url=redis_url, max_len=10)
    s = Side(t, kind)
    for i in range(5):
        await s.publish("job", i)
    lost = [e.id for e in await s.read_group("dead", count=5)]
    with redis.Redis.from_url(redis_url) as r:
        for i in range(300):
            r.xadd(t.stream_name, {"type": "job", "data": str(i)}, maxlen=10, approximate=False)
    await asyncio.sleep(0.02)
    reclaimed = await s.autoclaim("alive", 10)
    assert list(reclaimed) == []
    assert reclaimed.deleted_ids == lost
    assert (await s.pending())["pending"] == 0
    await s.delete()
    await t.aclose()


async def test_errors_are_typed_and_chained(redis_url: str, prefix: str, kind: str) -> None:
    with redis.Redis.from_url(redis_url) as r:
        r.set(f"{prefix}:notastream", "x")
    t = RedisStreamTransport(f"{prefix}:notastream", redis_url=redis_url)
    s = Side(t, kind)
    with pytest.raises(TransportError, match=r"XRANGE.*ResponseError.*WRONGTYPE") as info:
        await s.read_all()
    assert info.value.__cause__ is not None
    with pytest.raises(TransportError, match="ResponseError"):
        await s.publish("x", 1)
    with pytest.raises(TransportError, match="XINFO"):
        await s.info()
    await t.aclose()
    dead = RedisStreamTransport("x", redis_url="redis://127.0.0.1:1")
    with pytest.raises(BackendUnavailableError, match="ConnectionError") as unavailable:
        await Side(dead, kind).publish("x", 1)
    assert unavailable.value.__cause__ is not None
    await dead.aclose()


async def test_asubscribe_ends_on_terminal_event(transport: RedisStreamTransport) -> None:
    transport.publish("token", "old")
    seen: list[StreamEvent] = []

    async def consume() -> None:
        async for event in transport.asubscribe(block_ms=200):
            seen.append(event)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.1)
    await transport.apublish("token", "a")
    await transport.apublish("token", "b")
    await transport.apublish("done", None)
    await transport.apublish("token", "after")
    await within(task)
    assert [(e.type, e.data) for e in seen] == [("token", "a"), ("token", "b"), ("done", None)]
    replay = [e async for e in transport.subscribe_async(last_id="0", block_ms=100)]
    assert [e.data for e in replay] == ["old", "a", "b", None]
    sync_replay = list(transport.subscribe(last_id="0", block_ms=100))
    assert sync_replay == replay


async def test_subscribe_blocks_longer_than_redis_py_s_default_socket_timeout(
    transport: RedisStreamTransport,
) -> None:
    # redis-py 8 reads with a 5 s socket timeout by default: an XREAD BLOCK of 6 s would fail
    # on the clients the transport opens if they kept it.
    stream = transport.asubscribe(last_id="$", block_ms=6000)
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(5.5)
    await transport.apublish("done", "late")
    assert (await within(first, 5)).data == "late"


def test_sync_half_is_generated_from_the_async_half_and_current() -> None:
    tool = Path(__file__).resolve().parents[1] / "tools" / "generate_sync.py"
    spec = importlib.util.spec_from_file_location("generate_sync", tool)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    source = module.SOURCE.read_text(encoding="utf-8")
    generated = module.TARGET.read_text(encoding="utf-8")
    assert module.is_current(source, generated), "run packages/aibind-redis/tools/generate_sync.py"


def test_every_verb_has_a_sync_and_an_async_twin_with_one_signature() -> None:
    verbs = [
        name
        for name, fn in inspect.getmembers(AsyncTransportCore, inspect.isfunction)
        if not name.startswith("_")
    ]
    assert set(verbs) >= {"publish", "read_all", "read_group", "ack", "pending", "claim"}
    assert set(verbs) >= {"autoclaim", "info", "delete", "subscribe", "close"}
    for verb in verbs:
        sync = getattr(RedisStreamTransport, verb)
        twin = getattr(RedisStreamTransport, "a" + verb)
        assert inspect.signature(sync).parameters == inspect.signature(twin).parameters, verb
        core = inspect.signature(getattr(AsyncTransportCore, verb))
        assert list(inspect.signature(sync).parameters) == list(core.parameters), verb
