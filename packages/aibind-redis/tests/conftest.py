"""Fixtures of the aibind-redis tests: per-test key prefixes on the shared server (deleted
afterwards), and servers of our own started from ``redis-server`` (a three-master cluster for
the session; standalone servers for the fault tests)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio
from redis.asyncio.cluster import RedisCluster
from redis_servers import ClusterProcesses, RedisProcess

from aibind.conformance.servers import Server


@pytest.fixture
def redis_url(redis_server: Server) -> str:
    """URL of the session's (shared) Redis server."""
    return redis_server.url


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    """A fresh key prefix; every key under it is deleted after the test."""
    value = f"aibind-test:{uuid.uuid4().hex}"
    yield value
    client = redis.asyncio.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{value}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[str]:
    """A three-master Redis Cluster of our own on free ports (stopped after the session);
    yields the URL of one node."""
    with ClusterProcesses() as cluster:
        yield cluster.url


@pytest.fixture
async def cluster_prefix(redis_cluster: str) -> AsyncIterator[str]:
    """A fresh key prefix on the session's cluster; its keys are deleted after the test."""
    value = f"aibind-test:{uuid.uuid4().hex}"
    yield value
    client = RedisCluster.from_url(redis_cluster)
    try:
        keys = [k async for k in client.scan_iter(match=f"{value}*", count=1000)]
        for key in keys:
            await client.delete(key)
    finally:
        await client.aclose()


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    """A standalone ``redis-server`` of this test's own (it may be paused, killed, restarted);
    stopped and removed afterwards."""
    with RedisProcess() as server:
        yield server
