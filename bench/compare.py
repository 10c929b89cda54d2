"""Ours and the raw baseline timed side by side: blocks (or single reads) alternating between
the two, so drift of a shared machine (other processes, a WAL checkpoint, the disk) falls on
both sides alike and each ratio compares like with like."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from common import summary

Op = Callable[[int], Awaitable[object]]


async def appends(ours: Op, raw: Op | None, warmup: int, total: int, blocks: int = 10) -> dict:
    """Sequential appends: ``warmup`` of each untimed, then ``total`` of each in ``blocks``
    alternating blocks. Rates are the median block's appends/s; ``write`` summarises each raw
    call's latency (the floor of any delivery)."""
    for i in range(warmup):
        await ours(i)
        if raw is not None:
            await raw(i)
    size = max(1, total // blocks)
    rates: dict[str, list[float]] = {"ours": [], "raw": []}
    write: list[float] = []
    n = warmup
    for _ in range(blocks):
        start = time.perf_counter()
        for i in range(size):
            await ours(n + i)
        rates["ours"].append(size / (time.perf_counter() - start))
        if raw is not None:
            start = time.perf_counter()
            for i in range(size):
                t0 = time.perf_counter()
                await raw(n + i)
                write.append((time.perf_counter() - t0) * 1000)
            rates["raw"].append(size / (time.perf_counter() - start))
        n += size
    out: dict[str, Any] = {"ours": statistics.median(rates["ours"]), "blocks": rates}
    if raw is not None:
        out["raw"] = statistics.median(rates["raw"])
        out["write"] = summary(write)
    return out


async def paced(op: Op, start: int, count: int, every: float) -> dict[str, float]:
    """``count`` calls of ``op`` one every ``every`` seconds (the delivery workload's
    schedule), each timed: the raw write round trip a paced delivery stands on. Measured
    apart from :func:`appends` because a write after an idle pause is slower than one in a
    tight loop (the server process and the CPU wake up first: a PostgreSQL ``INSERT`` took
    0.37 ms in a loop and 1.05 ms every 10 ms on the development machine), for a raw write
    as for ours."""
    clock = time.perf_counter
    latencies: list[float] = []
    due = clock()
    for i in range(count):
        t0 = clock()
        await op(start + i)
        latencies.append((clock() - t0) * 1000)
        due += every
        pause = due - clock()
        if pause > 0:
            await asyncio.sleep(pause)
    return summary(latencies)


async def reads(
    ours: Callable[[], Awaitable[object]],
    raw: Callable[[], Awaitable[object]] | None,
    repeats: int,
) -> dict[str, dict[str, float]]:
    """A raw read then our read, ``repeats + 1`` times: the first pair is the cold one, the
    median of the others the figure (milliseconds)."""
    times: dict[str, list[float]] = {"ours": [], "raw": []}
    for _ in range(repeats + 1):
        if raw is not None:
            t0 = time.perf_counter()
            await raw()
            times["raw"].append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        await ours()
        times["ours"].append((time.perf_counter() - t0) * 1000)
    return {
        side: {"cold": found[0], "median": statistics.median(found[1:])}
        for side, found in times.items()
        if found
    }


async def round_trips(
    ours: Callable[[], Awaitable[object]],
    raw: Callable[[], Awaitable[object]] | None,
    warmup: int,
    iterations: int,
    blocks: int = 10,
) -> dict[str, float]:
    """p50 milliseconds of ``iterations`` calls of each side (after ``warmup``), in
    alternating blocks."""
    for _ in range(warmup):
        await ours()
        if raw is not None:
            await raw()
    samples: dict[str, list[float]] = {"ours": [], "raw": []}
    size = max(1, iterations // blocks)
    for _ in range(blocks):
        for side, op in (("ours", ours), ("raw", raw)):
            if op is None:
                continue
            for _ in range(size):
                t0 = time.perf_counter()
                await op()
                samples[side].append((time.perf_counter() - t0) * 1000)
    return {side: statistics.median(found) for side, found in samples.items() if found}
