"""The one store lifecycle (aibind.core.kit): lazy and eager opening, ownership of the client a
store opened, idempotent closing, from_url options and pairs sharing one client."""

from __future__ import annotations

import asyncio

import pytest

from aibind.core import MemoryConversationStore, MemoryStreamStore, open_stores
from aibind.core.errors import BackendUnavailableError, StoreClosedError
from aibind.core.kit import Owned, StoreBase


class _Counter:
    def __init__(self, fail_opens: int = 0) -> None:
        self.opened = 0
        self.closed = 0
        self.fail_opens = fail_opens

    async def open(self) -> None:
        await asyncio.sleep(0.01)
        if self.fail_opens:
            self.fail_opens -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        self.opened += 1

    async def close(self) -> None:
        self.closed += 1


class _Store(StoreBase):
    async def ping(self) -> str:
        await self._ready()
        return "pong"


async def test_owned_client_opens_once_and_closes_with_its_last_holder() -> None:
    counter = _Counter()
    owned = Owned(object(), open=counter.open, close=counter.close)
    first, second = _Store(), _Store()
    first._adopt(owned)
    second._adopt(owned.share())
    await asyncio.gather(first.open(), second.open(), first.ping(), second.ping())
    assert counter.opened == 1
    await first.aclose()
    assert counter.closed == 0
    await second.aclose()
    await second.aclose()
    assert counter.closed == 1


async def test_a_failed_open_is_translated_and_retried() -> None:
    counter = _Counter(fail_opens=1)
    store = _Store()
    store._adopt(Owned(object(), open=counter.open, close=counter.close))
    with pytest.raises(BackendUnavailableError, match="ConnectionRefusedError") as info:
        await store.ping()
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    assert await store.ping() == "pong"
    async with store as entered:
        assert entered is store
    assert counter.closed == 1
    with pytest.raises(StoreClosedError):
        await store.ping()
    with pytest.raises(StoreClosedError):
        await store.open()


async def test_memory_from_url_takes_options_from_the_url_and_keywords() -> None:
    store = MemoryStreamStore.from_url("memory://?ttl=7")
    assert isinstance(store, MemoryStreamStore)
    assert store.ttl == 7.0
    assert MemoryStreamStore.from_url("memory://?ttl=7", ttl=9).ttl == 9.0
    with pytest.raises(ValueError, match="unknown URL option 'prefix'"):
        MemoryStreamStore.from_url("memory://?prefix=x")
    with pytest.raises(TypeError, match="unexpected option"):
        MemoryConversationStore.from_url("memory://", table="x")
    async with MemoryConversationStore.from_url("memory://?ttl=60") as conversations:
        assert conversations.ttl == 60.0


async def test_open_stores_routes_prefixed_options_to_the_conversation_store() -> None:
    async with open_stores("memory://?ttl=5&conversation_ttl=50") as stores:
        assert stores.streams.ttl == 5.0  # type: ignore[attr-defined]
        assert stores.conversations.ttl == 50.0  # type: ignore[attr-defined]
    with pytest.raises(StoreClosedError):
        await stores.streams.create("x")
    with pytest.raises(StoreClosedError):
        await stores.conversations.load("x")


async def test_closing_a_store_stops_its_running_durable_streams_first() -> None:
    """Issue #7 item 8: a generation still running when its store closes records ``stopped``
    (so resuming clients get the end at once) instead of staying ``active`` for good."""
    from collections.abc import AsyncIterator

    from aibind.core import DurableStream

    async def endless() -> AsyncIterator[str]:
        while True:
            yield "tok "
            await asyncio.sleep(0.01)

    store = MemoryStreamStore()
    other = MemoryStreamStore()
    durable = await DurableStream.start(store, endless())
    unrelated = await DurableStream.start(other, endless())
    await asyncio.sleep(0.05)
    statuses: list[object] = []
    original = store._finish

    async def record(stream_id: str, state: str, error: str | None) -> None:
        statuses.append(state)
        await original(stream_id, state, error)  # type: ignore[arg-type]

    store._finish = record  # type: ignore[method-assign]
    await store.aclose()
    final = await durable.wait()
    assert final.state == "stopped"
    assert statuses == ["stopped"]  # recorded in the store, before it closed
    assert final.total_chunks > 0
    assert (await other.get_status(unrelated.id)).state == "active"  # type: ignore[union-attr]
    await other.aclose()
    assert (await unrelated.wait()).state == "stopped"
