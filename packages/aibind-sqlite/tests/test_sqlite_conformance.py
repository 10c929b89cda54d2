"""The conformance suite against SQLite: through ``from_url`` (the stdlib driver on a worker
thread), and through aiosqlite, sqlite3 and libsql connections the caller opened.

Every factory call opens a NEW connection to the test's own file, so concurrency tests really
exercise cross-connection atomicity and cross-instance push wake-ups."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import pytest
from sqlite_helpers import open_connection, raw_rows

from aibind.conformance import (
    ConversationStoreConformance,
    ConversationStoreFactory,
    RawConversations,
    StreamStoreConformance,
    StreamStoreFactory,
    conversation_factory,
    stream_factory,
)
from aibind.core.protocols import ConversationStore, StreamStore
from aibind.sqlite import SqliteConversationStore, SqliteStreamStore

CAPABILITIES = frozenset({"append_many", "delete", "cleanup"})


class _SqliteStreams(StreamStoreConformance):
    push = True
    capabilities = CAPABILITIES
    expiry = "cleanup"
    driver: ClassVar[str]

    @pytest.fixture
    async def make_store(self, tmp_path: Path) -> AsyncIterator[StreamStoreFactory]:
        path = tmp_path / "streams.db"

        async def build(ttl: float, push_only: bool) -> StreamStore | tuple[StreamStore, object]:
            poll = None if push_only else 0.05
            if self.driver == "from_url":
                return SqliteStreamStore.from_url(f"sqlite:///{path}", ttl=ttl, poll_interval=poll)
            conn, close = await open_connection(self.driver, path)
            return SqliteStreamStore(conn, ttl=ttl, poll_interval=poll), close

        async with stream_factory(build) as factory:  # type: ignore[arg-type]
            yield factory


class TestFromUrlStreams(_SqliteStreams):
    driver = "from_url"


class TestAiosqliteStreams(_SqliteStreams):
    driver = "aiosqlite"


class TestSqlite3Streams(_SqliteStreams):
    driver = "sqlite3"


class TestLibsqlStreams(_SqliteStreams):
    driver = "libsql"


class _RawSqlite:
    """The stored text, read and written through a fresh stdlib connection; through a fresh
    libsql connection when the store is on libsql, whose connections do not see the commits
    of stdlib writers on a WAL file once they have read (docs/sqlite.md, libsql)."""

    def __init__(self, path: Path, driver: str) -> None:
        self.path = path
        self.driver = driver

    def _rows(self, sql: str, args: tuple[object, ...]) -> list[tuple[object, ...]]:
        if self.driver != "libsql":
            return raw_rows(self.path, sql, args)
        import libsql  # type: ignore[import-untyped]

        conn = libsql.connect(str(self.path))
        try:
            rows = list(conn.execute(sql, args).fetchall() or ())  # None after an INSERT
            conn.commit()
            return rows
        finally:
            conn.close()

    async def get(self, session_id: str) -> str | None:
        rows = self._rows(
            "SELECT data FROM aibind_conversations WHERE session_id = ?", (session_id,)
        )
        return None if not rows else str(rows[0][0])

    async def put(self, session_id: str, raw: str) -> None:
        self._rows(
            "INSERT OR REPLACE INTO aibind_conversations VALUES (?, ?, ?)",
            (session_id, raw, 32503680000000),
        )


class _SqliteConversations(ConversationStoreConformance):
    supports_cleanup = True
    driver: ClassVar[str]

    @pytest.fixture
    async def make_store(self, tmp_path: Path) -> AsyncIterator[ConversationStoreFactory]:
        path = tmp_path / "conversations.db"

        async def build(ttl: float) -> ConversationStore | tuple[ConversationStore, object]:
            if self.driver == "from_url":
                return SqliteConversationStore.from_url(f"sqlite:///{path}", ttl=ttl)
            conn, close = await open_connection(self.driver, path)
            return SqliteConversationStore(conn, ttl=ttl), close

        async with conversation_factory(build) as factory:  # type: ignore[arg-type]
            yield factory

    @pytest.fixture
    async def raw(
        self, make_store: ConversationStoreFactory, tmp_path: Path
    ) -> AsyncIterator[RawConversations]:
        await make_store()
        yield _RawSqlite(tmp_path / "conversations.db", self.driver)


class TestFromUrlConversations(_SqliteConversations):
    driver = "from_url"


class TestAiosqliteConversations(_SqliteConversations):
    driver = "aiosqlite"


class TestSqlite3Conversations(_SqliteConversations):
    driver = "sqlite3"


class TestLibsqlConversations(_SqliteConversations):
    driver = "libsql"
