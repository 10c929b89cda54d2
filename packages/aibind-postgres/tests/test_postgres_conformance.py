"""The conformance suite against real PostgreSQL. Streams: through psycopg and asyncpg, each
through a caller's pool and a caller's single connection, and through ``from_url`` (a pool the
store owns); SQL streams expire through ``cleanup()`` only (``expiry = "cleanup"``).
Conversations (the kit's shared core over three one-statement hooks): through both drivers'
pools and ``from_url``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
from postgres_testkit import open_driver, pg_schema

from aibind.conformance import (
    ConversationStoreConformance,
    ConversationStoreFactory,
    RawConversations,
    StreamStoreConformance,
    StreamStoreFactory,
    conversation_factory,
    stream_factory,
)
from aibind.conformance.servers import Server
from aibind.postgres import PostgresConversationStore, PostgresStreamStore

__all__ = ["pg_schema"]


class _PostgresStreams(StreamStoreConformance):
    push = True
    capabilities = frozenset({"append_many", "delete", "cleanup"})
    expiry = "cleanup"
    kind: ClassVar[str]

    @pytest.fixture
    async def make_store(
        self, postgres_server: Server, pg_schema: str
    ) -> AsyncIterator[StreamStoreFactory]:
        options = {"chunks_table": f"{pg_schema}.chunks", "status_table": f"{pg_schema}.status"}

        async def build(ttl: float, push_only: bool) -> Any:
            poll = None if push_only else 0.1
            if self.kind.startswith("url-"):
                return PostgresStreamStore.from_url(
                    postgres_server.url,
                    driver=self.kind.removeprefix("url-"),
                    ttl=ttl,
                    poll_interval=poll,
                    **options,
                )
            client, close = await open_driver(self.kind, postgres_server.url)
            return PostgresStreamStore(client, ttl=ttl, poll_interval=poll, **options), close

        async with stream_factory(build) as factory:
            yield factory


class TestPsycopgPoolStreams(_PostgresStreams):
    kind = "psycopg-pool"


class TestPsycopgConnectionStreams(_PostgresStreams):
    kind = "psycopg-conn"


class TestAsyncpgPoolStreams(_PostgresStreams):
    kind = "asyncpg-pool"


class TestAsyncpgConnectionStreams(_PostgresStreams):
    kind = "asyncpg-conn"


class TestFromUrlStreams(_PostgresStreams):
    kind = "url-psycopg"


class _RawTable:
    def __init__(self, store: PostgresConversationStore) -> None:
        self.store = store
        self.table = store.table.sql

    async def get(self, session_id: str) -> str | None:
        rows = await self.store.client.query(
            f"SELECT data FROM {self.table} WHERE session_id = $1::text", [session_id]
        )
        return None if not rows else str(rows[0][0])

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
        table = (pg_schema, "Conversations")

        async def build(ttl: float) -> Any:
            if self.kind.startswith("url-"):
                driver = self.kind.removeprefix("url-")
                return PostgresConversationStore.from_url(
                    postgres_server.url, driver=driver, table=table, ttl=ttl
                )
            client, close = await open_driver(self.kind, postgres_server.url)
            return PostgresConversationStore(client, table=table, ttl=ttl), close

        async with conversation_factory(build) as factory:
            yield factory

    @pytest.fixture
    async def raw(self, make_store: ConversationStoreFactory) -> AsyncIterator[RawConversations]:
        store: Any = await make_store()
        await store.open()
        yield _RawTable(store)


class TestPsycopgPoolConversations(_PostgresConversations):
    kind = "psycopg-pool"


class TestAsyncpgPoolConversations(_PostgresConversations):
    kind = "asyncpg-pool"


class TestFromUrlConversations(_PostgresConversations):
    kind = "url-asyncpg"
