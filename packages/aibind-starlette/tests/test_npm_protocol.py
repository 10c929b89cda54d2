"""The npm handler's HTTP protocol, byte for byte: the same requests as npm_handler/capture.mts,
the same model output, and the responses compared with what the npm StreamHandler answered
(npm_handler/responses.json); plus the durable SSE fixtures of ../shared/fixtures/npm."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from support import NPM, Model, asgi_client, saved_messages

from aibind.conformance.fixtures import npm_fixture_path
from aibind.core.durable import SourceItem
from aibind.core.memory import MemoryConversationStore, MemoryStreamStore
from aibind.core.types import ConversationMessage
from aibind.starlette import ConversationConfig, StreamHandler
from aibind.starlette.config import DEFAULT_COMPACT_PROMPT, DEFAULT_COMPLETE_SYSTEM_PROMPT

pytestmark = pytest.mark.timeout(20)

SUMMARY: list[SourceItem] = ["A short summary.", ("usage", '{"inputTokens":40,"outputTokens":4}')]


class NpmMock(Model):
    """The capture's MockLanguageModelV3: streams the fixed deltas, and "generates" the summary
    (the npm handler calls generateText for compact and complete)."""

    async def __call__(
        self, messages: list[ConversationMessage], system: str | None
    ) -> AsyncIterator[SourceItem]:
        generate = system == DEFAULT_COMPLETE_SYSTEM_PROMPT or messages[0]["content"].startswith(
            DEFAULT_COMPACT_PROMPT
        )
        source = Model(SUMMARY if generate else self.items)
        async for item in source(messages, system):
            yield item


def same_response(ours: Any, npm: dict[str, Any], npm_id: str | None = None) -> None:
    """Status, content type, cache control and body bytes equal (the stream id substituted)."""
    assert ours.status_code == npm["status"], ours.text
    body = npm["body"]
    if npm_id is not None:
        body = body.replace(npm_id, ours.headers["x-stream-id"])
        assert npm["headers"]["x-stream-id"] == npm_id
    assert ours.content == body.encode()
    for header in ("content-type", "cache-control"):
        assert ours.headers.get(header) == npm["headers"].get(header), header


@pytest.fixture
def conversations() -> MemoryConversationStore:
    return MemoryConversationStore()


@pytest.fixture
def handler(conversations: MemoryConversationStore) -> StreamHandler:
    return StreamHandler(
        models={"fast": NpmMock(), "other": NpmMock(["x"])},
        store=MemoryStreamStore(),
        conversation=ConversationConfig(store=conversations),
    )


async def test_stream_resume_and_conversation_match_npm(
    handler: StreamHandler, conversations: MemoryConversationStore
) -> None:
    async with asgi_client(handler) as client:
        first = await client.post("/__aibind__/stream", json={"prompt": "hi", "sessionId": "s1"})
        npm_id = NPM["stream"]["headers"]["x-stream-id"]
        same_response(first, NPM["stream"], npm_id)
        assert first.headers["x-accel-buffering"] == "no"
        stream_id = first.headers["x-stream-id"]
        for after, npm in enumerate(NPM["resume"]):
            ours = await client.get(f"/__aibind__/stream/resume?id={stream_id}&after={after}")
            same_response(ours, npm, npm_id)
        await saved_messages(conversations, "s1", 2)
        second = await client.post(
            "/__aibind__/stream", json={"prompt": "again", "sessionId": "s1"}
        )
        same_response(second, NPM["second_turn"], NPM["second_turn"]["headers"]["x-stream-id"])
        assert await saved_messages(conversations, "s1", 4) == (NPM["conversation_after_two_turns"])
        for name in ("stop", "stop_unknown"):
            body = NPM[name]["request"] | {"id": stream_id if name == "stop" else "nope"}
            same_response(await client.post("/__aibind__/stream/stop", json=body), NPM[name])
        same_response(
            await client.get("/__aibind__/stream/resume?id=nope&after=0"),
            NPM["resume_unknown"],
            "nope",
        )


async def test_chat_matches_npm(handler: StreamHandler) -> None:
    async with asgi_client(handler) as client:
        ours = await client.post("/__aibind__/chat", json=NPM["chat"]["request"])
    same_response(ours, NPM["chat"], NPM["chat"]["headers"]["x-stream-id"])


async def test_compact_matches_npm(
    handler: StreamHandler, conversations: MemoryConversationStore
) -> None:
    async with asgi_client(handler) as client:
        ours = await client.post("/__aibind__/compact", json=NPM["compact"]["request"])
    same_response(ours, NPM["compact"])
    stored = json.loads((await conversations.load("s1")).to_json())
    npm = NPM["conversation_after_compact"]
    [(node_id, node)] = stored["nodes"].items()
    [npm_node] = npm["nodes"].values()
    assert node["message"] == npm_node["message"]
    assert node["metadata"].keys() == npm_node["metadata"].keys()
    assert node["metadata"]["compacted"] is True
    assert (node["parentId"], node["children"]) == (None, [])
    assert stored["rootIds"] == [node_id]
    assert stored["activeLeafId"] == node_id


@pytest.mark.parametrize("index", range(len(NPM["errors"])))
async def test_errors_match_npm(handler: StreamHandler, index: int) -> None:
    npm = NPM["errors"][index]
    async with asgi_client(handler) as client:
        if npm.get("thrown"):  # npm throws (an unhandled 500); we answer a clear 400
            ours = await client.post(npm["path"], content=npm["body"])
            assert ours.status_code == 400
            assert ours.json()["error"].startswith("request body must be JSON")
            return
        if npm["method"] == "POST":
            ours = await client.post(npm["path"], json=npm["request"])
        else:
            ours = await client.get(npm["path"])
    if npm["path"] == "/__aibind__/stream" and npm["method"] == "GET":
        # The route exists for POST: Starlette answers 405 Method Not Allowed (npm: 404).
        assert (ours.status_code, ours.headers["allow"]) == (405, "POST")
        return
    if npm["status"] == 404:  # the router's plain-text 404 (charset spelled differently)
        assert (ours.status_code, ours.text) == (404, npm["body"])
        return
    same_response(ours, npm)


async def test_non_resumable_matches_npm() -> None:
    handler = StreamHandler(model=NpmMock(), resumable=False)
    npm = NPM["non_resumable"]
    async with asgi_client(handler) as client:
        same_response(await client.post("/__aibind__/stream", json={"prompt": "hi"}), npm["stream"])
        for name, path in (("stop", "/__aibind__/stream/stop"), ("resume", npm["resume"]["path"])):
            call = client.post(path, json={"id": "x"}) if name == "stop" else client.get(path)
            ours = await call
            assert (ours.status_code, ours.text) == (404, npm[name]["body"])
        complete = await client.post("/__aibind__/complete", json=NPM["complete"]["request"])
    assert (complete.status_code, complete.text) == (200, NPM["complete"]["body"])
    assert complete.headers["content-type"].startswith("text/plain")
    typed = await handler.resume("x")
    assert (typed.status_code, bytes(typed.body)) == (400, npm["resume_method"].encode())


@pytest.mark.parametrize(
    ("chunks", "end", "after", "fixture"),
    [
        (
            ["\x01Hello", "\x01 wor\nld", 'tool_call\x01{"name":"x"}', "\x01!"],
            "complete",
            0,
            "sse_resume_done_after0.txt",
        ),
        (
            ["\x01Hello", "\x01 wor\nld", 'tool_call\x01{"name":"x"}', "\x01!"],
            "complete",
            2,
            "sse_resume_done_after2.txt",
        ),
        (["\x01partial"], "fail", 0, "sse_resume_error.txt"),
        (["\x01half"], "stop", 0, "sse_resume_stopped.txt"),
    ],
)
async def test_resume_matches_shared_npm_fixtures(
    chunks: list[str], end: str, after: int, fixture: str
) -> None:
    store = MemoryStreamStore()
    await store.create("s1")
    for chunk in chunks:
        await store.append("s1", chunk)
    if end == "fail":
        await store.fail("s1", "model overloaded")
    else:
        await getattr(store, end)("s1")
    async with asgi_client(StreamHandler(model=Model(), store=store)) as client:
        ours = await client.get(f"/__aibind__/stream/resume?id=s1&after={after}")
    assert ours.status_code == 200
    assert ours.content == npm_fixture_path(fixture).read_bytes()
