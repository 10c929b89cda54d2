"""Across processes: a follower here sees appends made by another process (woken by inotify on
the database file where available, else by the sweep's cheap polling), and
appenders in several processes on one file still get seqs 1..N."""

from __future__ import annotations

import asyncio
import itertools
import sys
from pathlib import Path

import pytest

from aibind.core.types import StreamStatus
from aibind.sqlite import SqliteStreamStore
from aibind.sqlite._walwatch import watch_database

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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")
async def test_another_process_wakes_a_follower_without_waiting_for_the_poll(
    tmp_path: Path,
) -> None:
    # A 60 s sweep interval: only the file watch can deliver these 30 chunks within the test.
    path = tmp_path / "watched.db"
    async with SqliteStreamStore.from_url(f"sqlite:///{path}", poll_interval=60) as store:
        await store.setup()
        await store.create("s")
        seen: list[str] = []

        async def follow() -> None:
            async for chunk in store.read_from("s"):
                seen.append(chunk.data)

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0.1)
        await _spawn(path, "s", 30, True, "w")
        await asyncio.wait_for(follower, 30)
        assert seen == [f"w-{i}" for i in range(30)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")
async def test_watch_database_reports_writes_to_the_wal_and_stops(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    path.write_bytes(b"")
    wal = tmp_path / "w.db-wal"
    wal.write_bytes(b"")
    changed = asyncio.Event()
    stop = watch_database(str(path), changed.set)
    assert stop is not None
    with wal.open("ab") as f:
        f.write(b"frame")
    await asyncio.wait_for(changed.wait(), 10)
    stop()
    stop()  # idempotent
    changed.clear()
    with wal.open("ab") as f:
        f.write(b"frame")
    await asyncio.sleep(0.05)
    assert not changed.is_set()


async def test_nothing_to_watch_means_polling(tmp_path: Path) -> None:
    assert watch_database("", lambda: None) is None
    assert watch_database(str(tmp_path / "absent.db"), lambda: None) is None
