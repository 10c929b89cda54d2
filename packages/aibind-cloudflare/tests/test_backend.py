"""The ``d1://`` backend: URL parsing, ``open_stores`` and the ``aibind`` CLI (run as a user
runs it, a subprocess) against the local stand-in."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cf_node import StandIn

from aibind.cloudflare import D1HttpClient, D1Url, KVConversationStore, parse_d1_url
from aibind.cloudflare.backend import HTTP_POLL_INTERVAL
from aibind.core import open_stores
from aibind.sqlite import SqliteConversationStore, SqliteStreamStore

DEFAULT_TABLES = ("aibind_stream_chunks", "aibind_stream_status", "aibind_conversations")


def test_parse_d1_url() -> None:
    assert parse_d1_url("d1://acc/db-1") == D1Url("acc", "db-1", None)
    assert parse_d1_url("D1://acc/db/?kv_namespace=ns") == D1Url("acc", "db", "ns")
    parsed = parse_d1_url(
        "d1://acc/db?ttl=60&poll_interval=off&chunks_table=c&conversation_ttl=90"
        "&conversation_prefix=app:conv"
    )
    assert parsed.stream_options == {"ttl": 60.0, "poll_interval": None, "chunks_table": "c"}
    assert parsed.conversation_options == {"ttl": 90.0, "prefix": "app:conv"}


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("sqlite:///x", "d1://<account_id>"),
        ("d1://acc", "d1://<account_id>"),
        ("d1://acc/db/extra", "d1://<account_id>"),
        ("d1://token@acc/db", "CLOUDFLARE_API_TOKEN"),
        ("d1://acc:443/db", "port"),
        ("d1://acc/db#frag", "fragment"),
        ("d1://acc/db?prefix=5", "unknown URL option 'prefix'"),
        ("d1://acc/db?ttl=soon", "ttl"),
        ("d1://acc/db?kv_namespace=a&kv_namespace=b", "twice"),
        ("d1://acc/db?kv_namespace=", "kv_namespace"),
        ("d1://acc/d%2Fb", "database_id"),
    ],
)
def test_bad_d1_urls(url: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_d1_url(url)


@pytest.fixture
def cloudflare_env(standin: StandIn, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``CLOUDFLARE_API_TOKEN`` / ``CLOUDFLARE_BASE_URL`` pointing at the stand-in."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", standin.token)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", standin.base_url)
    return {"CLOUDFLARE_API_TOKEN": standin.token, "CLOUDFLARE_BASE_URL": standin.base_url}


@pytest.fixture
async def default_tables(standin: StandIn) -> AsyncIterator[None]:
    """Tests that use the default table names drop them afterwards."""
    yield
    async with D1HttpClient(
        standin.account_id, standin.database_id, api_token=standin.token, base_url=standin.base_url
    ) as d1:
        await d1.batch([(f"DROP TABLE IF EXISTS {name}", ()) for name in DEFAULT_TABLES])


async def test_open_stores_on_d1(
    standin: StandIn, cloudflare_env: dict[str, str], tables: dict[str, str]
) -> None:
    url = (
        f"d1://{standin.account_id}/{standin.database_id}?chunks_table={tables['chunks_table']}"
        f"&status_table={tables['status_table']}&ttl=120"
        f"&conversation_table={tables['conversations_table']}"
    )
    async with open_stores(url) as stores:
        assert stores.url == url
        streams, conversations = stores.streams, stores.conversations
        assert isinstance(streams, SqliteStreamStore)
        assert isinstance(conversations, SqliteConversationStore)
        assert streams.poll_interval == HTTP_POLL_INTERVAL
        assert streams.ttl == 120
        assert conversations.table == tables["conversations_table"]
        await streams.setup()
        await conversations.setup()
        await streams.create("s")
        assert await streams.append("s", "hello") == 1
        await streams.complete("s")
        assert [c.data async for c in streams.read_from("s")] == ["hello"]
        assert (await conversations.load("nobody")).is_empty
    client = streams.client
    assert isinstance(client, D1HttpClient)
    assert client.http_client.is_closed


async def test_open_stores_with_kv_conversations(
    standin: StandIn, cloudflare_env: dict[str, str], kv_prefix: str
) -> None:
    url = f"d1://{standin.account_id}/{standin.database_id}?kv_namespace={standin.namespace_id}"
    async with open_stores(url, conversation_options={"prefix": kv_prefix, "ttl": 600}) as stores:
        conversations = stores.conversations
        assert isinstance(conversations, KVConversationStore)
        chat = await conversations.load("s")
        chat.append({"role": "user", "content": "hi"})
        await conversations.save("s", chat)
        assert (await conversations.load("s")).messages == chat.messages
        await conversations.delete("s")


async def test_open_stores_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    with pytest.raises(ValueError, match="CLOUDFLARE_API_TOKEN"):
        async with open_stores("d1://acc/db"):
            pass


def _aibind(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aibind.core.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
        check=False,
    )


@pytest.mark.timeout(120)
async def test_cli_demo_setup_status_and_tail(
    standin: StandIn, cloudflare_env: dict[str, str], default_tables: None, tmp_path: Path
) -> None:
    url = f"d1://{standin.account_id}/{standin.database_id}"
    env = cloudflare_env
    demo = await asyncio.to_thread(_aibind, env, "demo", "--url", url, "--pace", "0.001")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "matches the source byte for byte" in demo.stdout
    assert "every seq exactly once, in order: yes" in demo.stdout
    assert "holds 1 turn" in demo.stdout
    text = tmp_path / "short.txt"
    text.write_text("A second, shorter turn: ünïcödé ☃.\n" * 4, encoding="utf-8")
    again = await asyncio.to_thread(
        _aibind, env, "demo", "--url", url, "--pace", "0", "--text", str(text)
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "holds 2 turns" in again.stdout

    setup = await asyncio.to_thread(_aibind, env, "setup", url)
    assert setup.returncode == 0, setup.stderr
    async with open_stores(url) as stores:
        await stores.streams.create("cli-stream")
        await stores.streams.append("cli-stream", "one ")
        status = await asyncio.to_thread(_aibind, env, "status", url, "cli-stream")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout) == {
            "stream_id": "cli-stream",
            "state": "active",
            "total_chunks": 1,
            "error": None,
        }
        # tail follows live from another process (it polls every HTTP_POLL_INTERVAL)
        tail = asyncio.create_task(asyncio.to_thread(_aibind, env, "tail", url, "cli-stream"))
        await asyncio.sleep(1.5)
        await stores.streams.append("cli-stream", "two")
        await stores.streams.complete("cli-stream")
        tailed = await asyncio.wait_for(tail, 30)
    assert tailed.returncode == 0, tailed.stderr
    assert tailed.stdout == "one two\n"
    assert "[done, 2 chunks]" in tailed.stderr
    missing = await asyncio.to_thread(_aibind, env, "status", url, "nope")
    assert missing.returncode == 1


LIFECYCLE_SCRIPTS = {
    "async-with": """
