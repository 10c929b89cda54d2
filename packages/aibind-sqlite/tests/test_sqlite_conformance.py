"""The conformance suite against SQLite, through aiosqlite, sqlite3 and libsql connections.

Every factory call opens a NEW connection to the test's own file, so concurrency tests really
exercise cross-connection atomicity and cross-instance push wake-ups."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlite_helpers import Closer, open_connection, raw_rows

from aibind.conformance import (
    ConversationStoreConformance,
    ConversationStoreFactory,
    RawConversations,
    StreamStoreConformance,
    StreamStoreFactory,
)
from aibind.core.protocols import ConversationStore, StreamStore
from aibind.sqlite import SqliteConversationStore, SqliteStreamStore


class _SqliteStreams(StreamStoreConformance):
    push = True
    capabilities = frozenset({"append_many", "delete", "cleanup"})
    driver = "aiosqlite"

    @pytest.fixture
    async def make_store(self, tmp_path: Path) -> AsyncIterator[StreamStoreFactory]:
        path = tmp_path / "streams.db"
        stores: list[SqliteStreamStore] = []
        closers: list[Closer] = []

        async def factory(*, ttl: float = 300.0, push_only: bool = False) -> StreamStore:
            conn, close = await open_connection(self.driver, path)
            closers.append(close)
            store = SqliteStreamStore(conn, ttl=ttl, poll_interval=None if push_only else 0.05)
            if not stores:
                await store.setup()
            stores.append(store)
            return store

        yield factory
        for store in stores:
            await store.aclose()
        for close in closers:
            await close()


class TestAiosqliteStreams(_SqliteStreams):
    driver = "aiosqlite"


class TestSqlite3Streams(_SqliteStreams):
    driver = "sqlite3"


class TestLibsqlStreams(_SqliteStreams):
    driver = "libsql"


class _RawSqlite:
    def __init__(self, path: Path) -> None:
        self.path = path

    async def get(self, session_id: str) -> str | None:
        rows = raw_rows(
            self.path, "SELECT data FROM aibind_conversations WHERE session_id = ?", (session_id,)
        )
        return None if not rows else str(rows[0][0])

    async def put(self, session_id: str, raw: str) -> None:
        raw_rows(
            self.path,
            "INSERT OR REPLACE INTO aibind_conversations VALUES (?, ?, ?)",
            (session_id, raw, 32503680000000),
        )


class _SqliteConversations(ConversationStoreConformance):
    supports_cleanup = True
    driver = "aiosqlite"

    @pytest.fixture
    async def make_store(self, tmp_path: Path) -> AsyncIterator[ConversationStoreFactory]:
        path = tmp_path / "conversations.db"
        stores: list[SqliteConversationStore] = []
        closers: list[Closer] = []

        async def factory(*, ttl: float = 1800.0) -> ConversationStore:
            conn, close = await open_connection(self.driver, path)
            closers.append(close)
            store = SqliteConversationStore(conn, ttl=ttl)
            if not stores:
                await store.setup()
            stores.append(store)
            return store

        yield factory
        for store in stores:
            await store.aclose()
        for close in closers:
            await close()

    @pytest.fixture
    async def raw(
        self, make_store: ConversationStoreFactory, tmp_path: Path
    ) -> AsyncIterator[RawConversations]:
        await make_store()
        yield _RawSqlite(tmp_path / "conversations.db")


class TestAiosqliteConversations(_SqliteConversations):
    driver = "aiosqlite"


class TestSqlite3Conversations(_SqliteConversations):
    driver = "sqlite3"


class TestLibsqlConversations(_SqliteConversations):
    driver = "libsql"
