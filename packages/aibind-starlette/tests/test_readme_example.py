"""The README's FastAPI example is real: at most 15 lines, and run as it stands it streams,
resumes after seq 5, and keeps two turns of a session in its SQLite file (issue #12, "What it
must show", item 1)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from support import REPO, ServerProcess

from aibind.core import ChatHistory, ConversationMessage, open_stores

pytestmark = pytest.mark.timeout(60)


def readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Serving it from FastAPI") :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("```\n", start)]


def test_the_example_has_at_most_15_lines() -> None:
    code = readme_example()
    assert "StreamHandler" in code
    assert len(code.splitlines()) <= 15


def events(body: str) -> list[tuple[str, str, str]]:
    """(event, id, data) of each SSE message (a strict split: the bytes are npm's)."""
    out = []
    for block in body.split("\n\n")[:-1]:
        fields: dict[str, list[str]] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            fields.setdefault(name, []).append(value)
        out.append(
            (fields.get("event", [""])[0], fields.get("id", [""])[0], "\n".join(fields["data"]))
        )
    return out


async def turns_saved(path: Path, turns: int) -> ChatHistory[ConversationMessage]:
    """The session once it holds ``turns`` turns (the server saves a turn after its answer)."""
    async with open_stores(f"sqlite:///{path}") as stores:
        while len((chat := await stores.conversations.load("s1")).messages) < 2 * turns:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    return chat


async def test_the_example_streams_resumes_and_keeps_two_turns(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(readme_example(), encoding="utf-8")
    server = ServerProcess(
        {"SERVER_LOG_DIR": str(tmp_path)}, app="app:app", app_dir=tmp_path, cwd=tmp_path
    ).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
            first = await client.post(
                "/__aibind__/stream", content=b'{"prompt": "hi", "sessionId": "s1"}'
            )
            stream_id = first.headers["x-stream-id"]
            sent = events(first.text)
            assert sent[0] == ("stream-id", stream_id, stream_id)
            words = ["You", "said", "'hi';", "this", "is", "turn", "1", "of", "our", "chat."]
            assert sent[1:-1] == [("", str(i), w + " ") for i, w in enumerate(words, start=1)]
            assert sent[-1] == ("done", "", "")
            rest = await client.get(f"/__aibind__/stream/resume?id={stream_id}&after=5")
            assert events(rest.text) == sent[6:]
            await turns_saved(tmp_path / "chat.db", 1)  # saved once the answer has ended
            second = await client.post(
                "/__aibind__/stream", content=b'{"prompt": "again", "sessionId": "s1"}'
            )
            text = "".join(data for event, _, data in events(second.text) if not event)
            assert text == "You said 'again'; this is turn 2 of our chat. "
            chat = await turns_saved(tmp_path / "chat.db", 2)
    finally:
        server.stop()
    assert [m["role"] for m in chat.messages] == ["user", "assistant"] * 2
    assert chat.messages[0]["content"] == "hi"
    assert chat.messages[3]["content"] == "You said 'again'; this is turn 2 of our chat. "
