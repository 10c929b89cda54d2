"""Every route's behaviour beyond the bytes: model selection, conversations (windows, saved
turns, stopped answers), compact/complete/title, model failures, body limits and validation
(a clear 400, never a 500)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.responses import StreamingResponse
from support import DONE, USAGE, Model, asgi_client, expect_json, saved_messages

from aibind.core.durable import SourceItem
from aibind.core.memory import MemoryConversationStore, MemoryStreamStore
from aibind.starlette import ConversationConfig, StreamHandler
from aibind.starlette.config import (
    DEFAULT_COMPACT_PROMPT,
    DEFAULT_COMPLETE_SYSTEM_PROMPT,
    TITLE_SYSTEM_PROMPT,
)

pytestmark = pytest.mark.timeout(20)


def texts(body: str) -> str:
    """The text of an SSE body (plain chunks' data joined)."""
    out = []
    for block in body.split("\n\n"):
        lines = block.split("\n")
        if lines[0].startswith("id: ") and all(x.startswith("data: ") for x in lines[1:]):
            out.append("\n".join(x[6:] for x in lines[1:]))
    return "".join(out)


# ---- models ---------------------------------------------------------------------------------


async def test_models_are_picked_by_key_and_default_to_the_first() -> None:
    fast, smart = Model(["fast"]), Model(["smart"])
    handler = StreamHandler(models={"fast": fast, "smart": smart})
    async with asgi_client(handler) as client:
        assert texts((await client.post("/__aibind__/stream", json={"prompt": "x"})).text) == "fast"
        body = {"prompt": "x", "model": "smart", "system": "be brief"}
        assert texts((await client.post("/__aibind__/stream", json=body)).text) == "smart"
        expect_json(
            await client.post("/__aibind__/stream", json={"prompt": "x", "model": 3}),
            400,
            {"error": "model must be a string"},
        )
    assert fast.calls == [([{"role": "user", "content": "x"}], None)]
    assert smart.calls == [([{"role": "user", "content": "x"}], "be brief")]


async def test_single_model_ignores_the_model_key() -> None:
    model = Model(["only"])
    async with asgi_client(StreamHandler(model=model)) as client:
        response = await client.post("/__aibind__/stream", json={"prompt": "x", "model": "any"})
    assert texts(response.text) == "only"


@pytest.mark.parametrize(
    ("factory", "error"),
    [
        ("sync_function_returning_async_gen", None),
        ("coroutine_returning_async_iterable", None),
        ("returns_a_list", "the model must return an async iterable of text, not list"),
        ("raises_at_call", "no credentials"),
        ("bad_item", "source items must be str or (event, data) tuples, not int"),
    ],
)
async def test_model_shapes(factory: str, error: str | None) -> None:
    async def gen() -> AsyncIterator[SourceItem]:
        yield "ok"

    def sync_function_returning_async_gen(m: Any, s: Any) -> AsyncIterator[SourceItem]:
        return gen()

    async def coroutine_returning_async_iterable(m: Any, s: Any) -> AsyncIterator[SourceItem]:
        await asyncio.sleep(0)
        return gen()

    def returns_a_list(m: Any, s: Any) -> Any:
        return ["ok"]

    def raises_at_call(m: Any, s: Any) -> Any:
        raise PermissionError("no credentials")

    async def bad_item(m: Any, s: Any) -> AsyncIterator[Any]:
        yield "ok"
        yield 5

    model = locals()[factory]
    store = MemoryStreamStore()
    async with asgi_client(StreamHandler(model=model, store=store)) as client:
        response = await client.post("/__aibind__/stream", json={"prompt": "x"})
    assert response.status_code == 200
    if error is None:
        assert texts(response.text) == "ok"
        assert response.text.endswith("id: 1\ndata: ok\n\n" + DONE)
    else:
        assert response.text.endswith(f"event: error\ndata: {error}\n\n" + DONE)
        status = await store.get_status(response.headers["x-stream-id"])
        assert status is not None
        assert (status.state, status.error) == ("error", error)


def test_constructor_validation() -> None:
    model = Model()
    with pytest.raises(TypeError, match="exactly one"):
        StreamHandler()
    with pytest.raises(TypeError, match="exactly one"):
        StreamHandler(model=model, models={"a": model})
    with pytest.raises(ValueError, match="must not be empty"):
        StreamHandler(models={})
    with pytest.raises(TypeError, match="callable"):
        StreamHandler(models={"a": "gpt-4"})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="StreamStore"):
        StreamHandler(model=model, store=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"conversation\.store"):
        StreamHandler(model=model, conversation=ConversationConfig())
    with pytest.raises(ValueError, match="prefix"):
        StreamHandler(model=model, prefix="api")
    with pytest.raises(ValueError, match="max_body_size"):
        StreamHandler(model=model, max_body_size=0)
    with pytest.raises(ValueError, match="seconds"):
        StreamHandler(model=model, retry_interval=0)
    with pytest.raises(ValueError, match="max_messages"):
        ConversationConfig(store=MemoryConversationStore(), max_messages=0)
    with pytest.raises(TypeError, match="ConversationStore"):
        ConversationConfig(store=object())  # type: ignore[arg-type]


