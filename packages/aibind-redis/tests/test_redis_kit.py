"""What the backend kit promises, shown on Redis (issue #11 "What it must show"): one
lifecycle (``from_url`` returns the store; a process exits after its last call), URL options
(and the CLI finding streams under a custom prefix), the bounded blocking pool (1,000 followers
on default settings, ``CLIENT LIST`` at pool size + 1), and the sweep that follows a writer which
never publishes (the npm package) within ``poll_interval``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio
from test_redis_store import write_npm_chunk

from aibind.conformance import collect, new_id, within
from aibind.core.errors import BackendTimeoutError, StoreClosedError
from aibind.core.types import StreamChunk
from aibind.redis import RedisConversationStore, RedisStreamStore
from aibind.redis._connect import DEFAULT_MAX_CONNECTIONS


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.from_url(redis_url)
    yield client
    await client.aclose()


# ---- lifecycle ---------------------------------------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, time
    from aibind.redis import RedisConversationStore, RedisStreamStore
    from aibind.core.chat_history import ChatHistory

    url, prefix, mode = sys.argv[1:4]

    async def use(store, conv):
        await store.create("s")
        follower = asyncio.ensure_future(store.read_from("s").__anext__())
        await asyncio.sleep(0.05)
        await store.append("s", "x")
        assert (await follower).data == "x"
        await conv.save("c", ChatHistory())
        return store.read_from("s", 1)  # a follower left waiting

    async def main():
        if mode == "with":
            async with RedisStreamStore.from_url(url, prefix=prefix) as store:
                async with RedisConversationStore.from_url(url, prefix=prefix) as conv:
                    waiting = await use(store, conv)
                    task = asyncio.ensure_future(waiting.__anext__())
                    await asyncio.sleep(0.05)
        elif mode == "aclose":
            store = RedisStreamStore.from_url(url, prefix=prefix)
            conv = RedisConversationStore.from_url(url, prefix=prefix)
            waiting = await use(store, conv)
            task = asyncio.ensure_future(waiting.__anext__())
            await asyncio.sleep(0.05)
            await store.aclose()
            await conv.aclose()
            try:
                await task
            except Exception as exc:
                print("follower ended with", type(exc).__name__, flush=True)
        else:  # never closed: asyncio.run() returning must still end the process
            store = RedisStreamStore.from_url(url, prefix=prefix)
            conv = RedisConversationStore.from_url(url, prefix=prefix)
            waiting = await use(store, conv)
            asyncio.ensure_future(waiting.__anext__())
            await asyncio.sleep(0.05)
        print("LAST-CALL", flush=True)

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("mode", ["with", "aclose", "never-closed"])
def test_a_process_exits_promptly_after_its_last_call(
    redis_url: str, prefix: str, mode: str
) -> None:
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, redis_url, prefix, mode],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line.strip())
            if line.startswith("LAST-CALL"):
                break
        last_call = time.monotonic()
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"the process did not exit after its last call ({mode})")
        elapsed = time.monotonic() - last_call
        errors.seek(0)
        stderr = errors.read()
    assert code == 0, stderr
    assert "LAST-CALL" in lines, (lines, stderr)
    assert elapsed < 2.0, f"exited {elapsed:.2f} s after the last call"
    if mode == "aclose":
        assert "follower ended with StoreClosedError" in lines


async def test_from_url_returns_the_store_itself_opened_lazily(redis_url: str, prefix: str) -> None:
    store = RedisStreamStore.from_url(redis_url, prefix=prefix)
    assert isinstance(store, RedisStreamStore)
    sid = new_id()
    await store.create(sid)  # opened by the first call
    assert await store.open() is store
    await store.aclose()
    await store.aclose()
    with pytest.raises(StoreClosedError):
        await store.get_status(sid)


# ---- URL options -------------------------------------------------------------------------


async def test_url_options_reach_the_store_and_the_client(redis_url: str) -> None:
    store = RedisStreamStore.from_url(
        f"{redis_url}?prefix=app:stream&ttl=600&poll_interval=0.2&max_connections=7"
        "&pool_timeout=3&socket_timeout=4&client_name=aibind-url-test"
    )
    assert (store.prefix, store.ttl, store.poll_interval) == ("app:stream", 600.0, 0.2)
    pool = store.client.connection_pool  # type: ignore[attr-defined]
    assert type(pool) is redis.asyncio.BlockingConnectionPool
    assert (pool.max_connections, pool.timeout) == (7, 3.0)
    assert pool.connection_kwargs["socket_timeout"] == 4.0
    assert pool.connection_kwargs["client_name"] == "aibind-url-test"
    await store.aclose()
    defaults = RedisStreamStore.from_url(redis_url)
    assert defaults.client.connection_pool.max_connections == DEFAULT_MAX_CONNECTIONS  # type: ignore[attr-defined]
    assert RedisStreamStore.from_url(f"{redis_url}?poll_interval=none").poll_interval is None
    assert RedisStreamStore.from_url(f"{redis_url}?ttl=600", ttl=5).ttl == 5.0  # keyword wins
    conv = RedisConversationStore.from_url(f"{redis_url}?prefix=app:conv&ttl=60")
    assert (conv.prefix, conv.ttl) == ("app:conv", 60.0)
    await defaults.aclose()
    await conv.aclose()


def test_unknown_or_malformed_url_options_are_refused(redis_url: str) -> None:
    with pytest.raises(ValueError, match=r"unknown URL option 'bogus'.*prefix") as info:
        RedisStreamStore.from_url(f"{redis_url}?bogus=1")
    assert "poll_interval" in str(info.value)
    with pytest.raises(ValueError, match="URL option ttl='soon'"):
        RedisStreamStore.from_url(f"{redis_url}?ttl=soon")
    with pytest.raises(ValueError, match="unknown URL option 'poll_interval'"):
        RedisConversationStore.from_url(f"{redis_url}?poll_interval=1")
    with pytest.raises(ValueError, match="max_connections"):
        RedisStreamStore.from_url(f"{redis_url}?max_connections=0")
    with pytest.raises(TypeError, match="unexpected option"):
        RedisStreamStore.from_url(redis_url, table="x")
    with pytest.raises(ValueError, match="redis://"):
        RedisStreamStore.from_url("postgresql://localhost/db")


async def test_cluster_url_option_opens_a_cluster_client(
    redis_cluster: str, cluster_prefix: str
) -> None:
    from redis.asyncio.cluster import RedisCluster

    store = RedisStreamStore.from_url(f"{redis_cluster}?cluster=true", prefix=cluster_prefix)
    assert isinstance(store.client, RedisCluster)
    assert store.cluster
    sid = new_id()
    await store.create(sid)
    assert await store.append(sid, "x") == 1
    await store.aclose()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aibind.core.cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


async def test_cli_finds_streams_under_a_custom_prefix(redis_url: str, prefix: str) -> None:
    url = f"{redis_url}?prefix={prefix}"
    async with RedisStreamStore.from_url(url) as store:
        sid = new_id()
        await store.create(sid)
        await store.append_many(sid, ["Hello", ", world"])
        await store.complete(sid)
    status = await asyncio.to_thread(_cli, "status", url, sid)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == {
        "stream_id": sid,
        "state": "done",
        "total_chunks": 2,
        "error": None,
    }
    tail = await asyncio.to_thread(_cli, "tail", url, sid)
    assert tail.returncode == 0, tail.stderr
    assert tail.stdout == "Hello, world\n"
    assert "[done, 2 chunks]" in tail.stderr
    missing = await asyncio.to_thread(_cli, "status", redis_url, sid)  # default prefix
    assert missing.returncode == 1


# ---- the bounded blocking pool -------------------------------------------------------------


async def test_a_thousand_followers_on_default_settings(
    redis_url: str, prefix: str, raw: redis.asyncio.Redis
) -> None:
    """Issue #11 item 3: 1,000 followers on one ``from_url`` store with default settings all
    receive every chunk, and the store holds at most pool size + 1 connections."""
    name = f"aibind-1k-{new_id()}"
    store = RedisStreamStore.from_url(f"{redis_url}?client_name={name}", prefix=prefix)
    writer = RedisStreamStore.from_url(redis_url, prefix=prefix)
    sid = new_id()
    await writer.create(sid)
    chunks = [f"c{i}" for i in range(5)]
    followers = [asyncio.create_task(collect(store.read_from(sid), 120)) for _ in range(1000)]
    seen: list[int] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            clients = await raw.client_list()
            seen.append(sum(1 for c in clients if c.get("name") == name))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.5)
    for chunk in chunks:
        await writer.append(sid, chunk)
        await asyncio.sleep(0.05)
    await writer.complete(sid)
    results = await within(asyncio.gather(*followers), 120)
    done.set()
    await watcher
    expected = [StreamChunk(i + 1, c) for i, c in enumerate(chunks)]
    complete = sum(got == expected for got in results)
    print(f"1000 followers: {complete} got all {len(chunks)} chunks; CLIENT LIST peak {max(seen)}")
    assert complete == 1000
    assert max(seen) <= DEFAULT_MAX_CONNECTIONS + 1, f"CLIENT LIST peaked at {max(seen)}"
    assert max(seen) >= 2, "the pool and the subscriber were seen"
    for s in (store, writer):
        await s.aclose()


async def test_calls_beyond_the_pool_wait_instead_of_failing(redis_url: str, prefix: str) -> None:
    store = RedisStreamStore.from_url(
        f"{redis_url}?max_connections=3&pool_timeout=10", prefix=prefix
    )
    sids = [new_id() for _ in range(150)]
    await within(asyncio.gather(*(store.create(s) for s in sids)), 60)
    seqs = await within(asyncio.gather(*(store.append(s, "x") for s in sids)), 60)
    assert seqs == [1] * 150
    await store.aclose()


async def test_an_exhausted_pool_times_out_as_backend_timeout(redis_url: str, prefix: str) -> None:
    store = RedisStreamStore.from_url(
        f"{redis_url}?max_connections=1&pool_timeout=0.2", prefix=prefix
    )
    await store.open()
    busy = asyncio.ensure_future(store.client.blpop([f"{prefix}:nothing"], 2))  # type: ignore[attr-defined]
    await asyncio.sleep(0.1)
    with pytest.raises(BackendTimeoutError, match="no pooled connection") as info:
        await store.get_status(new_id())
    assert isinstance(info.value, TimeoutError)
    assert info.value.__cause__ is not None
    await busy
    await store.aclose()


# ---- one poll policy: the sweep -------------------------------------------------------------


async def test_silent_writes_to_any_of_many_streams_are_followed_within_poll_interval(
    redis_url: str, prefix: str, raw: redis.asyncio.Redis
) -> None:
    """1,200 followed streams: the sweep reads them in several MGET slices; a write that does
    not publish (npm) to a stream in any slice, and one made by a store that publishes, each
    reach their follower once and within ``poll_interval`` (plus a margin)."""
    poll, margin = 0.1, 0.5
    store = RedisStreamStore.from_url(redis_url, prefix=prefix, poll_interval=poll)
    writer = RedisStreamStore.from_url(redis_url, prefix=prefix)
    ids = [new_id() for _ in range(1200)]
    pipe = raw.pipeline()
    for sid in ids:
        pipe.set(f"{prefix}:{sid}:status", '{"state":"active","totalChunks":0}', ex=300)
    await pipe.execute()
    got: dict[str, list[tuple[int, float]]] = {sid: [] for sid in ids}

    async def follow(sid: str) -> None:
        async for chunk in store.read_from(sid):
            got[sid].append((chunk.seq, time.monotonic()))

    tasks = [asyncio.create_task(follow(sid)) for sid in ids]
    await asyncio.sleep(1.0)
    written: dict[str, float] = {}
    for sid in (ids[3], ids[600], ids[1199]):
        await write_npm_chunk(raw, prefix, sid, "npm")
        written[sid] = time.monotonic()
    await writer.append(ids[700], "pushed")
    written[ids[700]] = time.monotonic()
    await asyncio.sleep(poll + margin)
    for sid, at in written.items():
        assert [seq for seq, _ in got[sid]] == [1], sid
        assert got[sid][0][1] - at <= poll + margin, sid
    assert sum(len(v) for v in got.values()) == len(written)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await writer.aclose()
    await store.aclose()


async def test_a_writer_that_never_publishes_is_followed_within_poll_interval(
    redis_url: str, prefix: str, raw: redis.asyncio.Redis
) -> None:
    """Issue #11 item 4: the npm writer does RPUSH + SET and no PUBLISH; a follower on a store
    with push still gets every chunk within ``poll_interval`` (plus a margin), through the
    store's sweep (one MGET per interval for all its followers)."""
    poll, margin = 0.1, 0.5
    store = RedisStreamStore.from_url(redis_url, prefix=prefix, poll_interval=poll)
    assert store.push
    sid = new_id()
    await raw.set(f"{prefix}:{sid}:status", '{"state":"active","totalChunks":0}', ex=300)
    arrived: dict[int, float] = {}

    async def follow() -> None:
        async for chunk in store.read_from(sid):
            arrived[chunk.seq] = time.monotonic()

    followers = [asyncio.create_task(follow()) for _ in range(3)]
    await asyncio.sleep(0.3)
    written: dict[int, float] = {}
    for i in range(10):
        seq = await write_npm_chunk(raw, prefix, sid, f"npm {i}")
        written[seq] = time.monotonic()
        await asyncio.sleep(0.15)
    await raw.set(f"{prefix}:{sid}:status", '{"state":"done","totalChunks":10}', ex=300)
    await within(asyncio.gather(*followers), 10)
    delays = [arrived[seq] - written[seq] for seq in written]
    print(f"non-publishing writer: {len(arrived)}/10 chunks, max delay {max(delays):.3f} s")
    assert len(arrived) == 10
    assert max(delays) <= poll + margin, f"delays {[round(d, 3) for d in delays]}"
    assert store._sweeper is not None
    assert 0 < store._sweeper.sweeps < 100
    await store.aclose()
