"""Interop with the npm @aibind/sqlite package: rows laid out as it writes them (expires_at in
epoch milliseconds) are read correctly, and what we write has that layout."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import pytest
from sqlite_helpers import raw_rows

from aibind.conformance.fixtures import npm_fixture
from aibind.core.chat_history import ChatHistory
from aibind.core.errors import StreamExistsError
from aibind.core.types import ConversationMessage, StreamChunk, StreamStatus
from aibind.sqlite import SqliteConversationStore, SqliteStreamStore, schema_sql


def _npm_file(path: Path) -> None:
    """Write what the npm package writes: create(), append() x3, fail(); and a conversation."""
    now = int(time.time() * 1000)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(schema_sql())
    conn.execute(
        "INSERT INTO aibind_stream_status (id, state, total_chunks, expires_at) "
        "VALUES (?, 'active', 0, ?)",
        ("npm-stream", now + 300_000),
    )
    for seq, data in enumerate(["tool\x01{}", "Hello", " wörld\n"], start=1):
        conn.execute(
            "INSERT INTO aibind_stream_chunks (id, seq, data) VALUES (?, ?, ?)",
            ("npm-stream", seq, data),
        )
        conn.execute(
            "UPDATE aibind_stream_status SET total_chunks = ? WHERE id = ?", (seq, "npm-stream")
        )
    conn.execute(
        "UPDATE aibind_stream_status SET state = ?, error = ? WHERE id = ? AND state = 'active'",
        ("error", "rate limited", "npm-stream"),
    )
    conn.execute(
        "INSERT INTO aibind_conversations (session_id, data, expires_at) VALUES (?, ?, ?) "
        "ON CONFLICT(session_id) DO UPDATE SET data = excluded.data, "
        "expires_at = excluded.expires_at",
        ("npm-session", npm_fixture("chat_history.json"), now + 1_800_000),
    )
    conn.execute(
        "INSERT INTO aibind_conversations (session_id, data, expires_at) VALUES (?, ?, ?)",
        ("npm-expired", npm_fixture("chat_history.json"), now - 1),
    )
    conn.close()


async def test_reads_what_npm_wrote(tmp_path: Path) -> None:
    path = tmp_path / "npm.db"
    _npm_file(path)
    url = f"sqlite:///{path}"
    async with SqliteStreamStore.from_url(url) as streams:
        assert await streams.get_status("npm-stream") == StreamStatus("error", 3, "rate limited")
        got = [c async for c in streams.read_from("npm-stream", 1)]
        assert got == [StreamChunk(2, "Hello"), StreamChunk(3, " wörld\n")]
    async with SqliteConversationStore.from_url(url) as conversations:
        expected = json.loads(npm_fixture("chat_history.expected.json"))
        chat = await conversations.load("npm-session")
        assert chat.messages == expected["messages"]
        assert chat.node_ids == expected["nodeIds"]
        assert (await conversations.load("npm-expired")).is_empty
        assert await conversations.cleanup() == 1


async def test_writes_the_npm_layout(tmp_path: Path) -> None:
    path = tmp_path / "ours.db"
    url = f"sqlite:///{path}"
    before = int(time.time() * 1000)
    async with SqliteStreamStore.from_url(url, ttl=60.0) as streams:
        await streams.setup()
        await streams.create("py-stream")
        await streams.append("py-stream", "a")
        await streams.append_many("py-stream", ["b☃", "c\x01d"])
        await streams.fail("py-stream", "boom")
    chat: ChatHistory[ConversationMessage] = ChatHistory()
    chat.append({"role": "user", "content": "hi"})
    async with SqliteConversationStore.from_url(url, ttl=120.0) as conversations:
        await conversations.setup()
        await conversations.save("py-session", chat)
    after = int(time.time() * 1000)

    status = raw_rows(
        path,
        "SELECT id, state, error, total_chunks, expires_at, typeof(expires_at) "
        "FROM aibind_stream_status",
    )
    assert len(status) == 1
    sid, state, error, total, expires_at, kind = status[0]
    assert (sid, state, error, total, kind) == ("py-stream", "error", "boom", 3, "integer")
    assert before + 60_000 <= expires_at <= after + 60_000
    assert raw_rows(
        path, "SELECT id, seq, data, typeof(seq) FROM aibind_stream_chunks ORDER BY seq"
    ) == [
        ("py-stream", 1, "a", "integer"),
        ("py-stream", 2, "b☃", "integer"),
        ("py-stream", 3, "c\x01d", "integer"),
    ]
    conv = raw_rows(path, "SELECT session_id, data, expires_at FROM aibind_conversations")
    assert conv[0][:2] == ("py-session", chat.to_json())
    assert before + 120_000 <= conv[0][2] <= after + 120_000


def _npm_append(path: Path, stream_id: str, seq: int, data: str) -> None:
    """Append one chunk the way the npm package does: INSERT the chunk, UPDATE the count; it
    never touches expires_at after create() and notifies nobody."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "INSERT INTO aibind_stream_chunks (id, seq, data) VALUES (?, ?, ?)", (stream_id, seq, data)
    )
    conn.execute("UPDATE aibind_stream_status SET total_chunks = ? WHERE id = ?", (seq, stream_id))
    conn.close()


async def test_node_stream_past_its_expiry_is_read_to_the_end(tmp_path: Path) -> None:
    """DESIGN.md "Expiry never destroys a live writer's stream": a Node writer still appending
    to a stream whose expires_at (fixed at create) has passed is followed live from Python;
    create() on its id is refused; nothing is deleted before cleanup()."""
    path = tmp_path / "node-live.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(schema_sql())
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(
        "INSERT INTO aibind_stream_status (id, state, total_chunks, expires_at) "
        "VALUES ('node', 'active', 0, ?)",
        (int(time.time() * 1000) - 60_000,),  # expired a minute ago
    )
    conn.close()
    _npm_append(path, "node", 1, "one")
    async with SqliteStreamStore.from_url(f"sqlite:///{path}?poll_interval=0.02") as streams:
        assert await streams.get_status("node") == StreamStatus("active", 1, None)
        with pytest.raises(StreamExistsError):
            await streams.create("node")
        seen: list[str] = []

        async def follow() -> None:
            async for chunk in streams.read_from("node"):
                seen.append(chunk.data)

        follower = asyncio.create_task(follow())
        for seq in range(2, 21):
            await asyncio.sleep(0.01)
            await asyncio.to_thread(_npm_append, path, "node", seq, f"c{seq}")
        raw_rows(path, "UPDATE aibind_stream_status SET state = 'done' WHERE id = 'node'")
        await asyncio.wait_for(follower, 10)
        assert seen == ["one", *(f"c{seq}" for seq in range(2, 21))]
        assert raw_rows(path, "SELECT count(*) FROM aibind_stream_chunks") == [(20,)]
        assert await streams.cleanup() == 1  # only cleanup() removes it
        assert await streams.get_status("node") is None
        assert raw_rows(path, "SELECT count(*) FROM aibind_stream_chunks") == [(0,)]
