"""The npm reference workloads, run on our stores through their public API."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

from common import Sizes, chat_of, cold_and_median, rate

from aibind.core.protocols import ConversationStore, StreamStore


async def sequential(store: StreamStore, sizes: Sizes) -> float:
    """Appends/s of ``sizes.sequential`` appends to one stream, one after another, after
    ``sizes.warmup`` untimed ones."""
    sid = uuid.uuid4().hex
    await store.create(sid)
    found = await rate(sizes.warmup, sizes.sequential, lambda i: store.append(sid, f"token {i} "))
    await store.complete(sid)
    return found


async def concurrent(store: StreamStore, sizes: Sizes) -> float:
    """Appends/s of ``sizes.streams`` streams x ``sizes.per_stream`` appends, every stream's
    appends sequential, all streams at once (one store)."""
    ids = [uuid.uuid4().hex for _ in range(sizes.streams)]
    await asyncio.gather(*(store.create(sid) for sid in ids))

    async def one(sid: str) -> None:
        for i in range(sizes.per_stream):
            await store.append(sid, f"t{i}")

    start = time.perf_counter()
    await asyncio.gather(*(one(sid) for sid in ids))
    found = sizes.streams * sizes.per_stream / (time.perf_counter() - start)
    await asyncio.gather(*(store.complete(sid) for sid in ids))
    return found


async def filled_stream(store: StreamStore, chunks: list[str]) -> str:
    """A new finished stream holding ``chunks`` (written in batches of 500)."""
    sid = uuid.uuid4().hex
    await store.create(sid)
    append_many = getattr(store, "append_many", None)
    for start in range(0, len(chunks), 500):
        batch = chunks[start : start + 500]
        if append_many is not None:
            await append_many(sid, batch)
        else:
            for chunk in batch:
                await store.append(sid, chunk)
    await store.complete(sid)
    return sid


async def replay(store: StreamStore, sid: str, after: int, expect: int, repeats: int) -> dict:
    """Cold-first and median milliseconds of ``read_from(sid, after)`` to the end."""

    async def read() -> None:
        count = 0
        async for _ in store.read_from(sid, after):
            count += 1
        if count != expect:
            raise AssertionError(f"replay read {count} chunks, expected {expect}")

    return await cold_and_median(repeats, read)


def token_chunks(n: int) -> list[str]:
    """``n`` token-sized chunks (``"token 17 "``), as an LLM stream holds them."""
    return [f"token {i} " for i in range(n)]


def big_chunks(n: int, size: int) -> list[str]:
    """``n`` chunks of ``size`` characters of ASCII text."""
    block = ("0123456789abcdefghijklmnopqrstuvwxyz" * (size // 36 + 1))[:size]
    return [f"{i:08d}{block[8:]}" for i in range(n)]


async def conversation(store: ConversationStore, sizes: Sizes) -> dict:
    """p50 milliseconds of ``save()`` + ``load()`` of a history of ``sizes.conv_messages``
    messages, over ``sizes.conv_iterations`` iterations after ``sizes.conv_warmup``."""
    chat = chat_of(sizes.conv_messages)
    sid = uuid.uuid4().hex
    samples = []
    loaded = None
    for i in range(sizes.conv_warmup + sizes.conv_iterations):
        t0 = time.perf_counter()
        await store.save(sid, chat)
        loaded = await store.load(sid)
        if i >= sizes.conv_warmup:
            samples.append((time.perf_counter() - t0) * 1000)
    assert loaded is not None
    assert loaded.to_json() == chat.to_json()
    await store.delete(sid)
    return {"p50": statistics.median(samples), "bytes": len(chat.to_json().encode())}
