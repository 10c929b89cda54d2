"""The whole conformance suite over Cloudflare's REST API, against the local stand-in (Miniflare
with real D1 and KV):

* streams: :class:`~aibind.sqlite.SqliteStreamStore` on :class:`D1HttpClient`; every store of a
  test has its own client (own connection pool), so other stores' writes are seen by polling
  (``push = False``), and once more with the stores of a test sharing one client, where the
  in-process notifier pushes (``push = True``);
* conversations: :class:`KVConversationStore` on :class:`KVHttpClient`, and
  :class:`~aibind.sqlite.SqliteConversationStore` on :class:`D1HttpClient`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from conftest import D1Factory

from aibind.cloudflare import D1HttpClient, KVConversationStore, KVHttpClient
from aibind.conformance import (
    ConversationStoreConformance,
    ConversationStoreFactory,
    RawConversations,
    StreamStoreConformance,
    StreamStoreFactory,
    new_id,
)
from aibind.core.chat_history import ChatHistory
from aibind.core.protocols import ConversationStore, StreamStore
from aibind.sqlite import SqliteConversationStore, SqliteStreamStore


class TestD1HttpStreams(StreamStoreConformance):
    """Each store its own D1HttpClient: followers see other stores' writes by polling."""

    push = False
    capabilities = frozenset({"append_many", "delete", "cleanup"})
    expiry = "cleanup"  # the SQL backends' rule: a stream past expires_at stays until cleanup()
    shared_client = False

    @pytest.fixture
    async def make_store(
        self, make_d1: D1Factory, tables: dict[str, str]
    ) -> AsyncIterator[StreamStoreFactory]:
        stores: list[SqliteStreamStore] = []
        shared: list[D1HttpClient] = []

        async def factory(*, ttl: float = 300.0, push_only: bool = False) -> StreamStore:
            if self.shared_client:
                if not shared:
                    shared.append(make_d1())
                client = shared[0]
            else:
                client = make_d1()
            store = SqliteStreamStore(
                client,
                chunks_table=tables["chunks_table"],
                status_table=tables["status_table"],
                ttl=ttl,
                poll_interval=None if push_only else 0.05,
            )
            if not stores:
                await store.setup()
            stores.append(store)
            return store

        yield factory
        for store in stores:
            await store.aclose()


class TestD1HttpStreamsSharedClient(TestD1HttpStreams):
    """The stores of a test share one D1HttpClient: writes push to every store's followers."""

    push = True
    shared_client = True


class _RawD1Conversations:
    def __init__(self, client: D1HttpClient, table: str) -> None:
        self.client = client
        self.table = table

    async def get(self, session_id: str) -> str | None:
        rows = await self.client.execute(
            f'SELECT data FROM "{self.table}" WHERE session_id = ?', (session_id,)
        )
        return None if not rows else str(rows[0]["data"])

    async def put(self, session_id: str, raw: str) -> None:
        await self.client.execute(
            f'INSERT OR REPLACE INTO "{self.table}" VALUES (?, ?, ?)',
            (session_id, raw, 32503680000000),
        )


class TestD1HttpConversations(ConversationStoreConformance):
    supports_cleanup = True

    @pytest.fixture
    async def make_store(
        self, make_d1: D1Factory, tables: dict[str, str]
    ) -> AsyncIterator[ConversationStoreFactory]:
        stores: list[SqliteConversationStore] = []

        async def factory(*, ttl: float = 1800.0) -> ConversationStore:
            store = SqliteConversationStore(make_d1(), table=tables["conversations_table"], ttl=ttl)
            if not stores:
                await store.setup()
            stores.append(store)
            return store

        yield factory
        for store in stores:
            await store.aclose()

    @pytest.fixture
    async def raw(
        self, make_store: ConversationStoreFactory, make_d1: D1Factory, tables: dict[str, str]
    ) -> AsyncIterator[RawConversations]:
        await make_store()
        yield _RawD1Conversations(make_d1(), tables["conversations_table"])


class _RawKV:
    def __init__(self, client: KVHttpClient, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    async def get(self, session_id: str) -> str | None:
        return await self.client.get(f"{self.prefix}:{session_id}")

    async def put(self, session_id: str, raw: str) -> None:
        await self.client.put(f"{self.prefix}:{session_id}", raw, expiration_ttl=3600)


class TestKVHttpConversations(ConversationStoreConformance):
    """KV expires keys itself (no ``cleanup()``), and refuses TTLs below 60 s, so the suite's two
    sub-second expiry cases are replaced by checks of the expiration KV records for each save
    (see the two overrides below)."""

    supports_cleanup = False

    @pytest.fixture
    async def make_store(
        self, kv_client: KVHttpClient, kv_prefix: str
    ) -> AsyncIterator[ConversationStoreFactory]:
        stores: list[KVConversationStore] = []

        async def factory(*, ttl: float = 1800.0) -> ConversationStore:
            store = KVConversationStore(kv_client, prefix=kv_prefix, ttl=ttl)
            stores.append(store)
            return store

        yield factory
        for store in stores:
            await store.aclose()

    @pytest.fixture
    async def raw(self, kv_client: KVHttpClient, kv_prefix: str) -> AsyncIterator[RawConversations]:
        yield _RawKV(kv_client, kv_prefix)

    async def _expiration(self, kv_client: KVHttpClient, key: str) -> float:
        found = {k.name: k.expiration for k in await kv_client.list_keys(key)}
        assert found.get(key) is not None, f"{key} has no expiration in KV"
        return float(found[key])  # type: ignore[arg-type]

    async def test_expired_conversation_loads_empty(  # type: ignore[override]
        self, make_store: ConversationStoreFactory, kv_client: KVHttpClient, kv_prefix: str
    ) -> None:
        """Replaces the suite's 0.3 s case: each save sets KV's expiration to now + ttl (KV
        deletes the key then; a missing key loads empty, as test_load_absent_is_empty shows)."""
        store = await make_store(ttl=90)
        sid = new_id()
        chat: ChatHistory = ChatHistory()  # type: ignore[type-arg]
        chat.append({"role": "user", "content": "hi"})
        before = time.time()
        await store.save(sid, chat)
        expiration = await self._expiration(kv_client, f"{kv_prefix}:{sid}")
        assert before + 90 - 2 <= expiration <= time.time() + 90 + 2

    async def test_save_refreshes_ttl(  # type: ignore[override]
        self, make_store: ConversationStoreFactory, kv_client: KVHttpClient, kv_prefix: str
    ) -> None:
        """Replaces the suite's 0.8 s case: a later save moves KV's expiration forward."""
        store = await make_store(ttl=60)
        sid = new_id()
        chat: ChatHistory = ChatHistory()  # type: ignore[type-arg]
        chat.append({"role": "user", "content": "hi"})
        await store.save(sid, chat)
        first = await self._expiration(kv_client, f"{kv_prefix}:{sid}")
        await asyncio.sleep(1.2)  # KV expirations are whole seconds; one write/s per key
        await store.save(sid, chat)
        second = await self._expiration(kv_client, f"{kv_prefix}:{sid}")
        assert second >= first + 1
        assert (await store.load(sid)).to_json() == chat.to_json()
