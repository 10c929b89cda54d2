"""Delivery latency: followers of many streams, a paced writer in this process or in another
one, each chunk's latency from its send stamp to its arrival at the follower."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import Backend, now, summary
from writer import STAMP, write_paced

from aibind.core import open_stores
from aibind.core.protocols import StreamStore

WRITER = Path(__file__).with_name("writer.py")


class Followers:
    """One ``read_from`` follower per stream on ``store``; each stream holds one chunk before
    they start (so a follower that delivered it has subscribed and read), then stamped ones."""

    def __init__(self, store: StreamStore, ids: Sequence[str]) -> None:
        self.store = store
        self.ids = list(ids)
        self.latencies: list[float] = []
        self._ready = 0
        self._all_ready = asyncio.Event()
        self.error: BaseException | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def _one(self, sid: str) -> None:
        first = True
        try:
            async for chunk in self.store.read_from(sid):
                if first:
                    first = False
                    self._ready += 1
                    if self._ready == len(self.ids):
                        self._all_ready.set()
                    continue
                arrived = now()
                self.latencies.append((arrived - float(chunk.data[len(STAMP) :])) * 1000)
        except BaseException as exc:
            if self.error is None:
                self.error = exc
            self._all_ready.set()  # a failed follower ends the wait in start()
            raise

    async def start(self, timeout: float = 60.0) -> float:
        """Start every follower; return the seconds until all of them delivered their
        stream's first chunk (subscribed and read)."""
        t0 = time.perf_counter()
        self._tasks = [asyncio.create_task(self._one(sid)) for sid in self.ids]
        try:
            await asyncio.wait_for(self._all_ready.wait(), timeout)
        except asyncio.TimeoutError:
            await self.cancel()
            raise TimeoutError(
                f"{len(self.ids) - self._ready} followers not ready in {timeout} s"
            ) from None
        if self.error is not None:
            await self.cancel()
            raise self.error
        return time.perf_counter() - t0

    async def finish(self, timeout: float = 60.0) -> list[float]:
        """Wait for every follower to end (its stream completed); return the latencies (ms)."""
        try:
            await asyncio.wait_for(asyncio.gather(*self._tasks), timeout)
        finally:
            await self.cancel()
        return self.latencies

    async def cancel(self) -> None:
        """Stop any follower still running."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def seeded_streams(store: StreamStore, count: int, *, concurrency: int = 100) -> list[str]:
    """``count`` new streams, each holding one ``hello`` chunk."""
    ids = [uuid.uuid4().hex for _ in range(count)]
    gate = asyncio.Semaphore(concurrency)

    async def one(sid: str) -> None:
        async with gate:
            await store.create(sid)
            await store.append(sid, "hello")

    await asyncio.gather(*(one(sid) for sid in ids))
    return ids


async def _spawn_writer(backend: Backend, ids: Sequence[str], rate: float, count: int) -> Any:
    folder = Path(tempfile.mkdtemp(prefix="aibind-bench-"))
    ids_file = folder / "ids.txt"
    ids_file.write_text("\n".join(ids))
    config = {
        "url": backend.url,
        "options": backend.stream_options,
        "ids": str(ids_file),
        "rate": rate,
        "count": count,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WRITER),
        json.dumps(config),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    if line.strip() != b"ready":
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"the writer process did not start (said {line!r})")
    return proc, folder


async def run_case(
    backend: Backend,
    reader: StreamStore,
    writer: StreamStore | None,
    streams: int,
    rate: float,
    count: int,
) -> dict[str, Any]:
    """Follow ``streams`` streams on ``reader`` while a paced writer appends ``count`` stamped
    chunks at ``rate``/s spread over them: in this process on ``writer``, or (``writer`` None)
    in a separate process on its own store.

    Returns:
        the latency summary (ms), ``subscribe_s`` (until every follower had read),
        ``cpu`` (this process's CPU seconds per wall second while following), and the writer's
        own summary (achieved rate, errors).
    """
    ids = await seeded_streams(writer or reader, streams)
    followers = Followers(reader, ids)
    subscribe_s = await followers.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if writer is not None:
        written = await write_paced(writer, ids, rate, count)
        latencies = await followers.finish()
    else:
        proc, folder = await _spawn_writer(backend, ids, rate, count)
        try:
            assert proc.stdin is not None
            assert proc.stdout is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
            out = await asyncio.wait_for(proc.stdout.read(), count / rate + 120)
            if await proc.wait() != 0:
                raise RuntimeError(f"the writer process failed (exit {proc.returncode})")
            written = json.loads(out.decode().strip().splitlines()[-1])
            latencies = await followers.finish()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()
    cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    if len(latencies) != written["sent"]:
        raise AssertionError(f"followers got {len(latencies)} of {written['sent']} chunks")
    return {
        **summary(latencies),
        "samples": latencies,
        "subscribe_s": subscribe_s,
        "cpu": cpu,
        "writer": written,
    }


async def delivery(backend: Backend, follow_chunks: int, every: float) -> dict[str, Any]:
    """The npm delivery workload: one follower, ``follow_chunks`` chunks appended on an
    ``every``-second schedule; the writer in this process (its own store, so its own
    connection) and then in another process."""
    out: dict[str, Any] = {}
    async with open_stores(backend.url, stream_options=backend.stream_options) as read:
        if backend.name == "memory":  # one store: memory stores do not share data
            out["local"] = await run_case(
                backend, read.streams, read.streams, 1, 1 / every, follow_chunks
            )
            return out
        async with open_stores(backend.url, stream_options=backend.stream_options) as write:
            out["local"] = await run_case(
                backend, read.streams, write.streams, 1, 1 / every, follow_chunks
            )
        out["remote"] = await run_case(backend, read.streams, None, 1, 1 / every, follow_chunks)
    return out


async def scale(backend: Backend, streams: int, rate: float, seconds: float) -> dict[str, Any]:
    """``streams`` live streams with one follower each in this process, a writer process
    appending ``rate``/s spread over them for ``seconds``."""
    async with open_stores(backend.url, stream_options=backend.stream_options) as read:
        return await run_case(backend, read.streams, None, streams, rate, round(rate * seconds))
