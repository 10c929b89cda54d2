"""The conformance suite against real Redis: stores opened with ``from_url`` (redis-py on a
blocking pool), on a valkey client, on a minimal client (no pub/sub, no MGET: its followers
poll) and on a three-master Redis Cluster of our own (sharded pub/sub)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio
import valkey.asyncio
from redis_minimal_client import MinimalClient

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
from aibind.redis import RedisConversationStore, RedisStreamStore

CAPS = frozenset({"append_many", "delete"})

CLUSTER_PUSH = int(redis.__version__.split(".")[0]) >= 8
"""Push in cluster mode needs asyncio sharded pub/sub, first in redis-py 8.0; with older
redis-py (down to the floor, tested by ``nox -s tests_min``) a cluster store relies on its
sweep."""


def _poll(push_only: bool) -> float | None:
    return None if push_only else 0.05


class TestRedisPyStreams(StreamStoreConformance):
    """``RedisStreamStore.from_url``: each store its own client and pool."""

    push = True
    capabilities = CAPS
    expiry = "native"

    @pytest.fixture
    async def make_store(self, redis_url: str, prefix: str) -> AsyncIterator[StreamStoreFactory]:
        async def build(ttl: float, push_only: bool) -> StreamStore:
            return RedisStreamStore.from_url(
                redis_url, prefix=prefix, ttl=ttl, poll_interval=_poll(push_only)
            )

        async with stream_factory(build) as factory:
            yield factory


class TestValkeyStreams(StreamStoreConformance):
    """A ``valkey.asyncio`` client with ``decode_responses=True``, passed in (never closed by
    the store: the factory closes it)."""

    push = True
    capabilities = CAPS
    expiry = "native"

    @pytest.fixture
    async def make_store(self, redis_url: str, prefix: str) -> AsyncIterator[StreamStoreFactory]:
        async def build(ttl: float, push_only: bool) -> tuple[StreamStore, Any]:
            client = valkey.asyncio.from_url(redis_url, decode_responses=True)  # type: ignore[no-untyped-call,unused-ignore]
            store = RedisStreamStore(client, prefix=prefix, ttl=ttl, poll_interval=_poll(push_only))
            return store, client.aclose

        async with stream_factory(build) as factory:
            yield factory


class TestMinimalClientStreams(StreamStoreConformance):
    """A client with only the seed's methods plus eval/evalsha: no pub/sub and no MGET, so each
    follower polls every ``poll_interval``."""

    push = False
    capabilities = CAPS
    expiry = "native"

    @pytest.fixture
    async def make_store(self, redis_url: str, prefix: str) -> AsyncIterator[StreamStoreFactory]:
        async def build(ttl: float, push_only: bool) -> tuple[StreamStore, Any]:
            client = MinimalClient(redis_url)
            store = RedisStreamStore(client, prefix=prefix, ttl=ttl, poll_interval=0.02)
            assert not store.push
            return store, client.aclose

        async with stream_factory(build) as factory:
            yield factory


class TestClusterStreams(StreamStoreConformance):
    """``from_url(...?cluster=true)`` on a three-master cluster: hash tags, sharded pub/sub, a
    bounded cluster client."""

    push = CLUSTER_PUSH
    capabilities = CAPS
    expiry = "native"

    @pytest.fixture
    async def make_store(
        self, redis_cluster: str, cluster_prefix: str
    ) -> AsyncIterator[StreamStoreFactory]:
        async def build(ttl: float, push_only: bool) -> StreamStore:
            return RedisStreamStore.from_url(
                f"{redis_cluster}?cluster=true",
                prefix=cluster_prefix,
                ttl=ttl,
                poll_interval=_poll(push_only),
            )

        async with stream_factory(build) as factory:
            yield factory


class _Raw:
    def __init__(self, client: Any, prefix: str) -> None:
        self.client, self.prefix = client, prefix

    async def get(self, session_id: str) -> str | None:
        value = await self.client.get(f"{self.prefix}:{session_id}")
        return value.decode() if isinstance(value, bytes) else value

    async def put(self, session_id: str, raw: str) -> None:
        await self.client.set(f"{self.prefix}:{session_id}", raw, ex=3600)


class _ConversationFixtures(ConversationStoreConformance):
    @pytest.fixture
    async def raw(self, redis_url: str, prefix: str) -> AsyncIterator[RawConversations]:
        client = redis.asyncio.from_url(redis_url)
        yield _Raw(client, prefix)
        await client.aclose()


class TestRedisPyConversations(_ConversationFixtures):
    """``RedisConversationStore.from_url``."""

    @pytest.fixture
    async def make_store(
        self, redis_url: str, prefix: str
    ) -> AsyncIterator[ConversationStoreFactory]:
        async def build(ttl: float) -> ConversationStore:
            return RedisConversationStore.from_url(redis_url, prefix=prefix, ttl=ttl)

        async with conversation_factory(build) as factory:
            yield factory


class TestValkeyConversations(_ConversationFixtures):
    """A valkey client passed in."""

    @pytest.fixture
    async def make_store(
        self, redis_url: str, prefix: str
    ) -> AsyncIterator[ConversationStoreFactory]:
        async def build(ttl: float) -> tuple[ConversationStore, Any]:
            client = valkey.asyncio.from_url(redis_url, decode_responses=True)  # type: ignore[no-untyped-call,unused-ignore]
            return RedisConversationStore(client, prefix=prefix, ttl=ttl), client.aclose

        async with conversation_factory(build) as factory:
            yield factory
