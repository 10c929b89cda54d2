"""The npm reference workloads, run on our stores through their public API."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from common import Sizes

from aibind.core.protocols import StreamStore


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


def reader(store: StreamStore, sid: str, after: int, expect: int) -> Callable[[], Awaitable[None]]:
    """A read of ``sid`` after ``after`` to the end through ``read_from`` (checks that it
    yields ``expect`` chunks)."""

    async def read() -> None:
        count = 0
        async for _ in store.read_from(sid, after):
            count += 1
        if count != expect:
            raise AssertionError(f"replay read {count} chunks, expected {expect}")

    return read


def page_reader(
    store: StreamStore, sid: str, after: int, expect: int
) -> Callable[[], Awaitable[None]]:
    """The same read through ``read_pages``: each page's chunks taken one by one, as a
    consumer that writes a page at a time (the SSE replay) takes them."""

    async def read() -> None:
        count = 0
        async for page in store.read_pages(sid, after):
            for _ in page:
                count += 1
        if count != expect:
            raise AssertionError(f"replay read {count} chunks, expected {expect}")

    return read


def token_chunks(n: int) -> list[str]:
    """``n`` token-sized chunks (``"token 17 "``), as an LLM stream holds them."""
    return [f"token {i} " for i in range(n)]


def big_chunks(n: int, size: int) -> list[str]:
    """``n`` chunks of ``size`` characters of ASCII text."""
    block = ("0123456789abcdefghijklmnopqrstuvwxyz" * (size // 36 + 1))[:size]
    return [f"{i:08d}{block[8:]}" for i in range(n)]
