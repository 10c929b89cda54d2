"""Fixtures of the aibind-redis tests: per-test key prefixes (deleted afterwards) and a local
three-master Redis Cluster started from the ``redis-server`` binary."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio

from aibind.conformance.servers import Server

CLUSTER_PORTS = (7101, 7102, 7103)


@pytest.fixture
def redis_url(redis_server: Server) -> str:
    """URL of the session's Redis server."""
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


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[str]:
    """Start a three-master Redis Cluster on 127.0.0.1:7101-7103 from the ``redis-server``
    binary (``--cluster-enabled yes``, then ``redis-cli --cluster create``); yield the URL of
    one node and shut the cluster down afterwards."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        _skip_or_fail("redis-server/redis-cli not on PATH: cannot start a local cluster")
    assert server is not None
    assert cli is not None
    busy = [p for p in CLUSTER_PORTS if not _port_free(p)]
    if busy:
        _skip_or_fail(f"cluster ports already in use: {busy}")
    workdir = Path(tempfile.mkdtemp(prefix="aibind-cluster-"))
    procs = []
    try:
        for port in CLUSTER_PORTS:
            node = workdir / str(port)
            node.mkdir()
            procs.append(
                subprocess.Popen(
                    [
                        server,
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--appendonly",
                        "no",
                        "--save",
                        "",
                        "--dir",
                        str(node),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        deadline = time.monotonic() + 10
        while any(_port_free(p) for p in CLUSTER_PORTS):
            if time.monotonic() > deadline:
                _skip_or_fail("cluster nodes did not start")
            time.sleep(0.05)
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in CLUSTER_PORTS),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        while True:
            states = []
            for port in CLUSTER_PORTS:
                with redis.Redis(port=port) as node_client:
                    states.append(node_client.cluster("info")["cluster_state"])
            if all(s == "ok" for s in states):
                break
            if time.monotonic() > deadline:
                _skip_or_fail(f"cluster did not become ok: {states}")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{CLUSTER_PORTS[0]}/0"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)
