"""RedisStreamTransport against a real server: publish/read, groups, ack/pending/claim/
autoclaim, info/delete, async subscribe ending on a terminal event, raised errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import redis

from aibind.conformance import within
from aibind.redis import RedisStreamTransport, StreamEvent, TransportError


@pytest.fixture
def transport(redis_url: str, prefix: str) -> Iterator[RedisStreamTransport]:
    t = RedisStreamTransport(f"{prefix}:events", redis_url=redis_url)
    yield t
    t.delete()
    t.close()


def test_defaults_and_attributes(redis_url: str) -> None:
    t = RedisStreamTransport("agent_output")
    assert t.stream_name == "agent_output"
    assert t.consumer_group == "agents"
    assert t.max_len == 10000
    assert t.redis_url == "redis://localhost:6379"
    with pytest.raises(ValueError, match="stream_name"):
        RedisStreamTransport("")
    with pytest.raises(ValueError, match="max_len"):
        RedisStreamTransport("x", max_len=0)


def test_publish_and_read_all(transport: RedisStreamTransport, redis_url: str) -> None:
    first = transport.publish("token", {"token": "Hello"})
    transport.publish("token", {"token": " world ☃"}, metadata={"agent": "a1"})
    transport.publish("done", None)
    events = transport.read_all(count=10)
    assert [e.type for e in events] == ["token", "token", "done"]
    assert events[0].id == first
    assert events[0].data == {"token": "Hello"}
    assert events[0].metadata == {}
    assert events[1].metadata == {"agent": "a1"}
    assert abs(events[0].timestamp - time.time()) < 60
    assert transport.read_all(start_id=f"({first}") == events[1:]
    with redis.Redis.from_url(redis_url, decode_responses=True) as r:
        fields = r.xrange(transport.stream_name, count=1)[0][1]
    assert set(fields) == {"type", "data", "metadata", "timestamp"}
    assert fields["data"] == '{"token":"Hello"}'


def test_publish_trims_approximately(redis_url: str, prefix: str) -> None:
    t = RedisStreamTransport(f"{prefix}:trim", redis_url=redis_url, max_len=10)
    for i in range(500):
        t.publish("token", i)
    length = t.info()["length"]
    assert 10 <= length < 500
    t.delete()
    t.close()


def test_bad_event_input(transport: RedisStreamTransport) -> None:
    with pytest.raises(TypeError, match="event_type"):
        transport.publish(3, {})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="JSON"):
        transport.publish("x", {1, 2})
    assert transport.read_all() == []


def test_consumer_group_lifecycle(transport: RedisStreamTransport) -> None:
    for i in range(5):
        transport.publish("job", {"n": i})
    got = transport.read_group("worker-1", count=3)
    assert [e.data["n"] for e in got] == [0, 1, 2]
    pending = transport.pending()
    assert pending["pending"] == 3
    assert pending["consumers"] == {"worker-1": 3}
    assert transport.ack(got[0].id) == 1
    assert transport.ack([]) == 0
    rest = transport.read_group("worker-2", count=10)
    assert [e.data["n"] for e in rest] == [3, 4]
    claimed = transport.claim("worker-2", 0, [got[1].id])
    assert [e.id for e in claimed] == [got[1].id]
    assert transport.pending()["consumers"] == {"worker-1": 1, "worker-2": 3}
    # worker-1 died: every idle entry of it is reclaimed in one call.
    time.sleep(0.05)
    reclaimed = transport.autoclaim("worker-3", min_idle_ms=10)
    assert {e.id for e in reclaimed} >= {got[2].id}
    assert "worker-1" not in transport.pending()["consumers"]
    assert transport.ack([e.id for e in reclaimed] + [e.id for e in rest]) >= 3


def test_group_is_created_lazily_and_idempotently(redis_url: str, prefix: str) -> None:
    name = f"{prefix}:lazy"
    t1 = RedisStreamTransport(name, redis_url=redis_url)
    with redis.Redis.from_url(redis_url) as r:
        assert not r.exists(name)  # the constructor sent nothing
        t1.publish("a", 1)
        t2 = RedisStreamTransport(name, redis_url=redis_url)
        assert [e.data for e in t1.read_group("c1")] == [1]
        assert t2.read_group("c2") == []  # same group, already created: no BUSYGROUP error
        assert len(r.xinfo_groups(name)) == 1
    t1.delete()
    assert t1.read_group("c1") == []  # group recreated after delete
    t1.close()
    t2.close()


def test_info_and_delete(transport: RedisStreamTransport) -> None:
    assert transport.info()["length"] == 0
    eid = transport.publish("x", 1)
    info = transport.info()
    assert info["length"] == 1
    assert info["first_entry_id"] == eid == info["last_entry_id"]
    assert transport.delete() is True
    assert transport.delete() is False


def test_errors_are_raised_not_swallowed(redis_url: str, prefix: str) -> None:
    with redis.Redis.from_url(redis_url) as r:
        r.set(f"{prefix}:notastream", "x")
    t = RedisStreamTransport(f"{prefix}:notastream", redis_url=redis_url)
    with pytest.raises(TransportError) as info:
        t.read_all()
    assert info.value.__cause__ is not None
    with pytest.raises(TransportError):
        t.publish("x", 1)
    t.close()
    dead = RedisStreamTransport("x", redis_url="redis://127.0.0.1:1")
    with pytest.raises(TransportError):
        dead.publish("x", 1)


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
    replay = [e async for e in transport.asubscribe(last_id="0", block_ms=100)]
    assert [e.data for e in replay] == ["old", "a", "b", None]
    got = await transport.aread_group("w")
    assert len(got) == 5
    assert await transport.aack([e.id for e in got]) == 5
    await transport.aclose()
