"""Across processes: a follower here sees appends made by another process (cheap polling), and
appenders in several processes on one file still get seqs 1..N."""

from __future__ import annotations

import asyncio
import itertools
import sys
from pathlib import Path

from aibind.core.types import StreamStatus
from aibind.sqlite import SqliteStreamStore

WRITER = """
import asyncio, sys
from aibind.sqlite import SqliteStreamStore

async def main(path, stream_id, count, finish):
    async with SqliteStreamStore.from_url("sqlite:///" + path, poll_interval=None) as store:
        seqs = []
        for i in range(count):
            seqs.append(await store.append(stream_id, f"{sys.argv[5]}-{i}"))
            await asyncio.sleep(0.002)
        if finish == "1":
            await store.complete(stream_id)
        print(" ".join(map(str, seqs)))

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
"""


async def _spawn(path: Path, sid: str, count: int, finish: bool, tag: str) -> list[int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WRITER,
        str(path),
        sid,
        str(count),
        "1" if finish else "0",
        tag,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return [int(s) for s in out.split()]


async def test_follower_sees_appends_of_another_process(tmp_path: Path) -> None:
    path = tmp_path / "xproc.db"
    async with SqliteStreamStore.from_url(f"sqlite:///{path}", poll_interval=0.02) as store:
        await store.setup()
        await store.create("s")
        seen: list[str] = []

        async def follow() -> None:
            async for chunk in store.read_from("s"):
                seen.append(chunk.data)

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0.1)  # the follower is caught up and waiting
        await _spawn(path, "s", 30, True, "p")
        await asyncio.wait_for(follower, 20)
        assert seen == [f"p-{i}" for i in range(30)]


async def test_appenders_in_several_processes_get_gap_free_seqs(tmp_path: Path) -> None:
    path = tmp_path / "xproc2.db"
    async with SqliteStreamStore.from_url(f"sqlite:///{path}") as store:
        await store.setup()
        await store.create("s")

        async def local() -> list[int]:
            seqs = []
            for i in range(40):
                seqs.append(await store.append("s", f"local-{i}"))
                await asyncio.sleep(0)
            return seqs

        results = await asyncio.gather(
            _spawn(path, "s", 40, False, "a"), _spawn(path, "s", 40, False, "b"), local()
        )
        for seqs in results:
            assert seqs == sorted(seqs)
        assert sorted(itertools.chain.from_iterable(results)) == list(range(1, 121))
        assert await store.get_status("s") == StreamStatus("active", 120, None)
