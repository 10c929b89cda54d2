"""``GET {prefix}/stream/resume``: npm's bytes from every position, the browser variant
(``Last-Event-ID``, ``retry:``, ids on every message, 204 at the end), validation, and live
following over a real uvicorn server (SSE parsed with httpx-sse)."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest
from httpx_sse import EventSource, ServerSentEvent, aconnect_sse
from starlette.applications import Starlette
from support import DONE, Model, asgi_client, uvicorn_server

from aibind.core.durable import SourceItem
from aibind.core.memory import MemoryStreamStore
from aibind.core.sse import format_retry, iter_sse
from aibind.core.types import StreamStatus
from aibind.starlette import StreamHandler

pytestmark = pytest.mark.timeout(20)

ITEMS: list[SourceItem] = ["a", ("tool_call", '{"name":"x"}'), "b\nc", "", "é 🌍", ("usage", "{}")]
NPM_BODY = [
    "id: 1\ndata: a\n\n",
    'event: tool_call\ndata: {"name":"x"}\n\n',
    "id: 3\ndata: b\ndata: c\n\n",
    "id: 4\ndata: \n\n",
    "id: 5\ndata: é 🌍\n\n",
    "event: usage\ndata: {}\n\n",
    DONE,
]
BROWSER_BODY = [
    "id: 1\ndata: a\n\n",
    'event: tool_call\nid: 2\ndata: {"name":"x"}\n\n',
    "id: 3\ndata: b\ndata: c\n\n",
    "id: 4\ndata: \n\n",
    "id: 5\ndata: é 🌍\n\n",
    "event: usage\nid: 6\ndata: {}\n\n",
    "event: done\nid: 7\ndata: \n\n",
]
EVENT_SOURCE = {"Accept": "text/event-stream"}


@pytest.fixture
def handler() -> StreamHandler:
    return StreamHandler(model=Model(ITEMS), store=MemoryStreamStore(), retry_interval=0.25)


async def finished_stream(client: httpx.AsyncClient) -> str:
    response = await client.post("/__aibind__/stream", json={"prompt": "go"})
    assert response.status_code == 200
    stream_id = response.headers["x-stream-id"]
    assert response.text == f"event: stream-id\nid: {stream_id}\ndata: {stream_id}\n\n" + "".join(
        NPM_BODY
    )
    return stream_id


async def test_npm_resume_from_every_position(handler: StreamHandler) -> None:
    async with asgi_client(handler) as client:
        stream_id = await finished_stream(client)
        for after in range(len(ITEMS) + 3):
            response = await client.get(f"/__aibind__/stream/resume?id={stream_id}&after={after}")
            assert response.status_code == 200
            assert response.text == "".join(NPM_BODY[after:] or [DONE])
            assert "retry:" not in response.text
            assert response.headers["x-stream-id"] == stream_id


async def test_browser_resume_from_every_position(handler: StreamHandler) -> None:
    async with asgi_client(handler) as client:
        stream_id = await finished_stream(client)
        url = f"/__aibind__/stream/resume?id={stream_id}"
        for after in range(len(ITEMS) + 1):
            response = await client.get(url, headers={"Last-Event-ID": str(after)})
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/event-stream"
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["x-accel-buffering"] == "no"
            assert response.text == "retry: 250\n\n" + "".join(BROWSER_BODY[after:])
        # Past the end of a finished stream: 204, and EventSource stops reconnecting.
        for after in (len(ITEMS) + 1, 10**6):
            response = await client.get(url, headers={"Last-Event-ID": str(after)})
            assert (response.status_code, response.content) == (204, b"")


async def test_browser_resume_parsed_with_httpx_sse(handler: StreamHandler) -> None:
    async with asgi_client(handler) as client:
        stream_id = await finished_stream(client)
        url = f"/__aibind__/stream/resume?id={stream_id}"
        async with aconnect_sse(client, "GET", url) as source:  # sends Accept: event-stream
            events = [e async for e in source.aiter_sse()]
    assert events[0].retry == 250
    assert [(e.event, e.id, e.data) for e in events[1:]] == [
        ("message", "1", "a"),
        ("tool_call", "2", '{"name":"x"}'),
        ("message", "3", "b\nc"),
        ("message", "4", ""),
        ("message", "5", "é 🌍"),
        ("usage", "6", "{}"),
        ("done", "7", ""),
    ]


async def test_last_event_id_rules(handler: StreamHandler) -> None:
    async with asgi_client(handler) as client:
        stream_id = await finished_stream(client)
        url = f"/__aibind__/stream/resume?id={stream_id}"
        # A non-numeric Last-Event-ID (the stream-id message's id) counts as 0.
        response = await client.get(url, headers={"Last-Event-ID": stream_id})
        assert response.text == "retry: 250\n\n" + "".join(BROWSER_BODY)
        # The larger of ?after= and Last-Event-ID wins: the page may have resumed from `after`.
        response = await client.get(url + "&after=5", headers={"Last-Event-ID": "2"})
        assert response.text == "retry: 250\n\n" + "".join(BROWSER_BODY[5:])
        response = await client.get(url + "&after=2", headers={"Last-Event-ID": "5"})
        assert response.text == "retry: 250\n\n" + "".join(BROWSER_BODY[5:])
        # Accept: text/event-stream alone (a new EventSource) is the browser variant too.
        response = await client.get(url + "&after=6", headers=EVENT_SOURCE)
        assert response.text == "retry: 250\n\n" + BROWSER_BODY[6]
        response = await client.get(url + "&after=7", headers=EVENT_SOURCE)
        assert response.status_code == 204


async def test_stopped_and_failed_streams_end_once_then_204() -> None:
    store = MemoryStreamStore()
    await store.create("stopped")
    await store.append("stopped", "\x01half")
    await store.stop("stopped")
    await store.create("failed")
    await store.fail("failed", "model overloaded")
    async with asgi_client(StreamHandler(model=Model(), store=store)) as client:
        url = "/__aibind__/stream/resume?id="
        response = await client.get(url + "stopped", headers={"Last-Event-ID": "1"})
        assert response.text == (
            "retry: 1000\n\nevent: stopped\ndata: \n\nevent: done\nid: 2\ndata: \n\n"
        )
        response = await client.get(url + "stopped", headers={"Last-Event-ID": "2"})
        assert response.status_code == 204
        response = await client.get(url + "failed", headers=EVENT_SOURCE)
        assert response.text == (
            "retry: 1000\n\nevent: error\ndata: model overloaded\n\nevent: done\nid: 1\ndata: \n\n"
        )
        response = await client.get(url + "failed", headers={"Last-Event-ID": "1"})
        assert response.status_code == 204


async def test_unknown_stream(handler: StreamHandler) -> None:
    async with asgi_client(handler) as client:
        url = "/__aibind__/stream/resume?id=missing"
        browser = await client.get(url, headers=EVENT_SOURCE)
        assert (browser.status_code, browser.json()) == (404, {"error": "stream not found"})
        npm = await client.get(url + "&after=0")  # npm answers 200 and an error event
        assert npm.text == "event: error\ndata: Stream read failed\n\n" + DONE


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("", "id parameter is required"),
        ("?id=", "id parameter is required"),
        ("?after=1", "id parameter is required"),
        ("?id=a%0Ab", "id must not contain control characters: 'a\\nb'"),
        ("?id=s&after=-1", "after must be a non-negative integer"),
        ("?id=s&after=abc", "after must be a non-negative integer"),
        ("?id=s&after=5abc", "after must be a non-negative integer"),
        ("?id=s&after=1e3", "after must be a non-negative integer"),
        ("?id=s&after=99999999999999999999", "after must be a non-negative integer"),
        ("?id=s&after=9223372036854775808", "after must be a non-negative integer"),
        (f"?id={'x' * 513}", "id is 513 characters long; the limit is 512"),
    ],
)
async def test_bad_queries_are_400(handler: StreamHandler, query: str, error: str) -> None:
    async with asgi_client(handler) as client:
        response = await client.get("/__aibind__/stream/resume" + query)
    assert (response.status_code, response.json()) == (400, {"error": error})


# ---- live, over a real uvicorn server -------------------------------------------------------


async def read_until(events: list[ServerSentEvent], count: int) -> None:
    while len(events) < count:  # noqa: ASYNC110
        await asyncio.sleep(0.002)


async def test_live_followers_from_every_position_over_uvicorn() -> None:
    model = Model(gated=True)
    handler = StreamHandler(model=model, store=MemoryStreamStore())
    app = Starlette(routes=[handler.mount], lifespan=handler.lifespan)
    tokens = [f"t{i} " for i in range(8)]
    async with (
        uvicorn_server(app) as base,
        httpx.AsyncClient(base_url=base) as client,
        client.stream("POST", "/__aibind__/stream", json={"prompt": "go"}) as post,
    ):
        stream_id = post.headers["x-stream-id"]
        first: list[ServerSentEvent] = []

        async def read_post() -> None:
            async for event in EventSource(post).aiter_sse():
                first.append(event)

        reader = asyncio.create_task(read_post())
        await read_until(first, 1)  # stream-id
        model.release(*tokens[:4])
        await read_until(first, 5)

        async def follow(after: int, browser: bool) -> list[ServerSentEvent]:
            url = f"/__aibind__/stream/resume?id={stream_id}&after={after}"
            headers = EVENT_SOURCE if browser else {}
            async with client.stream("GET", url, headers=headers) as response:
                assert response.status_code == 200
                return [e async for e in EventSource(response).aiter_sse()]

        followers = [
            asyncio.create_task(follow(after, browser))
            for after in range(len(tokens) + 1)
            for browser in (False, True)
        ]
        await asyncio.sleep(0.1)  # all subscribed: half of them wait for live tokens
        model.release(*tokens[4:], None)
        await asyncio.wait_for(reader, 5)
        results = await asyncio.wait_for(asyncio.gather(*followers), 5)
    assert [e.data for e in first[1:-1]] == tokens
    assert first[-1].event == "done"
    for index, events in enumerate(results):
        after, browser = divmod(index, 2)
        if browser:
            assert events[0].retry == 1000
            events = events[1:]
        texts = [(e.id, e.data) for e in events if e.event == "message"]
        assert texts == [(str(i + 1), t) for i, t in enumerate(tokens)][after:]
        assert events[-1].event == "done"
        if browser:  # the end moves the last event id one past the last chunk
            assert events[-1].id == str(len(tokens) + 1)


async def test_client_disconnect_never_stops_the_generation_over_uvicorn() -> None:
    model = Model(gated=True)
    store = MemoryStreamStore()
    handler = StreamHandler(model=model, store=store)
    app = Starlette(routes=[handler.mount], lifespan=handler.lifespan)
    async with uvicorn_server(app) as base, httpx.AsyncClient(base_url=base) as client:
        async with client.stream("POST", "/__aibind__/stream", json={"prompt": "go"}) as post:
            stream_id = post.headers["x-stream-id"]
            model.release("one ")
            lines = post.aiter_lines()
            while await anext(lines) != "data: one ":
                pass
        # The client is gone; the model goes on into the store.
        model.release("two ", "three", None)
        response = await client.get(f"/__aibind__/stream/resume?id={stream_id}&after=0")
    assert (
        response.text == "id: 1\ndata: one \n\nid: 2\ndata: two \n\nid: 3\ndata: three\n\n" + DONE
    )
    status = await store.get_status(stream_id)
    assert status is not None
    assert (status.state, status.total_chunks) == ("done", 3)
    assert model.closed == 1


async def _resume_body_parts(
    handler: StreamHandler, query: str, headers: list[tuple[bytes, bytes]]
) -> list[bytes]:
    """Call the app as an ASGI server would and return the body of each
    ``http.response.body`` message it sends, so a test can count the writes."""
    served = Starlette(routes=[handler.mount])
    parts: list[bytes] = []
    scope: MutableMapping[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/__aibind__/stream/resume",
        "raw_path": b"/__aibind__/stream/resume",
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"test"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    request_sent = False

    async def receive() -> MutableMapping[str, Any]:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            assert isinstance(body, bytes)
            if body:
                parts.append(body)

    async with handler.lifespan(served):
        await asyncio.wait_for(served(scope, receive, send), 10)
    return parts


@pytest.mark.parametrize("browser", [False, True])
async def test_a_long_replay_is_written_a_page_at_a_time(browser: bool) -> None:
    """A 3,000-chunk replay reaches the server in a few body writes (one per read of the
    store), not one per chunk, with the same bytes as the per-message SSE."""
    store = MemoryStreamStore()
    await store.create("long")
    await store.append_many("long", [f"\x01token {i} " for i in range(3000)])
    await store.complete("long")
    handler = StreamHandler(model=Model(ITEMS), store=store, retry_interval=0.25)
    headers = [(b"accept", b"text/event-stream")] if browser else []
    parts = await _resume_body_parts(handler, "id=long&after=0", headers)
    status = await store.get_status("long")
    messages = iter_sse(store.read_from("long"), lambda: _const(status), event_ids=browser)
    expected = "".join([m async for m in messages])
    assert expected.count("\n\n") == 3001  # 3,000 chunks and the end
    retry = format_retry(0.25) if browser else ""
    assert b"".join(parts).decode() == retry + expected
    assert len(parts) <= 5, f"{len(parts)} body writes for a 3,000-chunk replay"
    await store.aclose()


async def _const(status: StreamStatus | None) -> StreamStatus | None:
    return status
