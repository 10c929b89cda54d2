"""The aibind conformance suite against this backend: every case is its own pytest test.

<REPLACE ME>: open your stores on a real server here. A server the tests need comes from the
suite's session fixtures (``redis_server``, ``postgres_server`` or ``aibind_server("<kind>")``
for a kind your package registers in ``aibind.test_servers``); give each test its own key
prefix / tables so runs never collide and nothing is left behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aibind.conformance import (
    ConversationStoreConformance,
    ConversationStoreFactory,
    RawConversations,
    StreamStoreConformance,
    StreamStoreFactory,
    conversation_factory,
    new_id,
    stream_factory,
)
from aibind.core import ConversationStore, StreamStore
from aibind.replaceme import ReplacemeClient, ReplacemeConversationStore, ReplacemeStreamStore


class TestReplacemeStreams(StreamStoreConformance):
    push = True  # followers wake without polling (set False if your storage cannot push)
    capabilities = frozenset({"append_many", "delete", "cleanup"})
    expiry = "native"  # an expired stream vanishes by itself ("cleanup" for SQL tables)

    @pytest.fixture
    async def make_store(self) -> AsyncIterator[StreamStoreFactory]:
        database = new_id("db")  # every store of one test sees the same data

        async def build(ttl: float, push_only: bool) -> StreamStore:
            return ReplacemeStreamStore.from_url(
                f"replaceme://{database}", ttl=ttl, poll_interval=None if push_only else 0.05
            )

        async with stream_factory(build) as factory:
            yield factory


class _Raw:
    """Reads and plants the stored JSON text of a session, through a client of its own."""

    def __init__(self, client: ReplacemeClient) -> None:
        self.client = client

    async def get(self, session_id: str) -> str | None:
        entry = self.client.db().conversations.get(session_id)
        return None if entry is None else entry[0]

    async def put(self, session_id: str, raw: str) -> None:
        self.client.db().conversations[session_id] = (raw, self.client.now() + 3600)


class TestReplacemeConversations(ConversationStoreConformance):
    supports_cleanup = True

    @pytest.fixture
    def database(self) -> str:
        return new_id("db")

    @pytest.fixture
    async def make_store(self, database: str) -> AsyncIterator[ConversationStoreFactory]:
        async def build(ttl: float) -> ConversationStore:
            return ReplacemeConversationStore.from_url(f"replaceme://{database}", ttl=ttl)

        async with conversation_factory(build) as factory:
            yield factory

    @pytest.fixture
    async def raw(
        self, make_store: ConversationStoreFactory, database: str
    ) -> AsyncIterator[RawConversations]:
        await make_store()  # the database exists from the first store on
        client = ReplacemeClient(database)
        yield _Raw(client)
        await client.close()