# ---- conversations --------------------------------------------------------------------------


async def test_conversation_history_window_and_saved_turns() -> None:
    conversations = MemoryConversationStore()
    model = Model(["answer"])
    config = ConversationConfig(store=conversations, max_messages=3)
    async with asgi_client(StreamHandler(model=model, conversation=config)) as client:
        for turn in range(3):
            body = {"prompt": f"q{turn}", "sessionId": "s1"}
            assert (await client.post("/__aibind__/stream", json=body)).status_code == 200
            await saved_messages(conversations, "s1", 2 * (turn + 1))
        # Without a sessionId nothing is loaded or saved.
        await client.post("/__aibind__/stream", json={"prompt": "lone"})
        await client.post("/__aibind__/stream", json={"prompt": "lone", "sessionId": ""})
    sent = [messages for messages, _ in model.calls]
    assert sent[0] == [{"role": "user", "content": "q0"}]
    assert sent[1] == [
        {"role": "user", "content": "q0"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "q1"},
    ]
    # The window: the last 3 stored messages, then the new prompt.
    assert sent[2] == [
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "q2"},
    ]
    assert sent[3] == sent[4] == [{"role": "user", "content": "lone"}]
    stored = await saved_messages(conversations, "s1", 6)
    assert len(stored) == 6


async def test_stopped_answer_is_saved_with_metadata_and_failed_one_is_not() -> None:
    conversations = MemoryConversationStore()
    model = Model(gated=True)
    handler = StreamHandler(model=model, conversation=ConversationConfig(store=conversations))
    async with asgi_client(handler) as client:
        post = asyncio.create_task(
            client.post("/__aibind__/stream", json={"prompt": "tell me", "sessionId": "s"})
        )
        model.release("Once ", "upon")
        store = await handler.stream_store()
        [stream_id] = await wait_for_streams(handler, 1)
        while (s := await store.get_status(stream_id)) is None or s.total_chunks < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        expect_json(
            await client.post("/__aibind__/stream/stop", json={"id": stream_id}), 200, {"ok": True}
        )
        response = await post
        assert response.text.endswith("event: stopped\ndata: \n\n" + DONE)
        [user, assistant] = await saved_messages(conversations, "s", 2)
        chat = await conversations.load("s")
        assert (user, assistant) == (
            {"role": "user", "content": "tell me"},
            {"role": "assistant", "content": "Once upon"},
        )
        node = chat.tree.get(chat.node_ids[-1])
        assert node is not None
        assert dict(node.metadata) == {"stopped": True}
        assert model.closed == 1  # the model call was abandoned

        # A failed generation saves nothing (as npm).
        model.release("partial", RuntimeError("model overloaded"))
        failed = await client.post("/__aibind__/stream", json={"prompt": "again", "sessionId": "s"})
        assert failed.text.endswith("event: error\ndata: model overloaded\n\n" + DONE)
    assert len((await conversations.load("s")).messages) == 2


async def wait_for_streams(handler: StreamHandler, count: int) -> list[str]:
    """The ids of the generations running in ``handler`` once there are ``count``."""
    store = await handler.stream_store()
    assert isinstance(store, MemoryStreamStore)
    while len(ids := list(store._streams)) < count:  # noqa: ASYNC110
        await asyncio.sleep(0.002)
    return ids


async def test_two_turns_ending_together_are_both_saved() -> None:
    conversations = MemoryConversationStore()
    model = Model(["same time"])
    handler = StreamHandler(model=model, conversation=ConversationConfig(store=conversations))
    async with asgi_client(handler) as client:
        await asyncio.gather(
            *(
                client.post("/__aibind__/stream", json={"prompt": f"q{i}", "sessionId": "s"})
                for i in range(5)
            )
        )
        stored = await saved_messages(conversations, "s", 10)
    assert sorted(m["content"] for m in stored if m["role"] == "user") == [
        f"q{i}" for i in range(5)
    ]


