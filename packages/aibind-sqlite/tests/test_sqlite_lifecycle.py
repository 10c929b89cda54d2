"""The one store lifecycle on SQLite, in real subprocesses: ``async with X.from_url(url)`` and
``X.from_url(url) ... await aclose()`` both work, and the process exits promptly afterwards —
also when a script never closes its store (the worker thread never keeps a process alive)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPTS = {
    "async-with": """
import asyncio, sys, time
from aibind.sqlite import SqliteConversationStore, SqliteStreamStore

async def main(url):
    async with SqliteStreamStore.from_url(url) as streams:
        await streams.setup()
        await streams.create("s")
        await streams.append("s", "x")
        await streams.complete("s")
        assert [c.data async for c in streams.read_from("s")] == ["x"]
    async with SqliteConversationStore.from_url(url) as conversations:
        await conversations.setup()
        assert (await conversations.load("c")).is_empty
    print(time.monotonic(), flush=True)

asyncio.run(main(sys.argv[1]))
""",
    "aclose": """
import asyncio, sys, time
from aibind.sqlite import SqliteStreamStore

async def main(url):
    store = SqliteStreamStore.from_url(url)
    await store.setup()
    await store.create("s")
    await store.append("s", "x")
    await store.aclose()
    await store.aclose()
    print(time.monotonic(), flush=True)

asyncio.run(main(sys.argv[1]))
""",
    "never-closed": """
import asyncio, sys, time
from aibind.core import open_stores
from aibind.sqlite import SqliteStreamStore

async def main(url):
    store = SqliteStreamStore.from_url(url)
    await store.setup()
    await store.create("s")
    await store.append("s", "x")
    stores = open_stores(url)  # a pair, opened by use and never closed either
    await stores.streams.get_status("s")
    print(time.monotonic(), flush=True)

asyncio.run(main(sys.argv[1]))
""",
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_process_exits_within_two_seconds_of_its_last_call(tmp_path: Path, script: str) -> None:
    url = f"sqlite:///{tmp_path / 'life.db'}"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPTS[script], url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    exited = time.monotonic()
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Event loop is closed" not in proc.stderr
    last_call = float(proc.stdout.split()[-1])
    assert exited - last_call < 2.0, f"exited {exited - last_call:.2f} s after its last call"
