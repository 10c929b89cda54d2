"""Benchmarks of every installed backend, each figure beside a raw-driver baseline.

Run by ``nox -s bench`` (see bench/README.md). Prints one table; writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baselines import BASELINES, Baseline

from aibind.core import ChatHistory, ConversationMessage, open_stores
from aibind.core.errors import BackendNotFoundError
from aibind.core.protocols import ConversationStore, StreamStore

NPM = {  # DESIGN.md, "Performance": npm figures on this kind of machine
    "redis": {"seq": 2892, "conc": 26556, "p50": 23.6, "p99": 49.2, "replay": 7.8, "conv": 0.87},
    "postgresql": {
        "seq": 2344,
        "conc": 7219,
        "p50": 51.7,
        "p99": 101.0,
        "replay": 11.3,
        "conv": 1.93,
    },
    "sqlite": {"seq": 15610, "conc": 16490, "p50": 25.6, "p99": 50.3, "replay": 9.0, "conv": 0.57},
}


@dataclass
class Target:
    """One backend to measure."""

    name: str
    url: str
    stream_options: dict[str, Any] = field(default_factory=dict)
    push_options: dict[str, Any] = field(default_factory=dict)


def targets(tmp: Path) -> list[Target]:
    """The backends to try, from the environment or the conventional local addresses."""
    redis = os.environ.get("AIBIND_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    pg = os.environ.get("AIBIND_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    run = uuid.uuid4().hex[:8]
    return [
        Target("memory", "memory://"),
        Target("sqlite", f"sqlite:///{tmp}/bench.db", push_options={"poll_interval": None}),
        Target("redis", redis, {"prefix": f"aibind-bench-{run}"}, {"poll_interval": None}),
        Target(
            "postgresql",
            pg,
            {"chunks_table": f"bench_{run}_chunks", "status_table": f"bench_{run}_status"},
            {"poll_interval": None},
        ),
    ]


async def timed(n: int, op: Callable[[int], Awaitable[object]]) -> float:
    """Run ``op(i)`` for i in range(n) one after another; return operations per second."""
    start = time.perf_counter()
    for i in range(n):
        await op(i)
    return n / (time.perf_counter() - start)


async def sequential(store: StreamStore, n: int) -> float:
    sid = uuid.uuid4().hex
    await store.create(sid)
    rate = await timed(n, lambda i: store.append(sid, f"token {i} "))
    await store.complete(sid)
    return rate


async def concurrent(store: StreamStore, streams: int, per: int) -> float:
    ids = [uuid.uuid4().hex for _ in range(streams)]
    for sid in ids:
        await store.create(sid)

    async def one(sid: str) -> None:
        for i in range(per):
            await store.append(sid, f"t{i}")

    start = time.perf_counter()
    await asyncio.gather(*(one(sid) for sid in ids))
    rate = streams * per / (time.perf_counter() - start)
    for sid in ids:
        await store.complete(sid)
    return rate


async def latency(writer: StreamStore, reader: StreamStore, n: int) -> tuple[float, float]:
    """Append on ``writer`` until a follower on ``reader`` has the chunk; p50 and p99 in ms."""
    sid = uuid.uuid4().hex
    await writer.create(sid)
    await writer.append(sid, "warm-up")
    got: asyncio.Queue[float] = asyncio.Queue()

    async def follow() -> None:
        async for _ in reader.read_from(sid):
            got.put_nowait(time.perf_counter())

    task = asyncio.create_task(follow())
    await got.get()
    samples = []
    for i in range(n):
        start = time.perf_counter()
        await writer.append(sid, f"t{i}")
        samples.append((await asyncio.wait_for(got.get(), 10) - start) * 1000)
        await asyncio.sleep(0.001)
    await writer.complete(sid)
    await task
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


async def replay(store: StreamStore, n: int) -> float:
    sid = uuid.uuid4().hex
    await store.create(sid)
    append_many = getattr(store, "append_many", None)
    for start in range(0, n, 500):
        batch = [f"token {i} " for i in range(start, min(n, start + 500))]
        if append_many is not None:
            await append_many(sid, batch)
        else:
            for chunk in batch:
                await store.append(sid, chunk)
    await store.complete(sid)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        count = sum([1 async for _ in store.read_from(sid)])
        best = min(best, (time.perf_counter() - t0) * 1000)
        assert count == n
    return best


def chat_of(messages: int) -> ChatHistory[ConversationMessage]:
    chat: ChatHistory[ConversationMessage] = ChatHistory()
    for i in range(messages):
        role = "user" if i % 2 == 0 else "assistant"
        chat.append({"role": role, "content": f"message {i}: " + "lorem ipsum " * 20})
    return chat


async def conversation(store: ConversationStore, n: int) -> float:
    chat = chat_of(200)
    sid = uuid.uuid4().hex
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        await store.save(sid, chat)
        loaded = await store.load(sid)
        samples.append((time.perf_counter() - t0) * 1000)
    assert loaded.size == 200
    await store.delete(sid)
    return statistics.median(samples)


async def measure(target: Target, quick: bool) -> dict[str, Any] | None:
    scale = 4 if quick else 1
    async with AsyncExitStack() as stack:
        try:
            stores = await stack.enter_async_context(
                open_stores(target.url, stream_options=target.stream_options)
            )
        except (BackendNotFoundError, OSError, ImportError) as exc:
            print(f"skip {target.name}: {exc}")
            return None
        except Exception as exc:  # a server that does not answer
            print(f"skip {target.name}: {type(exc).__name__}: {exc}")
            return None
        for store in (stores.streams, stores.conversations):
            setup = getattr(store, "setup", None)
            if setup is not None:
                await setup()
        reader = stores.streams
        if target.name != "memory":
            options = {**target.stream_options, **target.push_options}
            push = await stack.enter_async_context(open_stores(target.url, stream_options=options))
            reader = push.streams
        base: Baseline | None = BASELINES.get(target.name)
        baseline = await base(target.url, quick) if base is not None else {}
        p50, p99 = await latency(stores.streams, reader, 300 // scale)
        result = {
            "seq": await sequential(stores.streams, 2000 // scale),
            "conc": await concurrent(stores.streams, 50, 200 // scale),
            "p50": p50,
            "p99": p99,
            "replay": await replay(stores.streams, 10_000),
            "conv": await conversation(stores.conversations, 50 // scale),
        }
        drop = getattr(stores.streams, "drop_tables", None)
        if drop is not None:
            await drop()
    return {"ours": result, "baseline": baseline, "npm": NPM.get(target.name, {})}


ROWS = [
    ("seq", "sequential append/s", "{:,.0f}"),
    ("conc", "50x200 concurrent append/s", "{:,.0f}"),
    ("p50", "delivery p50 ms", "{:.2f}"),
    ("p99", "delivery p99 ms", "{:.2f}"),
    ("replay", "replay 10k chunks ms", "{:.1f}"),
    ("conv", "conversation save+load ms", "{:.2f}"),
]


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'backend':10} {'figure':28} {'ours':>10} {'baseline':>10} {'npm':>10}"]
    for name, res in results.items():
        for key, label, fmt in ROWS:
            cells = [res[part].get(key) for part in ("ours", "baseline", "npm")]
            text = [fmt.format(c) if c is not None else "-" for c in cells]
            lines.append(f"{name:10} {label:28} {text[0]:>10} {text[1]:>10} {text[2]:>10}")
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="comma-separated backends (memory,sqlite,redis,postgresql)")
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for target in targets(Path(tmp)):
            if args.only and target.name not in args.only.split(","):
                continue
            found = await measure(target, args.quick)
            if found is not None:
                results[target.name] = found
    print(table(results))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    path = out / time.strftime("%Y%m%d-%H%M%S.json")
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    asyncio.run(main())
