"""Tests of the backend registry and open_stores()."""

from __future__ import annotations

import pytest

from aibind.core.errors import BackendNotFoundError
from aibind.core.memory import MemoryConversationStore, MemoryStreamStore
from aibind.core.registry import available_backends, load_backend, open_stores, redact_url


def test_memory_backend_is_registered() -> None:
    assert "memory" in available_backends()


async def test_open_memory_stores_with_options() -> None:
    async with open_stores("memory://", stream_options={"ttl": 5}) as stores:
        assert isinstance(stores.streams, MemoryStreamStore)
        assert isinstance(stores.conversations, MemoryConversationStore)
        assert stores.streams.ttl == 5.0
        await stores.streams.create("s")
        assert await stores.streams.append("s", "x") == 1


def test_unknown_scheme_names_installed_ones() -> None:
    with pytest.raises(BackendNotFoundError, match=r"'nope'.*memory"):
        load_backend("nope://x")


@pytest.mark.parametrize(("bad", "error"), [("no-scheme", ValueError), (5, TypeError)])
def test_malformed_urls(bad: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        load_backend(bad)  # type: ignore[arg-type]


def test_redact_url() -> None:
    assert redact_url("redis://:secret@host:6379/0") == "redis://:***@host:6379/0"
    assert redact_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert redact_url("sqlite:///x.db") == "sqlite:///x.db"
