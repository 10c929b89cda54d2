"""The backend's own cases beyond the suite: the URL scheme in the registry, URL errors, and
a caller's client left open. <REPLACE ME>: add your driver's specifics (options, faults)."""

from __future__ import annotations

import pytest

from aibind.conformance import new_id
from aibind.core import open_stores
from aibind.replaceme import (
    ReplacemeClient,
    ReplacemeConversationStore,
    ReplacemeStreamStore,
    __version__,
)


async def test_open_stores_finds_the_scheme() -> None:
    url = f"replaceme://{new_id('db')}?ttl=30&conversation_ttl=60"
    async with open_stores(url) as stores:
        assert isinstance(stores.streams, ReplacemeStreamStore)
        assert isinstance(stores.conversations, ReplacemeConversationStore)
        assert (stores.streams.ttl, stores.conversations.ttl) == (30.0, 60.0)
        await stores.streams.create("s")
        assert await stores.streams.append("s", "hello") == 1


@pytest.mark.parametrize("url", ["replaceme://", "other://db"])
async def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="url"):
        await ReplacemeStreamStore.from_url(url).open()


async def test_a_callers_client_stays_open() -> None:
    client = ReplacemeClient(new_id("db"))
    store = ReplacemeStreamStore(client)
    await store.create("s")
    await store.aclose()
    assert client.database is not None  # the store never closes a client it was given
    await client.close()


def test_version_comes_from_metadata() -> None:
    assert __version__ == "0.1.0"
