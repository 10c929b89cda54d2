"""The conformance suite against the in-memory stores."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aibind.conformance import (
    ConversationStoreConformance,
    ConversationStoreFactory,
    RawConversations,
    StreamStoreConformance,
    StreamStoreFactory,
)
from aibind.core.memory import MemoryConversationStore, MemoryStreamStore
from aibind.core.protocols import ConversationStore, StreamStore


class TestMemoryStreamStore(StreamStoreConformance):
    push = True
    capabilities = frozenset({"append_many", "delete", "cleanup"})

    @pytest.fixture
    async def make_store(self) -> AsyncIterator[StreamStoreFactory]:
        # Memory stores cannot share data across instances, so one instance per ttl serves
        # every call in a test ("push_only" is always true: the store never polls).
        stores: dict[float, MemoryStreamStore] = {}

        async def factory(*, ttl: float = 300.0, push_only: bool = False) -> StreamStore:
            if ttl not in stores:
                stores[ttl] = MemoryStreamStore(ttl=ttl)
            return stores[ttl]

        yield factory


class _RawMemory:
    def __init__(self, store: MemoryConversationStore) -> None:
        self.store = store

    async def get(self, session_id: str) -> str | None:
        entry = self.store._data.get(session_id)
        return None if entry is None else entry[0]

    async def put(self, session_id: str, raw: str) -> None:
        self.store._data[session_id] = (raw, self.store._clock() + 3600)


class TestMemoryConversationStore(ConversationStoreConformance):
    supports_cleanup = True

    @pytest.fixture
    def shared(self) -> dict[float, MemoryConversationStore]:
        return {}

    @pytest.fixture
    async def make_store(
        self, shared: dict[float, MemoryConversationStore]
    ) -> AsyncIterator[ConversationStoreFactory]:
        async def factory(*, ttl: float = 1800.0) -> ConversationStore:
            if ttl not in shared:
                shared[ttl] = MemoryConversationStore(ttl=ttl)
            return shared[ttl]

        yield factory

    @pytest.fixture
    async def raw(
        self, make_store: ConversationStoreFactory, shared: dict[float, MemoryConversationStore]
    ) -> AsyncIterator[RawConversations]:
        await make_store()
        yield _RawMemory(shared[1800.0])