async def test_conversation_store_failure_is_503_and_corrupt_data_500() -> None:
    class Broken(MemoryConversationStore):
        async def load(self, session_id: str) -> Any:
            raise ConnectionError("redis went away")

    class Corrupt(MemoryConversationStore):
        async def load(self, session_id: str) -> Any:
            from aibind.core.errors import CorruptDataError

            raise CorruptDataError("session 's': invalid JSON")

    for store, status, error in (
        (Broken(), 503, "store unavailable (ConnectionError)"),
        (Corrupt(), 500, "corrupt data in the store"),
    ):
        handler = StreamHandler(model=Model(), conversation=ConversationConfig(store=store))
        async with asgi_client(handler) as client:
            response = await client.post(
                "/__aibind__/stream", json={"prompt": "x", "sessionId": "s"}
            )
        expect_json(response, status, {"error": error})


# ---- chat, compact, complete, title ---------------------------------------------------------


async def test_chat_passes_the_conversation_and_system() -> None:
    model = Model(["reply"])
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "look", "attachments": [{"mimeType": "image/png", "url": "u"}]},
    ]
    async with asgi_client(StreamHandler(model=model)) as client:
        response = await client.post(
            "/__aibind__/chat", json={"messages": messages, "system": "sys"}
        )
    assert texts(response.text) == "reply"
    assert response.text.startswith("event: stream-id\n")
    assert model.calls == [(messages, "sys")]


