"""The conformance suite against real Redis: through redis-py, valkey, a minimal polling client
and a local three-master Redis Cluster (sharded pub/sub)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio
import valkey.asyncio
from redis.asyncio.cluster import RedisCluster
from redis_minimal_client import MinimalClient

from aibind.conformance import (
    ConversationStoreConformance,
    ConversationStoreFactory,
    RawConversations,
    StreamStoreConformance,
    StreamStoreFactory,
)
from aibind.core.protocols import ConversationStore, StreamStore
from aibind.redis import RedisConversationStore, RedisStreamStore

CAPS = frozenset({"append_many", "delete"})

CLUSTER_PUSH = int(redis.__version__.split(".")[0]) >= 8
"""Push in cluster mode needs asyncio sharded pub/sub, first in redis-py 8.0; with older
redis-py (down to the floor, tested by ``nox -s tests_min``) a cluster store polls."""


async def _close(client: Any) -> None:
    closer = getattr(client, "aclose", None) or client.close
    await closer()


def _stream_factory(
    new_client: Callable[[], Any], prefix: str, *, cluster: bool = False
) -> tuple[StreamStoreFactory, Callable[[], Any]]:
    opened: list[tuple[RedisStreamStore, Any]] = []

    async def factory(*, ttl: float = 300.0, push_only: bool = False) -> StreamStore:
        client = new_client()
        store = RedisStreamStore(
            client,
            prefix=prefix,
            ttl=ttl,
            poll_interval=None if push_only else 0.05,
            cluster=cluster,
        )
        opened.append((store, client))
        return store

    async def close_all() -> None:
        for store, client in opened:
            await store.aclose()
            await _close(client)

    return factory, close_all


class TestRedisPyStreams(StreamStoreConformance):
    push = True
    capabilities = CAPS

    @pytest.fixture
    async def make_store(self, redis_url: str, prefix: str) -> AsyncIterator[StreamStoreFactory]:
        factory, close_all = _stream_factory(lambda: redis.asyncio.from_url(redis_url), prefix)
        yield factory
        await close_all()


class TestValkeyStreams(StreamStoreConformance):
    push = True
    capabilities = CAPS

    @pytest.fixture
    async def make_store(self, redis_url: str, prefix: str) -> AsyncIterator[StreamStoreFactory]:
        factory, close_all = _stream_factory(
            lambda: valkey.asyncio.from_url(  # type: ignore[no-untyped-call,unused-ignore]
                redis_url, decode_responses=True
            ),
            prefix,
        )
        yield factory
        await close_all()


class TestMinimalClientStreams(StreamStoreConformance):
    """A client with only the seed's methods plus eval/evalsha: the store polls."""

    push = False
    capabilities = CAPS

    @pytest.fixture
    async def make_store(self, redis_url: str, prefix: str) -> AsyncIterator[StreamStoreFactory]:
        opened: list[tuple[RedisStreamStore, MinimalClient]] = []

        async def factory(*, ttl: float = 300.0, push_only: bool = False) -> StreamStore:
            client = MinimalClient(redis_url)
            store = RedisStreamStore(client, prefix=prefix, ttl=ttl, poll_interval=0.02)
            assert not store.push
            opened.append((store, client))
            return store

        yield factory
        for store, client in opened:
            await store.aclose()
            await client.aclose()


@pytest.fixture
async def cluster_prefix(redis_cluster: str) -> AsyncIterator[str]:
    value = f"aibind-test:{uuid.uuid4().hex}"
    yield value
    client = RedisCluster.from_url(redis_cluster)
    try:
        keys = [k async for k in client.scan_iter(match=f"{value}*", count=1000)]
        for key in keys:
            await client.delete(key)
    finally:
        await client.aclose()


class TestClusterStreams(StreamStoreConformance):
    push = CLUSTER_PUSH
    capabilities = CAPS

    @pytest.fixture
    async def make_store(
        self, redis_cluster: str, cluster_prefix: str
    ) -> AsyncIterator[StreamStoreFactory]:
        factory, close_all = _stream_factory(
            lambda: RedisCluster.from_url(redis_cluster), cluster_prefix, cluster=True
        )
        yield factory
        await close_all()


class _Raw:
    def __init__(self, client: Any, prefix: str) -> None:
        self.client, self.prefix = client, prefix

    async def get(self, session_id: str) -> str | None:
        value = await self.client.get(f"{self.prefix}:{session_id}")
        return value.decode() if isinstance(value, bytes) else value

    async def put(self, session_id: str, raw: str) -> None:
        await self.client.set(f"{self.prefix}:{session_id}", raw, ex=3600)


class _ConversationFixtures(ConversationStoreConformance):
    """Conversation conformance through the client that ``new_client`` opens."""

    @staticmethod
    def new_client(url: str) -> Any:
        return redis.asyncio.from_url(url)

    @pytest.fixture
    async def make_store(
        self, redis_url: str, prefix: str
    ) -> AsyncIterator[ConversationStoreFactory]:
        clients: list[Any] = []

        async def factory(*, ttl: float = 1800.0) -> ConversationStore:
            client = self.new_client(redis_url)
            clients.append(client)
            return RedisConversationStore(client, prefix=prefix, ttl=ttl)

        yield factory
        for client in clients:
            await _close(client)

    @pytest.fixture
    async def raw(self, redis_url: str, prefix: str) -> AsyncIterator[RawConversations]:
        client = redis.asyncio.from_url(redis_url)
        yield _Raw(client, prefix)
        await client.aclose()


class TestRedisPyConversations(_ConversationFixtures):
    pass


class TestValkeyConversations(_ConversationFixtures):
    @staticmethod
    def new_client(url: str) -> Any:
        return valkey.asyncio.from_url(url, decode_responses=True)  # type: ignore[no-untyped-call,unused-ignore]
