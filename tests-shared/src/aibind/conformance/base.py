"""The fixtures a backend provides to run the conformance suite, and shared test helpers.

A backend's test module subclasses :class:`StreamStoreConformance` and/or
:class:`ConversationStoreConformance` and overrides their factory fixtures::

    class TestSqliteStreams(StreamStoreConformance):
        capabilities = frozenset({"append_many", "delete", "cleanup"})

        @pytest.fixture
        async def make_store(self, tmp_path) -> AsyncIterator[StreamStoreFactory]:
            opened = []
            async def factory(*, ttl: float = 300.0, push_only: bool = False) -> StreamStore:
                store = ...  # same underlying data on every call in one test
                opened.append(store)
                return store
            yield factory
            for store in opened:
                await store.aclose()
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any, ClassVar, Protocol, TypeVar

import pytest

from aibind.core.protocols import ConversationStore, StreamStore
from aibind.core.types import StreamChunk

__all__ = [
    "ConversationStoreFactory",
    "RawConversations",
    "StreamStoreFactory",
    "StreamStoreFixtures",
    "collect",
    "new_id",
    "within",
]

T = TypeVar("T")

WAIT = 10.0
"""Seconds any single await in the suite may take before the test fails (a hang is a bug)."""


class StreamStoreFactory(Protocol):
    """Opens a stream store for one test.

    Every store a factory returns within one test must see the same data (the same file,
    key prefix, tables), and should use its own client/connection where the backend can, so
    tests exercise cross-connection behaviour. The fixture closes them after the test.
    """

    def __call__(self, *, ttl: float = 300.0, push_only: bool = False) -> Awaitable[StreamStore]:
        """Args: ``ttl`` in seconds; ``push_only`` turns polling off (``poll_interval=None``)
        so only push notifications can wake a follower."""
        ...


class ConversationStoreFactory(Protocol):
    """Opens a conversation store for one test (same data on every call within a test)."""

    def __call__(self, *, ttl: float = 1800.0) -> Awaitable[ConversationStore]:
        """Args: ``ttl`` in seconds."""
        ...


class RawConversations(Protocol):
    """Direct access to the stored JSON text of conversations, bypassing the store (to check
    the wire format and to plant corrupted data)."""

    async def get(self, session_id: str) -> str | None:
        """The stored text for ``session_id``, or ``None``."""
        ...

    async def put(self, session_id: str, raw: str) -> None:
        """Store ``raw`` as ``session_id``'s conversation, exactly as given, with a long TTL."""
        ...


def new_id(prefix: str = "s") -> str:
    """A fresh unique id for a stream or session."""
    return f"{prefix}-{uuid.uuid4().hex}"


async def within(awaitable: Awaitable[T], seconds: float = WAIT) -> T:
    """Await ``awaitable`` but fail the test if it takes longer than ``seconds``."""
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except asyncio.TimeoutError:
        pytest.fail(f"timed out after {seconds} s (a follower or call hung)")


async def collect(chunks: AsyncIterator[StreamChunk], seconds: float = WAIT) -> list[StreamChunk]:
    """Drain a ``read_from`` iterator into a list, failing the test if it takes too long."""

    async def drain() -> list[StreamChunk]:
        return [c async for c in chunks]

    return await within(drain(), seconds)


class StreamStoreFixtures:
    """Fixture contract of the stream suite; see the module docstring.

    Class attributes a backend sets:
        push: ``True`` if followers are woken without polling (in-process notifier, pub/sub,
            LISTEN/NOTIFY); the push tests then run with ``push_only=True``.
        capabilities: which optional methods the backend offers, a subset of
            ``{"append_many", "delete", "cleanup"}``; the suite checks the claim and tests them.
    """

    push: ClassVar[bool] = True
    capabilities: ClassVar[frozenset[str]] = frozenset()

    @pytest.fixture
    async def make_store(self) -> AsyncIterator[StreamStoreFactory]:
        """Override: yield a :class:`StreamStoreFactory` and close its stores afterwards."""
        raise NotImplementedError("the backend's test class must override make_store")
        yield  # type: ignore[unreachable]  # pragma: no cover

    @pytest.fixture
    async def store(self, make_store: StreamStoreFactory) -> StreamStore:
        """A store with default options."""
        return await make_store()

    @staticmethod
    def _require(store: Any, capability: str, claimed: frozenset[str]) -> None:
        if capability not in claimed:
            pytest.skip(f"the backend does not claim the optional capability {capability!r}")
        assert callable(getattr(store, capability, None)), f"claimed {capability} is missing"
