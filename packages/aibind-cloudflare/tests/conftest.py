"""Fixtures of the aibind-cloudflare tests: the pinned npm packages (installed once into a
cache), the local Cloudflare REST stand-in (Miniflare with real D1 and KV, one per test session)
and clients for it, each test on its own tables / key prefix, removed afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cf_node import NodeUnavailable, StandIn, install_node_modules, run_standin, skip_or_fail

from aibind.cloudflare import D1HttpClient, KVHttpClient


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """The cached ``node_modules`` of ``js/package-lock.json`` (``npm ci`` on first use)."""
    try:
        return install_node_modules()
    except NodeUnavailable as exc:
        skip_or_fail(str(exc))
        raise  # unreachable: skip_or_fail raises


@pytest.fixture(scope="session")
def standin(node_modules: Path) -> Iterator[StandIn]:
    """The REST stand-in (Miniflare on a free port), running for the whole test session."""
    with run_standin(node_modules) as running:
        yield running


D1Factory = Callable[..., D1HttpClient]


@pytest.fixture
async def make_d1(standin: StandIn) -> AsyncIterator[D1Factory]:
    """Opens :class:`D1HttpClient` objects on the stand-in (each its own connection pool);
    closes them after the test."""
    opened: list[D1HttpClient] = []

    def factory(**options: object) -> D1HttpClient:
        settings: dict[str, object] = {"api_token": standin.token, "base_url": standin.base_url}
        settings.update(options)
        client = D1HttpClient(standin.account_id, standin.database_id, **settings)  # type: ignore[arg-type]
        opened.append(client)
        return client

    yield factory
    for client in opened:
        await client.aclose()


@pytest.fixture
async def kv_client(standin: StandIn) -> AsyncIterator[KVHttpClient]:
    """A :class:`KVHttpClient` on the stand-in's namespace."""
    async with KVHttpClient(
        standin.account_id, standin.namespace_id, api_token=standin.token, base_url=standin.base_url
    ) as client:
        yield client


@pytest.fixture
def unique() -> str:
    """A short name unique to this test (tables, key prefixes)."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def tables(standin: StandIn, unique: str) -> AsyncIterator[dict[str, str]]:
    """This test's table names; every table that exists afterwards is dropped."""
    names = {
        "chunks_table": f"{unique}_chunks",
        "status_table": f"{unique}_status",
        "conversations_table": f"{unique}_conv",
    }
    yield names
    async with D1HttpClient(
        standin.account_id, standin.database_id, api_token=standin.token, base_url=standin.base_url
    ) as d1:
        await d1.batch([(f'DROP TABLE IF EXISTS "{name}"', ()) for name in names.values()])


@pytest.fixture
async def kv_prefix(kv_client: KVHttpClient, unique: str) -> AsyncIterator[str]:
    """This test's KV key prefix; every key under it is deleted afterwards."""
    prefix = f"aibind-test:{unique}"
    yield prefix
    for key in await kv_client.list_keys(prefix):
        await kv_client.delete(key.name)


@pytest.fixture
async def control(standin: StandIn) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the stand-in's origin, for its test-control endpoints."""
    async with httpx.AsyncClient(base_url=standin.origin) as client:
        yield client
        await client.post("/__standin/throttle", json={"count": 0})
