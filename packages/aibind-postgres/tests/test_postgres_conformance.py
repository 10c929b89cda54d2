"""The conformance suite against real PostgreSQL, through psycopg and asyncpg, each through a
pool and through a single connection (four stream classes, four conversation classes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
from postgres_testkit import Closer, open_driver, pg_schema

from aibind.conformance import (
    ConversationStoreConformance,
    ConversationStoreFactory,
    RawConversations,
    StreamStoreConformance,
    StreamStoreFactory,
)
from aibind.conformance.servers import Server
from aibind.core.protocols import ConversationStore, StreamStore
from aibind.postgres import PostgresConversationStore, PostgresStreamStore

__all__ = ["pg_schema"]


class _PostgresStreams(StreamStoreConformance):
    push = True
    capabilities = frozenset({"append_many", "delete", "cleanup"})
    kind: ClassVar[str]

    @pytest.fixture
    async def make_store(
        self, postgres_server: Server, pg_schema: str
    ) -> AsyncIterator[StreamStoreFactory]:
        opened: list[tuple[PostgresStreamStore, Closer]] = []

        async def factory(*, ttl: float = 300.0, push_only: bool = False) -> StreamStore:
            client, close = await open_driver(self.kind, postgres_server.url)
            store = PostgresStreamStore(
                client,
                chunks_table=f"{pg_schema}.chunks",
                status_table=f"{pg_schema}.status",
                ttl=ttl,
                poll_interval=None if push_only else 0.1,
            )
            opened.append((store, close))
            if len(opened) == 1:
                await store.setup()
            return store

        yield factory
        for store, close in opened:
            await store.aclose()
            await close()


class TestPsycopgPoolStreams(_PostgresStreams):
    kind = "psycopg-pool"


class TestPsycopgConnectionStreams(_PostgresStreams):
    kind = "psycopg-conn"


class TestAsyncpgPoolStreams(_PostgresStreams):
    kind = "asyncpg-pool"


class TestAsyncpgConnectionStreams(_PostgresStreams):
    kind = "asyncpg-conn"


class _RawTable:
    def __init__(self, store: PostgresConversationStore) -> None:
        self.store = store
        self.table = store.table.sql

    async def get(self, session_id: str) -> str | None:
        rows = await self.store.client.query(
            f"SELECT data FROM {self.table} WHERE session_id = $1::text", [session_id]
        )
        return None if not rows else str(rows[0]["data"])

    async def put(self, session_id: str, raw: str) -> None:
        await self.store.client.query(
            f"INSERT INTO {self.table} (session_id, data, expires_at) "
            "VALUES ($1::text, $2::text, 4102444800000) ON CONFLICT (session_id) "
            "DO UPDATE SET data = EXCLUDED.data, expires_at = EXCLUDED.expires_at",
            [session_id, raw],
        )


class _PostgresConversations(ConversationStoreConformance):
    supports_cleanup = True
    kind: ClassVar[str]

    @pytest.fixture
    async def make_store(
        self, postgres_server: Server, pg_schema: str
    ) -> AsyncIterator[ConversationStoreFactory]:
        opened: list[tuple[PostgresConversationStore, Closer]] = []

        async def factory(*, ttl: float = 1800.0) -> ConversationStore:
            client, close = await open_driver(self.kind, postgres_server.url)
            store = PostgresConversationStore(client, table=(pg_schema, "Conversations"), ttl=ttl)
            opened.append((store, close))
            if len(opened) == 1:
                await store.setup()
            return store

        yield factory
        for store, close in opened:
            await store.aclose()
            await close()

    @pytest.fixture
    async def raw(self, make_store: ConversationStoreFactory) -> AsyncIterator[RawConversations]:
        store: Any = await make_store()
        yield _RawTable(store)


class TestPsycopgPoolConversations(_PostgresConversations):
    kind = "psycopg-pool"


class TestPsycopgConnectionConversations(_PostgresConversations):
    kind = "psycopg-conn"


class TestAsyncpgPoolConversations(_PostgresConversations):
    kind = "asyncpg-pool"


class TestAsyncpgConnectionConversations(_PostgresConversations):
    kind = "asyncpg-conn"
