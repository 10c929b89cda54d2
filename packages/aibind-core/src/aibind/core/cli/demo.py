"""``aibind demo``: the whole story of a durable stream, end to end, on any backend.

1. A text (``--text FILE``, or a public-domain passage shipped with the package) is cut into
   LLM-sized tokens and fed, at model pace, through a :class:`~aibind.core.durable.DurableStream`.
2. A client reads the SSE text, then drops part way (``--drop-at``) while generation goes on.
3. The client reconnects with the last ``id:`` it saw and resumes from that seq.
4. The reassembled text must equal the source byte for byte (exit 1 otherwise).
5. The turn is recorded in the conversation store, so each run adds one turn to the session.
6. A report: stream id, chunks, where the client dropped and resumed, delivery latency, turns.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
import shlex
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from aibind.core.durable import DurableStream
from aibind.core.protocols import StreamStore
from aibind.core.registry import open_stores, redact_url

__all__ = ["DEFAULT_URL", "demo", "tokenize"]

DEFAULT_URL = "sqlite:///aibind-demo.sqlite3"
"""The embedded default: a SQLite file in the current directory."""

GAP = 0.15
"""Seconds the dropped client stays away while the model keeps generating."""

_TOKEN = re.compile(r"\s*\S{1,6}|\s+")


def tokenize(text: str) -> list[str]:
    """Cut ``text`` into LLM-like tokens (leading whitespace plus up to six characters);
    joining them gives ``text`` back exactly."""
    return _TOKEN.findall(text)


@dataclass
class _Client:
    """What the demo's SSE client saw."""

    texts: list[str] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    received_at: dict[int, float] = field(default_factory=dict)
    stream_id_messages: int = 0
    connected_at: float = field(default_factory=time.perf_counter)
    end_events: list[str] = field(default_factory=list)

    def read(self, message: str) -> None:
        """Take one SSE message as :func:`aibind.core.sse.iter_sse` yields it."""
        now = time.perf_counter()
        seq = event = None
        data: list[str] = []
        for line in message.rstrip("\n").split("\n"):
            name, _, value = line.partition(": ")
            if name == "id":
                seq = value
            elif name == "event":
                event = value
            elif name == "data":
                data.append(value)
        if event == "stream-id":
            self.stream_id_messages += 1
        elif event is not None:
            self.end_events.append(event)
        elif seq is not None:
            self.seqs.append(int(seq))
            self.received_at[int(seq)] = now
            self.texts.append("\n".join(data))


async def _source(tokens: list[str], pace: float, sent_at: dict[int, float]) -> AsyncIterator[str]:
    for seq, token in enumerate(tokens, start=1):
        await asyncio.sleep(pace)
        sent_at[seq] = time.perf_counter()
        yield token


async def _read(stream: AsyncIterator[str], client: _Client, stop_after: int | None) -> None:
    try:
        async for message in stream:
            client.read(message)
            if stop_after is not None and len(client.seqs) >= stop_after:
                return  # the client drops: the HTTP connection is gone
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def _load_text(path: str | None) -> tuple[str, str]:
    if path is None:
        return files("aibind.core.cli").joinpath("passage.txt").read_text("utf-8"), "passage"
    return Path(path).read_text(encoding="utf-8"), Path(path).name


def _first_difference(a: str, b: str) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


async def _prepare(store: object) -> None:
    method = getattr(store, "setup", None)
    if callable(method):
        await method()  # create the demo's tables if missing (idempotent)


async def demo(args: argparse.Namespace) -> int:
    """Run the demo described in the module docstring; print the report.

    Returns:
        0 if the resumed text matched the source, 1 otherwise.

    Raises:
        BackendNotFoundError: no installed backend for ``--url``.
        OSError: ``--text`` cannot be read.
        ValueError: ``--text`` is empty or ``--drop-at`` is not between 0 and 1.
    """
    text, label = _load_text(args.text)
    tokens = tokenize(text)
    if not tokens:
        raise ValueError("the text to stream is empty")
    if not 0 < args.drop_at < 1:
        raise ValueError(f"--drop-at must be between 0 and 1, got {args.drop_at}")
    drop_after = max(1, int(len(tokens) * args.drop_at))
    sent_at: dict[int, float] = {}

    async with open_stores(args.url) as stores:
        streams: StreamStore = stores.streams
        await _prepare(streams)
        await _prepare(stores.conversations)
        durable = await DurableStream.start(streams, _source(tokens, args.pace, sent_at))
        print(f"aibind demo on {redact_url(stores.url)}")
        print(f"  stream        {durable.id} started; follow it live from another shell with")
        print(f"                aibind tail {shlex.quote(stores.url)} {durable.id}", flush=True)
        first = _Client()
        await _read(durable.sse(), first, stop_after=drop_after)
        dropped_at = first.seqs[-1]
        await asyncio.sleep(GAP)
        second = _Client()
        await _read(DurableStream.resume(streams, durable.id, dropped_at), second, None)
        final = await durable.wait()

        received = "".join(first.texts + second.texts)
        matched = received == text
        chat = await stores.conversations.load(args.session)
        chat.append({"role": "user", "content": f"Recite {label}, please."})
        chat.append({"role": "assistant", "content": received})
        await stores.conversations.save(args.session, chat)
        turns = sum(
            1
            for m in (await stores.conversations.load(args.session)).messages
            if m["role"] == "user"
        )

    # Delivery latency of live chunks only: those produced while a client was connected
    # (chunks produced during the drop are replayed on resume, not delivered live).
    latencies = sorted(
        (at - sent_at[seq]) * 1000
        for c in (first, second)
        for seq, at in c.received_at.items()
        if sent_at[seq] >= c.connected_at
    )
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    seqs = first.seqs + second.seqs
    in_order = seqs == list(range(1, len(tokens) + 1))
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    print(f"  stream        {durable.id}: {final.total_chunks} chunks, {final.state}")
    print(
        f"  source        {label}: {len(text.encode())} bytes, {len(tokens)} tokens, "
        f"one every {args.pace * 1000:g} ms"
    )
    print(f"  client        received seq 1..{dropped_at}, then dropped the connection")
    print(
        f"  resumed       after seq {dropped_at} ({GAP * 1000:g} ms later): received seq "
        f"{second.seqs[0] if second.seqs else '-'}..{second.seqs[-1] if second.seqs else '-'}"
        f", ended with '{' + '.join(second.end_events)}'"
    )
    print(
        f"  delivery      every seq exactly once, in order: {'yes' if in_order else 'NO'}; "
        f"stream-id message only on the first connection: "
        f"{'yes' if (first.stream_id_messages, second.stream_id_messages) == (1, 0) else 'NO'}"
    )
    print(
        f"  latency       token produced -> client received: p50 {p50:.2f} ms, "
        f"p99 {p99:.2f} ms over {len(latencies)} live chunks"
    )
    if matched:
        print(f"  text          matches the source byte for byte (sha256 {digest}…)")
    else:
        at = _first_difference(received, text)
        print(f"  text          DIFFERS from the source at character {at}")
    print(
        f"  conversation  session {args.session!r} now holds {turns} turn"
        f"{'s' if turns != 1 else ''}"
    )
    ok = matched and in_order and final.state == "done"
    return 0 if ok else 1
