"""Several uvicorn worker processes on one store (a SQLite file): a stop sent to another
process, SIGTERM mid-generation (the stream records ``stopped`` and resuming clients get
``event: stopped`` and ``event: done`` within 1 s), and what a restart leaves."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from httpx_sse import EventSource, ServerSentEvent
from support import ServerProcess

from aibind.core import open_stores
from aibind.core.types import StreamStatus

pytestmark = [pytest.mark.timeout(60), pytest.mark.faults]


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shared.db'}"


@pytest.fixture
def servers(url: str, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two worker processes on the same file: [generator, other]."""
    env = {
        "AIBIND_URL": url,
        "TOKENS": "400",
        "TOKEN_DELAY": "0.02",
        "SERVER_LOG_DIR": str(tmp_path),
    }
    started = [ServerProcess(env).start(), ServerProcess(env).start()]
    try:
        yield started
    finally:
        for server in started:
            server.stop()


class Timed:
    """SSE events with the monotonic time each arrived."""

    def __init__(self) -> None:
        self.events: list[tuple[float, ServerSentEvent]] = []

    async def read(self, response: httpx.Response) -> None:
        async for event in EventSource(response).aiter_sse():
            self.events.append((time.monotonic(), event))

    def named(self, name: str) -> list[float]:
        return [t for t, e in self.events if e.event == name]

    def texts(self) -> list[str]:
        return [e.data for _, e in self.events if e.event == "message"]

    async def until(self, count: int) -> None:
        while len(self.texts()) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.005)


async def status_of(url: str, stream_id: str) -> StreamStatus | None:
    async with open_stores(url) as stores:
        return await stores.streams.get_status(stream_id)


async def history_of(url: str, session_id: str) -> list[tuple[str, str, bool]]:
    async with open_stores(url) as stores:
        chat = await stores.conversations.load(session_id)
    nodes = [chat.tree.get(i) for i in chat.node_ids]
    return [
        (m["role"], m["content"], bool(n and n.metadata.get("stopped")))
        for m, n in zip(chat.messages, nodes, strict=True)
    ]


async def test_stop_sent_to_another_process(servers: list[ServerProcess], url: str) -> None:
    generator, other = servers
    async with httpx.AsyncClient(timeout=10) as client:
        post_events = Timed()
        async with client.stream(
            "POST", f"{generator.url}/__aibind__/stream", json={"prompt": "go", "sessionId": "s1"}
        ) as post:
            stream_id = post.headers["x-stream-id"]
            reader = asyncio.create_task(post_events.read(post))
            await post_events.until(5)
            stop = await client.post(f"{other.url}/__aibind__/stream/stop", json={"id": stream_id})
            assert (stop.status_code, stop.json()) == (200, {"ok": True})
            asked = time.monotonic()
            await asyncio.wait_for(reader, 5)
        # The generator noticed at its next token and ended its response with the end events.
        assert [e.event for _, e in post_events.events[-2:]] == ["stopped", "done"]
        assert post_events.named("stopped")[0] - asked < 1.0
        status = await status_of(url, stream_id)
        assert status is not None
        assert status.state == "stopped"
        assert len(post_events.texts()) == status.total_chunks
        # The other process serves the end; a browser then gets 204 and stops reconnecting.
        resume = f"{other.url}/__aibind__/stream/resume?id={stream_id}"
        last = str(status.total_chunks)
        end = await client.get(resume, headers={"Last-Event-ID": last})
        done = f"event: done\nid: {status.total_chunks + 1}\ndata: \n\n"
        assert end.text == "retry: 200\n\nevent: stopped\ndata: \n\n" + done
        gone = await client.get(resume, headers={"Last-Event-ID": str(status.total_chunks + 1)})
        assert gone.status_code == 204
    # The generator saved the partial answer, marked stopped.
    for _ in range(200):
        if history := await history_of(url, "s1"):
            break
        await asyncio.sleep(0.02)
    assert history == [("user", "go", False), ("assistant", "".join(post_events.texts()), True)]


@pytest.mark.parametrize("client_stays", [True, False], ids=["client-connected", "client-gone"])
async def test_sigterm_mid_generation_records_stopped(
    servers: list[ServerProcess], url: str, client_stays: bool
) -> None:
    generator, other = servers
    async with httpx.AsyncClient(timeout=10) as client:
        post_events, follower = Timed(), Timed()
        async with client.stream(
            "POST", f"{generator.url}/__aibind__/stream", json={"prompt": "go", "sessionId": "s2"}
        ) as post:
            stream_id = post.headers["x-stream-id"]
            reader = asyncio.create_task(post_events.read(post))
            await post_events.until(10)
            # A client following live through the other worker (it polls the SQLite file).
            async with client.stream(
                "GET", f"{other.url}/__aibind__/stream/resume?id={stream_id}&after=3"
            ) as resumed:
                following = asyncio.create_task(follower.read(resumed))
                await follower.until(5)
                if not client_stays:
                    reader.cancel()
                    await post.aclose()
                sent = time.monotonic()
                generator.signal(signal.SIGTERM)
                await asyncio.wait_for(following, 5)
            if client_stays:
                await asyncio.wait_for(reader, 5)
        # uvicorn re-raises the signal once its graceful shutdown is over: exit by SIGTERM.
        assert generator.wait(10) == -signal.SIGTERM, generator.output()
        assert "Traceback" not in generator.output()
        # The follower got the end within a second of the SIGTERM.
        assert [e.event for _, e in follower.events[-2:]] == ["stopped", "done"]
        assert follower.named("done")[0] - sent < 1.0
        if client_stays:
            assert [e.event for _, e in post_events.events[-2:]] == ["stopped", "done"]
        status = await status_of(url, stream_id)
        assert status is not None
        assert status.state == "stopped"
        assert 10 <= status.total_chunks < 400
        assert follower.texts() == [f"w{i} " for i in range(3, status.total_chunks)]
        # Resuming after the process has gone: the end at once.
        started = time.monotonic()
        late = await client.get(f"{other.url}/__aibind__/stream/resume?id={stream_id}&after=0")
        assert late.text.endswith("event: stopped\ndata: \n\nevent: done\ndata: \n\n")
        assert time.monotonic() - started < 1.0
    # The generator saved the partial answer before its stores closed.
    assert await history_of(url, "s2") == [
        ("user", "go", False),
        ("assistant", "".join(f"w{i} " for i in range(status.total_chunks)), True),
    ]
