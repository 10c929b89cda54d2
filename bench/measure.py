"""Every figure of one backend: ours and, beside it, the raw baseline, timed side by side
(:mod:`compare`), then delivery and the live-streams case (:mod:`delivery`)."""

from __future__ import annotations

import sys
import time
import uuid
from typing import Any

import baselines
import compare
import workloads
from common import Backend, Sizes, chat_of
from delivery import delivery, scale
from http_resume import http_resume

from aibind.core import open_stores
from aibind.core.protocols import ConversationStore, StreamStore


def log(message: str) -> None:
    """One progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def _appends(
    store: StreamStore, base: baselines.Raw | None, sizes: Sizes
) -> tuple[dict[str, Any], dict[str, Any]]:
    sid = uuid.uuid4().hex
    await store.create(sid)
    raw_op = base.append if base is not None else None
    found = await compare.appends(
        lambda i: store.append(sid, f"token {i} "), raw_op, sizes.warmup, sizes.sequential
    )
    await store.complete(sid)
    ours = {"seq": found["ours"], "seq_blocks": found["blocks"]["ours"]}
    raw = {}
    if base is not None:
        raw = {"seq": found["raw"], "seq_blocks": found["blocks"]["raw"], "write": found["write"]}
    return ours, raw


async def _replays(
    store: StreamStore, base: baselines.Raw | None, sizes: Sizes
) -> tuple[dict[str, Any], dict[str, Any]]:
    tokens = workloads.token_chunks(sizes.replay_chunks)
    sid = await workloads.filled_stream(store, tokens)
    big = workloads.big_chunks(sizes.big_chunks, sizes.big_size)
    big_sid = await workloads.filled_stream(store, big)
    ours: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    for key, stream, after, expect in (
        ("replay0", sid, 0, len(tokens)),
        ("replay_tail", sid, sizes.replay_from, len(tokens) - sizes.replay_from),
        ("big", big_sid, 0, len(big)),
    ):
        for suffix, reader in (("", workloads.reader), ("_pages", workloads.page_reader)):
            found = await compare.reads(
                reader(store, stream, after, expect),
                base.reader(stream, after, expect) if base is not None else None,
                sizes.replay_repeats,
            )
            ours[key + suffix] = found["ours"]
            if "raw" in found:
                raw[key + suffix] = found["raw"]
    delete = getattr(store, "delete", None)
    if delete is not None:
        for stream in (sid, big_sid):
            await delete(stream)
    return ours, raw


async def _conversations(
    store: ConversationStore, base: baselines.Raw | None, sizes: Sizes
) -> tuple[dict[str, Any], dict[str, Any]]:
    chat = chat_of(sizes.conv_messages)
    text = chat.to_json()
    sid = uuid.uuid4().hex

    async def ours() -> None:
        await store.save(sid, chat)
        loaded = await store.load(sid)
        if loaded.size != sizes.conv_messages:
            raise AssertionError(f"loaded {loaded.size} messages")

    raw_op = None
    if base is not None:
        conv_set, conv_get = base.conv_set, base.conv_get

        async def raw_op() -> None:
            await conv_set(text)
            if await conv_get() != text:
                raise AssertionError("the raw read did not return the bytes written")

    found = await compare.round_trips(ours, raw_op, sizes.conv_warmup, sizes.conv_iterations)
    if (await store.load(sid)).to_json() != text:
        raise AssertionError("the conversation did not round-trip byte for byte")
    await store.delete(sid)
    size = len(text.encode())
    raw = {"conv": {"p50": found["raw"]}} if "raw" in found else {}
    return {"conv": {"p50": found["ours"], "bytes": size}}, raw


async def measure(
    backend: Backend, sizes: Sizes, failures: list[str], *, with_scale: bool
) -> dict[str, Any]:
    """Every figure of one backend; a live-streams case that fails is reported in
    ``failures`` and the other figures are kept."""
    ours: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    opened = open_stores(
        backend.url,
        stream_options=backend.stream_options,
        conversation_options=backend.conversation_options,
    )
    async with opened as stores:
        for store in (stores.streams, stores.conversations):
            setup = getattr(store, "setup", None)
            if setup is not None:
                await setup()
        base = await baselines.open_raw(backend, stores.streams)
        try:
            log(f"{backend.name}: appends")
            o, r = await _appends(stores.streams, base, sizes)
            ours.update(o)
            raw.update(r)
            if isinstance(base, baselines.SqliteRaw):
                raw["seq_aiosqlite"] = await base.aiosqlite_appends(sizes)
                raw["seq_executor"] = await base.executor_appends(sizes)
            ours["conc"] = await workloads.concurrent(stores.streams, sizes)
            log(f"{backend.name}: replay")
            o, r = await _replays(stores.streams, base, sizes)
            ours.update(o)
            raw.update(r)
            log(f"{backend.name}: conversation")
            o, r = await _conversations(stores.conversations, base, sizes)
            ours.update(o)
            raw.update(r)
            if base is not None:
                log(f"{backend.name}: raw writes on the delivery schedule")
                raw["write_paced"] = await compare.paced(
                    base.append, 10_000_000, sizes.follow_chunks, sizes.follow_every
                )
        finally:
            if base is not None:
                await base.close()
    if backend.name == "memory":
        log("memory: resume over HTTP (aibind-starlette on uvicorn)")
        ours["http_resume"] = await http_resume(sizes)
    log(f"{backend.name}: delivery")
    ours["delivery"] = await delivery(backend, sizes.follow_chunks, sizes.follow_every)
    streams = sizes.scale_streams.get(backend.name)
    if with_scale and streams:
        log(f"{backend.name}: {streams:,} live streams at {sizes.scale_rate:,.0f} appends/s")
        try:
            found = await scale(backend, streams, sizes.scale_rate, sizes.scale_seconds)
        except Exception as exc:
            failures.append(f"{backend.name} {streams:,} live streams: {type(exc).__name__}: {exc}")
            log(failures[-1])
        else:
            ours["scale"] = {**found, "streams": streams, "rate": sizes.scale_rate}
            w = found["writer"]
            log(
                f"{backend.name}: delivery p99 {found['p99']:.1f} ms; the writer's own appends "
                f"p50 {w.get('append_p50_ms', 0):.1f} / p99 {w.get('append_p99_ms', 0):.1f} / "
                f"max {w.get('append_max_ms', 0):.1f} ms"
            )
    return {
        "ours": ours,
        "raw": raw,
        "streams": sizes.streams,
        "per_stream": sizes.per_stream,
        "replay_chunks": sizes.replay_chunks,
        "replay_from": sizes.replay_from,
        "big_chunks": sizes.big_chunks,
    }
