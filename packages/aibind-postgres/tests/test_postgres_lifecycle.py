"""The store lifecycle in a real process (issue #11 "What it must show" 1): ``async with
X.from_url(url) as s:`` and ``s = X.from_url(url); ...; await s.aclose()`` both work, and the
process exits within 2 s of its last call; a script that never closes its stores (pool, LISTEN
connection, sweep task and all) still exits when ``asyncio.run()`` returns."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
from postgres_testkit import pg_schema

from aibind.conformance.servers import Server

__all__ = ["pg_schema"]

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, time
    from aibind.core import ChatHistory
    from aibind.core.errors import StoreClosedError
    from aibind.postgres import PostgresConversationStore, PostgresStreamStore

    url, mode, schema = sys.argv[1], sys.argv[2], sys.argv[3]
    tables = {"chunks_table": schema + ".c", "status_table": schema + ".s"}

    async def use(streams, conversations):
        await streams.create("s1")
        await streams.create("s2")
        follower = asyncio.ensure_future(
            asyncio.wait_for(_collect(streams.read_from("s1")), 10)
        )
        await asyncio.sleep(0.2)  # the follower waits: LISTEN connection and sweep running
        await streams.append("s1", "hello")
        await streams.complete("s1")
        assert await follower == ["hello"], "follower"
        other = asyncio.ensure_future(_collect(streams.read_from("s2")))
        await asyncio.sleep(0.2)  # a follower still waiting when the script ends
        chat = ChatHistory()
        chat.append({"role": "user", "content": "hi"})
        await conversations.save("c1", chat)
        assert (await conversations.load("c1")).to_json() == chat.to_json()
        return other

    async def _collect(chunks):
        return [c.data async for c in chunks]

    async def main():
        streams = PostgresStreamStore.from_url(url, **tables)
        conversations = PostgresConversationStore.from_url(url, table=schema + ".conv")
        if mode == "async-with":
            async with streams, conversations:
                await streams.setup()
                await conversations.setup()
                other = await use(streams, conversations)
        else:
            await streams.setup()
            await conversations.setup()
            other = await use(streams, conversations)
            if mode == "aclose":
                await streams.aclose()
                await conversations.aclose()
        if mode != "never-closed":  # closing the store ended its waiting follower
            try:
                await other
                raise AssertionError("the follower should have ended with StoreClosedError")
            except StoreClosedError:
                pass
        print("LAST", time.time(), flush=True)

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
@pytest.mark.parametrize("mode", ["async-with", "aclose", "never-closed"])
@pytest.mark.timeout(60)
def test_process_exits_promptly(
    postgres_server: Server, pg_schema: str, driver: str, mode: str
) -> None:
    url = f"{postgres_server.url}?driver={driver}"
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, url, mode, pg_schema],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"the process did not exit ({mode}); stderr: {err[-2000:]}")
    exited = time.time()
    assert process.returncode == 0, err[-3000:]
    last = [line for line in out.splitlines() if line.startswith("LAST ")]
    assert last, out
    assert exited - float(last[0].split()[1]) < 2.0, (
        f"exited {exited - float(last[0].split()[1]):.2f} s after the last call"
    )
    assert "Traceback" not in err, err[-3000:]
