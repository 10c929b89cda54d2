# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "aibind-core", "aibind-sqlite", "aibind-starlette", "fastapi>=0.115", "uvicorn>=0.30",
# ]
#
# [tool.uv.sources]
# aibind-core = { path = "../../packages/aibind-core", editable = true }
# aibind-sqlite = { path = "../../packages/aibind-sqlite", editable = true }
# aibind-starlette = { path = "../../packages/aibind-starlette", editable = true }
# ///
"""A FastAPI chat whose answers survive the server: durable streams and conversation history in
one SQLite file, served by ``aibind.starlette``; the page follows each answer with a browser
``EventSource``, so a server restart mid-answer costs a reconnect, not the answer.

Run from the repository root (see README.md)::

    uv run examples/fastapi-chat/app.py            # then open http://127.0.0.1:8000

Environment:
    AIBIND_URL            where streams and conversations live (default: sqlite:///chat.db
                          next to this file; any backend URL works, e.g. redis://localhost:6379/0)
    OPENAI_API_KEY        use a real model through the ``openai`` package (``pip install openai``;
                          with OPENAI_BASE_URL for an OpenAI-compatible local server, e.g.
                          Ollama at http://localhost:11434/v1); OPENAI_MODEL picks the model
    EXAMPLE_TOKEN_DELAY   seconds between the offline model's tokens (default 0.04)
    HOST, PORT            where to listen (default 127.0.0.1:8000)
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse

from aibind.core import ConversationMessage
from aibind.starlette import ConversationConfig, Model, StreamHandler

HERE = Path(__file__).resolve().parent
URL = os.environ.get("AIBIND_URL", f"sqlite:///{HERE / 'chat.db'}")
TOKEN_DELAY = float(os.environ.get("EXAMPLE_TOKEN_DELAY", "0.04"))

PASSAGE = (
    "Call me Ishmael. Some years ago—never mind how long precisely—having little or no money "
    "in my purse, and nothing particular to interest me on shore, I thought I would sail about a "
    "little and see the watery part of the world. It is a way I have of driving off the spleen "
    "and regulating the circulation. Whenever I find myself growing grim about the mouth; "
    "whenever it is a damp, drizzly November in my soul; whenever I find myself involuntarily "
    "pausing before coffin warehouses, and bringing up the rear of every funeral I meet; and "
    "especially whenever my hypos get such an upper hand of me, that it requires a strong moral "
    "principle to prevent me from deliberately stepping into the street, and methodically "
    "knocking people's hats off—then, I account it high time to get to sea as soon as I can."
)


def offline_reply(messages: list[ConversationMessage]) -> str:
    """What the offline model answers: the prompt, the turn number, then a passage of
    Moby-Dick (public domain), so a page can show a long answer without any LLM."""
    turn = sum(1 for m in messages if m["role"] == "user")
    return f"You said: “{messages[-1]['content']}” (turn {turn}).\n\n{PASSAGE}"


async def offline_model(
    messages: list[ConversationMessage], system: str | None
) -> AsyncIterator[str]:
    """Streams :func:`offline_reply` word by word at about an LLM's pace."""
    for token in re.findall(r"\S+\s*|\s+", offline_reply(messages)):
        await asyncio.sleep(TOKEN_DELAY)
        yield token


def openai_model() -> Model:
    """The OpenAI Python SDK as a model (five lines of adapter; see docs/web.md)."""
    from openai import AsyncOpenAI

    client, name = AsyncOpenAI(), os.environ.get("OPENAI_MODEL", "gpt-4o-mini")

    async def model(messages: list[ConversationMessage], system: str | None) -> AsyncIterator[str]:
        prompt = [{"role": "system", "content": system}, *messages] if system else messages
        stream = await client.chat.completions.create(model=name, messages=prompt, stream=True)  # type: ignore[arg-type]
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content

    return model


ai = StreamHandler(
    model=openai_model() if os.environ.get("OPENAI_API_KEY") else offline_model,
    url=URL,
    conversation=ConversationConfig(max_messages=20),
    setup=True,
    retry_interval=0.5,
)
app = FastAPI(title="aibind FastAPI chat", lifespan=ai.lifespan)
app.mount(ai.prefix, ai.app)


@app.get("/", include_in_schema=False)
async def index() -> FileResponse:
    """The chat page."""
    return FileResponse(HERE / "index.html", headers={"Cache-Control": "no-cache"})


@app.get("/api/history")
async def history(session_id: str) -> list[dict[str, object]]:
    """The session's conversation (active path): role, content, and whether it was stopped."""
    store = await ai.conversation_store()
    assert store is not None
    chat = await store.load(session_id)
    return [
        {
            "role": message["role"],
            "content": message["content"],
            "stopped": bool(node.metadata.get("stopped")) if node else False,
        }
        for message, node in zip(
            chat.messages, (chat.tree.get(i) for i in chat.node_ids), strict=True
        )
    ]


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000"))
    )