async def test_compact_estimates_tokens_without_usage_and_replaces_history() -> None:
    conversations = MemoryConversationStore()
    chat_model = Model(["The user greeted; I answered."])
    config = ConversationConfig(store=conversations, compact_system_prompt="Summarise.")
    handler = StreamHandler(model=chat_model, conversation=config)
    messages = [{"role": "user", "content": "hi " * 100}, {"role": "assistant", "content": "hello"}]
    async with asgi_client(handler) as client:
        response = await client.post(
            "/__aibind__/compact", json={"messages": messages, "sessionId": "s"}
        )
    prompt = f"Summarise.\n\n---\n\nuser: {'hi ' * 100}\n\nassistant: hello"
    assert chat_model.calls == [([{"role": "user", "content": prompt}], None)]
    summary = "The user greeted; I answered."
    saved = -(-len(prompt) // 4) - -(-len(summary) // 4)
    expect_json(response, 200, {"summary": summary, "tokensSaved": saved})
    assert (await conversations.load("s")).messages == [{"role": "system", "content": summary}]


@pytest.mark.parametrize("path", ["/__aibind__/compact", "/__aibind__/stream/compact"])
async def test_compact_uses_the_default_prompt_and_model_usage(path: str) -> None:
    # /stream/compact: where the @aibind client (endpoint /__aibind__/stream) posts it.
    model = Model(["sum", ("usage", '{"inputTokens":100,"outputTokens":7}')])
    async with asgi_client(StreamHandler(model=model)) as client:
        response = await client.post(path, json={"messages": []})
    expect_json(response, 200, {"summary": "sum", "tokensSaved": 93})
    assert model.calls[0][0][0]["content"] == f"{DEFAULT_COMPACT_PROMPT}\n\n---\n\n"


async def test_complete_and_title() -> None:
    model = Model(["Blue ", "skies", ("usage", USAGE)])
    async with asgi_client(StreamHandler(model=model)) as client:
        complete = await client.post("/__aibind__/complete", json={"input": "The sky is"})
        custom = await client.post("/__aibind__/complete", json={"input": "x", "system": "S"})
        messages = [{"role": "user", "content": f"m{i}"} for i in range(8)]
        title = await client.post("/__aibind__/title", json={"messages": messages})
    assert (complete.status_code, complete.text) == (200, "Blue skies")
    assert complete.headers["content-type"] == "text/plain; charset=utf-8"
    assert custom.text == "Blue skies"
    assert (title.status_code, title.text) == (200, "Blue skies")
    assert title.headers["content-type"] == "text/plain; charset=utf-8"
    assert model.calls[0] == (
        [{"role": "user", "content": "The sky is"}],
        DEFAULT_COMPLETE_SYSTEM_PROMPT,
    )
    assert model.calls[1][1] == "S"
    assert model.calls[2] == (messages[:6], TITLE_SYSTEM_PROMPT)


async def test_title_model_failure_ends_the_text_where_it_got_to(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = Model(gated=True)
    model.release("Sea ", RuntimeError("overloaded"))
    async with asgi_client(StreamHandler(model=model)) as client:
        title = await client.post(
            "/__aibind__/title", json={"messages": [{"role": "user", "content": "x"}]}
        )
    assert (title.status_code, title.text) == (200, "Sea ")
    assert any("title generation failed" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("path", ["/__aibind__/compact", "/__aibind__/complete"])
async def test_model_failure_of_a_non_streaming_endpoint_is_502(path: str) -> None:
    model = Model(gated=True)
    model.release(TimeoutError("upstream timed out"))
    body = {"messages": [], "input": "x"}
    async with asgi_client(StreamHandler(model=model)) as client:
        expect_json(await client.post(path, json=body), 502, {"error": "upstream timed out"})


# ---- bodies: limits and validation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content", "status", "error"),
    [
        ("/__aibind__/stream", b"[1, 2]", 400, "request body must be a JSON object"),
        ("/__aibind__/stream", b'"hi"', 400, "request body must be a JSON object"),
        (
            "/__aibind__/stream",
            b"",
            400,
            "request body must be JSON: Expecting value: line 1 column 1 (char 0)",
        ),
        (
            "/__aibind__/stream",
            b"\xff\xfe",
            400,
            "request body must be JSON: 'utf-8' codec can't decode byte 0xff in position 0: "
            "invalid start byte",
        ),
        ("/__aibind__/stream", b"[" * 4000, 400, "request body must be JSON: nested too deeply"),
        ("/__aibind__/chat", b"[" * 4000, 400, "request body must be JSON: nested too deeply"),
        ("/__aibind__/stream", json.dumps({"prompt": 5}).encode(), 400, "prompt is required"),
        (
            "/__aibind__/stream",
            json.dumps({"prompt": "x", "system": 1}).encode(),
            400,
            "system must be a string",
        ),
        (
            "/__aibind__/stream",
            json.dumps({"prompt": "x", "sessionId": 7}).encode(),
            400,
            "sessionId must be a string",
        ),
        (
            "/__aibind__/stream",
            json.dumps({"prompt": "x", "sessionId": "a\u0000b"}).encode(),
            400,
            "sessionId must not contain control characters: 'a\\x00b'",
        ),
        (
            "/__aibind__/stream",
            json.dumps({"prompt": "x", "sessionId": "s" * 600}).encode(),
            400,
            "sessionId is 600 characters long; the limit is 512",
        ),
        (
            "/__aibind__/chat",
            json.dumps({"messages": [1]}).encode(),
            400,
            "messages[0] must be an object",
        ),
        (
            "/__aibind__/chat",
            json.dumps({"messages": [{"role": "user"}]}).encode(),
            400,
            "messages[0].content must be a string",
        ),
        (
            "/__aibind__/chat",
            json.dumps({"messages": [{"content": "x"}]}).encode(),
            400,
            "messages[0].role must be a non-empty string",
        ),
        (
            "/__aibind__/chat",
            json.dumps(
                {"messages": [{"role": "user", "content": "x", "attachments": "img"}]}
            ).encode(),
            400,
            "messages[0].attachments must be a list of objects",
        ),
        (
            "/__aibind__/compact",
            json.dumps({"messages": "all"}).encode(),
            400,
            "messages is required",
        ),
        ("/__aibind__/title", json.dumps({"messages": []}).encode(), 400, "messages is required"),
        ("/__aibind__/complete", json.dumps({"input": "  "}).encode(), 400, "input is required"),
        ("/__aibind__/stream/stop", json.dumps({"id": 5}).encode(), 400, "id is required"),
        (
            "/__aibind__/stream/stop",
            json.dumps({"id": "a\nb"}).encode(),
            400,
            "id must not contain control characters: 'a\\nb'",
        ),
        (
            "/__aibind__/stream",
            b'{"prompt": "' + b"x" * 5000 + b'"}',
            413,
            "request body is larger than 4096 bytes",
        ),
    ],
)
async def test_bad_bodies_are_clear_errors(
    path: str, content: bytes, status: int, error: str
) -> None:
    model = Model()
    handler = StreamHandler(model=model, max_body_size=4096)
    async with asgi_client(handler) as client:
        response = await client.post(path, content=content)
    expect_json(response, status, {"error": error})
    assert model.calls == []


async def test_oversized_chunked_body_is_cut_at_the_limit() -> None:
    handler = StreamHandler(model=Model(), max_body_size=1024)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        yield b'{"prompt": "'
        for _ in range(100):
            yield b"x" * 100
        yield b'"}'

    async with asgi_client(handler) as client:
        response = await client.post("/__aibind__/stream", content=chunks())
    expect_json(response, 413, {"error": "request body is larger than 1024 bytes"})


async def test_typed_methods_take_parsed_bodies() -> None:
    # Custom routing: the typed methods need no HTTP round trip of their own.
    handler = StreamHandler(model=Model(["typed"]))
    async with handler:
        response = await handler.stream({"prompt": "x"})
        assert isinstance(response, StreamingResponse)
        body = "".join([str(part) async for part in response.body_iterator])
        assert texts(body) == "typed"
        stream_id = response.headers["x-stream-id"]
        error = await handler.stream({})
        assert (error.status_code, bytes(error.body)) == (400, b'{"error":"prompt is required"}')
        stopped = await handler.stop({"id": stream_id})
        assert (stopped.status_code, bytes(stopped.body)) == (200, b'{"ok":true}')
