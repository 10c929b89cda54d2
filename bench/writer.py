"""A paced writer: appends chunks stamped with the send time to a set of streams at a fixed
rate, then completes them. Used in-process, and as a separate process (``python writer.py``,
configured by one JSON argument) for the delivery and scale cases whose writer is another
process: it prints ``ready`` once its store is open, starts on a ``go`` line on stdin and
prints a JSON summary at the end.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import now, summary

from aibind.core import open_stores
from aibind.core.protocols import StreamStore

STAMP = "t:"
"""Prefix of a stamped chunk: ``t:<seconds on the monotonic clock>``."""


async def write_paced(
    store: StreamStore, ids: Sequence[str], rate: float, count: int, *, concurrency: int = 64
) -> dict[str, float]:
    """Append ``count`` stamped chunks, chunk ``k`` to ``ids[k % len(ids)]`` at ``start + k /
    rate`` (each append its own task, so a slow one does not shift the schedule), then complete
    every stream.

    Returns:
        ``{"sent": ..., "errors": ..., "rate": achieved appends/s, "lag_ms": worst start delay,
        "append_p50_ms"/"append_p99_ms"/"append_max_ms": the appends' own round trips}`` (a
        delivery is never faster than its append: these tell a slow write from a slow
        follower)
    """
    gate = asyncio.Semaphore(concurrency)
    errors = 0
    tasks: set[asyncio.Task[None]] = set()
    took: list[float] = []

    async def one(sid: str) -> None:
        nonlocal errors
        async with gate:
            sent = now()
            try:
                await store.append(sid, f"{STAMP}{sent!r}")
            except Exception as exc:
                errors += 1
                print(f"append failed: {exc!r}", file=sys.stderr)
            else:
                took.append((now() - sent) * 1000)

    start = now()
    lag = 0.0
    for k in range(count):
        due = start + k / rate
        delay = due - now()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            lag = max(lag, -delay)
        task = asyncio.create_task(one(ids[k % len(ids)]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    elapsed = now() - start

    async def finish(sid: str) -> None:
        async with gate:
            await store.complete(sid)

    await asyncio.gather(*(finish(sid) for sid in ids))
    appends = summary(took)
    return {
        "sent": float(count - errors),
        "errors": float(errors),
        "rate": count / elapsed if elapsed > 0 else 0.0,
        "lag_ms": lag * 1000,
        "append_p50_ms": appends["p50"],
        "append_p99_ms": appends["p99"],
        "append_max_ms": appends["max"],
    }


async def _main(config: dict[str, Any], ids: list[str]) -> None:
    async with open_stores(config["url"], stream_options=config["options"]) as stores:
        # one round trip first, so the connection is up before the schedule starts
        await stores.streams.get_status(ids[0])
        print("ready", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        if line.strip() != "go":
            return
        result = await write_paced(stores.streams, ids, config["rate"], config["count"])
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    settings = json.loads(sys.argv[1])
    asyncio.run(_main(settings, Path(settings["ids"]).read_text().split()))
