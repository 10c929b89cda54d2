"""Lifecycle: stores from a URL, shutdown stopping generations before the stores close (and
saving their partial answers), followers of other processes' streams cut, shutdown signals."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import httpx
import pytest
from starlette.applications import Starlette
from support import DONE, Model, expect_json

from aibind.core import ChatHistory, DurableStream, StoreClosedError, open_stores
from aibind.core.memory import MemoryStreamStore
from aibind.starlette import ConversationConfig, StreamHandler, create_stream_handler

pytestmark = pytest.mark.timeout(20)


def client_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def first_chunk_of(handler: StreamHandler) -> str:
    """The id of the handler's one stream once it holds a chunk."""
    store = await handler.stream_store()
    while True:
        for stream in DurableStream.running(store):
            status = await store.get_status(stream.id)
            if status is not None and status.total_chunks:
                return stream.id
        await asyncio.sleep(0.005)


async def test_url_stores_setup_and_shutdown_saves_the_stopped_answer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    model = Model(gated=True)
    handler = StreamHandler(
        model=model, url=url, conversation=ConversationConfig(max_messages=10), setup=True
    )
    app = Starlette(routes=[handler.mount], lifespan=handler.lifespan)
    async with handler.lifespan(app), client_for(app) as client:
        post = asyncio.create_task(
            client.post("/__aibind__/stream", json={"prompt": "hello", "sessionId": "s1"})
        )
        model.release("Half an ", "answer")
        stream_id = await first_chunk_of(handler)
        store = await handler.stream_store()
        while (await store.get_status(stream_id)).total_chunks < 2:  # type: ignore[union-attr]  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        # --- the app shuts down while the answer is being written ---
        await handler.aclose()
        response = await post
        expect_json(
            await client.post("/__aibind__/stream", json={"prompt": "late"}),
            503,
            {"error": "the server is shutting down"},
        )
    assert response.text.endswith("id: 2\ndata: answer\n\nevent: stopped\ndata: \n\n" + DONE)
    assert model.closed == 1
    # The stores are closed; what they hold is in the file: `stopped`, and the partial turn.
    async with open_stores(url) as stores:
        status = await stores.streams.get_status(stream_id)
        assert status is not None
        assert (status.state, status.total_chunks) == ("stopped", 2)
        chat: ChatHistory = await stores.conversations.load("s1")  # type: ignore[type-arg]
        assert chat.messages == [
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "Half an answer"},
        ]
        node = chat.tree.get(chat.node_ids[-1])
        assert node is not None
        assert dict(node.metadata) == {"stopped": True}
    with pytest.raises(StoreClosedError, match="closed"):
        await handler.open()
    await handler.aclose()  # idempotent


async def test_missing_tables_without_setup_is_a_503(tmp_path: Path) -> None:
    handler = StreamHandler(model=Model(), url=f"sqlite:///{tmp_path / 'empty.db'}")
    app = create_stream_handler(model=Model(), url=f"sqlite:///{tmp_path / 'empty.db'}")
    assert isinstance(app.state.aibind, StreamHandler)
    async with handler.lifespan(), client_for(Starlette(routes=[handler.mount])) as client:
        response = await client.post("/__aibind__/stream", json={"prompt": "x"})
    expect_json(response, 503, {"error": "store unavailable (SchemaError)"})


async def test_shutdown_cuts_followers_of_streams_generated_elsewhere() -> None:
    store = MemoryStreamStore()
    await store.create("elsewhere")  # written by another process, still active
    await store.append("elsewhere", "\x01so far")
    handler = StreamHandler(model=Model(), store=store)
    app = Starlette(routes=[handler.mount])
    async with handler.lifespan(app), client_for(app) as client:
        follower = asyncio.create_task(client.get("/__aibind__/stream/resume?id=elsewhere&after=0"))
        await asyncio.sleep(0.05)
        assert not follower.done()
        await handler.aclose()
        response = await asyncio.wait_for(follower, 2)
        late = await client.get("/__aibind__/stream/resume?id=elsewhere&after=0")
        expect_json(late, 503, {"error": "the server is shutting down"})
    # The body ends without end events: the client reconnects to a worker still up.
    assert response.text == "id: 1\ndata: so far\n\n"
    status = await store.get_status("elsewhere")
    assert status is not None
    assert status.state == "active"


@pytest.fixture
def sigusr1_handler() -> Iterator[list[int]]:
    """A Python-level SIGUSR1 handler (as a server installs for SIGTERM), restored after."""
    received: list[int] = []

    def server_handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGUSR1, server_handler)
    try:
        yield received
    finally:
        signal.signal(signal.SIGUSR1, previous)


async def test_shutdown_signal_stops_generations_then_reaches_the_server(
    sigusr1_handler: list[int],
) -> None:
    server_handler = signal.getsignal(signal.SIGUSR1)
    before_usr2 = signal.getsignal(signal.SIGUSR2)
    model = Model(gated=True)
    handler = StreamHandler(model=model, shutdown_signals=(signal.SIGUSR1, signal.SIGUSR2))
    app = Starlette(routes=[handler.mount])
    async with client_for(app) as client:
        async with handler.lifespan(app):
            assert signal.getsignal(signal.SIGUSR1) is not server_handler  # chained
            assert signal.getsignal(signal.SIGUSR2) is before_usr2  # SIG_DFL left alone
            post = asyncio.create_task(client.post("/__aibind__/stream", json={"prompt": "x"}))
            model.release("partial")
            stream_id = await first_chunk_of(handler)
            os.kill(os.getpid(), signal.SIGUSR1)
            # The generation stops at once, long before the lifespan ends.
            response = await asyncio.wait_for(post, 2)
            assert response.text.endswith("event: stopped\ndata: \n\n" + DONE)
            assert sigusr1_handler == [signal.SIGUSR1]  # the server's handler ran too
            status = await (await handler.stream_store()).get_status(stream_id)
            assert status is not None
            assert status.state == "stopped"
        assert signal.getsignal(signal.SIGUSR1) is server_handler  # restored