async def main(url, options):
    async with open_stores(url, stream_options=options) as stores:
        await use(stores)
""",
    "aclose": """
async def main(url, options):
    stores = open_stores(url, stream_options=options)
    await use(stores)
    await stores.aclose()
    await stores.aclose()
""",
    "never-closed": """
async def main(url, options):
    stores = open_stores(url, stream_options=options)
    await use(stores)
""",
}

LIFECYCLE_COMMON = """
import asyncio, json, sys, time
from aibind.core import open_stores

async def use(stores):
    streams = stores.streams
    await streams.setup()
    await streams.create("life")
    await streams.append("life", "x")
    await streams.complete("life")
    assert [c.data async for c in streams.read_from("life")] == ["x"]
    print(time.monotonic(), flush=True)
"""


@pytest.mark.parametrize("shape", sorted(LIFECYCLE_SCRIPTS))
async def test_process_exits_within_two_seconds_of_its_last_call(
    standin: StandIn, cloudflare_env: dict[str, str], tables: dict[str, str], shape: str
) -> None:
    """Issue #11: ``async with``, ``aclose()``, and a script that never closes its stores all
    end their process promptly (no thread or task of the D1 client keeps it alive)."""
    url = f"d1://{standin.account_id}/{standin.database_id}"
    streams_tables = {k: v for k, v in tables.items() if k in ("chunks_table", "status_table")}
    script = (
        LIFECYCLE_COMMON
        + LIFECYCLE_SCRIPTS[shape]
        + "\nasyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))\n"
    )
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", script, url, json.dumps(streams_tables)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **cloudflare_env},
        check=False,
    )
    exited = time.monotonic()
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    last_call = float(proc.stdout.split()[-1])
    assert exited - last_call < 2.0, f"exited {exited - last_call:.2f} s after its last call"
