"""What every part of the bench shares: the backends to measure, the run's sizes, the npm
reference figures, clocks and statistics."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aibind.core import ChatHistory, ConversationMessage

NPM: dict[str, dict[str, float]] = {
    # DESIGN.md "Performance": the npm packages on this kind of machine (loopback, 2 cores).
    "redis": {"seq": 2892, "conc": 26556, "p50": 23.6, "p99": 49.2, "replay0": 7.8, "conv": 0.87},
    "postgresql": {
        "seq": 2344,
        "conc": 7219,
        "p50": 51.7,
        "p99": 101.0,
        "replay0": 11.3,
        "conv": 1.93,
    },
    "sqlite": {"seq": 15610, "conc": 16490, "p50": 25.6, "p99": 50.3, "replay0": 9.0, "conv": 0.57},
}


def now() -> float:
    """Seconds on the system-wide monotonic clock: comparable between processes of this
    machine (a writer process stamps each chunk, the follower subtracts)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


@dataclass(frozen=True)
class Sizes:
    """The counts of one run: the npm reference workloads, or small ones with ``--quick``."""

    warmup: int = 200
    sequential: int = 5000
    streams: int = 50
    per_stream: int = 200
    follow_chunks: int = 500
    follow_every: float = 0.010
    replay_chunks: int = 10_000
    replay_from: int = 9000
    replay_repeats: int = 5
    big_chunks: int = 500
    big_size: int = 64 * 1024
    conv_messages: int = 200
    conv_warmup: int = 10
    conv_iterations: int = 200
    raw_samples: int = 1000
    scale_streams: dict[str, int] = field(
        default_factory=lambda: {"redis": 10_000, "postgresql": 1000, "sqlite": 1000}
    )
    scale_rate: float = 1000.0
    scale_seconds: float = 10.0

    @classmethod
    def quick(cls) -> Sizes:
        """Small counts for CI (``--quick``): every code path, a few seconds per backend."""
        return cls(
            warmup=20,
            sequential=300,
            streams=20,
            per_stream=20,
            follow_chunks=40,
            replay_chunks=2000,
            replay_from=1800,
            replay_repeats=3,
            big_chunks=20,
            conv_warmup=2,
            conv_iterations=20,
            raw_samples=200,
            scale_streams={"redis": 300, "postgresql": 100, "sqlite": 100},
            scale_rate=300.0,
            scale_seconds=1.0,
        )


@dataclass
class Backend:
    """One backend to measure: its URL and the store options that keep the run's data apart
    (a key prefix, table names) so it can all be dropped at the end."""

    name: str
    url: str
    run: str
    stream_options: dict[str, Any] = field(default_factory=dict)
    conversation_options: dict[str, Any] = field(default_factory=dict)


def backends(tmp: Path, run: str) -> list[Backend]:
    """The backends to try, from the environment or the conventional local addresses."""
    redis = os.environ.get("AIBIND_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    pg = os.environ.get("AIBIND_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    return [
        Backend("memory", "memory://", run),
        Backend("sqlite", f"sqlite:///{tmp}/bench.db", run),
        Backend(
            "redis",
            redis,
            run,
            {"prefix": f"aibind-bench-{run}"},
            {"prefix": f"aibind-bench-{run}-conv"},
        ),
        Backend(
            "postgresql",
            pg,
            run,
            {"chunks_table": f"bench_{run}_chunks", "status_table": f"bench_{run}_status"},
            {"table": f"bench_{run}_conv"},
        ),
    ]


def chat_of(messages: int) -> ChatHistory[ConversationMessage]:
    """A linear history of ``messages`` messages of about 190 characters each (the npm
    reference workload: ~107 KB of JSON for 200)."""
    chat: ChatHistory[ConversationMessage] = ChatHistory()
    filler = "lorem ipsum dolor sit amet " * 8
    for i in range(messages):
        role = "user" if i % 2 == 0 else "assistant"
        head = f"message {i} from the {role}: "
        chat.append({"role": role, "content": (head + filler)[:190]})
    return chat


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.99 for p99) of ``samples``."""
    ordered = sorted(samples)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summary(samples: Sequence[float]) -> dict[str, float]:
    """p50 / p99 / max and the count of latency samples in milliseconds."""
    return {
        "p50": percentile(samples, 0.5),
        "p99": percentile(samples, 0.99),
        "max": max(samples) if samples else math.nan,
        "n": float(len(samples)),
    }
