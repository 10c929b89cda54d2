"""The fixtures a backend provides to run the conformance suite, and shared test helpers.

A backend's test module subclasses :class:`StreamStoreConformance` and/or
:class:`ConversationStoreConformance` and overrides their factory fixtures, building them with
:func:`stream_factory` / :func:`conversation_factory` (which run ``setup()`` on the first store
and close every store, and every client, after the test)::

    class TestSqliteStreams(StreamStoreConformance):
        capabilities = frozenset({"append_many", "delete", "cleanup"})
        expiry = "cleanup"

        @pytest.fixture
        async def make_store(self, tmp_path) -> AsyncIterator[StreamStoreFactory]:
            async def build(ttl: float, push_only: bool) -> StreamStore:
                # same underlying data on every call in one test
                return SqliteStreamStore.from_url(
                    f"sqlite:///{tmp_path}/s.db", ttl=ttl, poll_interval=None if push_only else 0.05
                )

            async with stream_factory(build) as factory:
                yield factory
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Literal, Protocol, TypeVar

import pytest

from aibind.core.protocols import ConversationStore, StreamStore

__all__ = [
    "Closer",
    "ConversationBuilder",
    "ConversationStoreFactory",
    "RawConversations",
    "StreamBuilder",
    "StreamStoreFactory",
    "StreamStoreFixtures",
    "abandon_waiting",
    "collect",
    "conversation_factory",
    "new_id",
    "stream_factory",
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


Closer = Callable[[], Awaitable[Any]]
"""Closes a client a builder opened for a store (``client.aclose``)."""

StreamBuilder = Callable[[float, bool], Awaitable[StreamStore | tuple[StreamStore, Closer]]]
"""``build(ttl, push_only)`` opens one stream store (or a store and the closer of the client
it was given); see :class:`StreamStoreFactory` for the arguments."""

ConversationBuilder = Callable[
    [float], Awaitable[ConversationStore | tuple[ConversationStore, Closer]]
]
"""``build(ttl)`` opens one conversation store (or a store and its client's closer)."""


class _Opened:
    """The stores (and client closers) a factory opened in one test; closes all of them."""

    def __init__(self) -> None:
        self.stores: list[Any] = []
        self.closers: list[Closer] = []

    async def add(self, built: Any) -> Any:
        store, closer = built if isinstance(built, tuple) else (built, None)
        first = not self.stores
        self.stores.append(store)
        if closer is not None:
            self.closers.append(closer)
        setup = getattr(store, "setup", None)
        if first and callable(setup):
            await setup()
        return store

    async def close(self) -> None:
        errors: list[BaseException] = []
        for close in [*(s.aclose for s in self.stores), *self.closers]:
            try:
                await asyncio.wait_for(close(), WAIT)
            except Exception as exc:  # close everything, then report the first failure
                errors.append(exc)
        if errors:
            raise errors[0]


@asynccontextmanager
async def stream_factory(build: StreamBuilder) -> AsyncIterator[StreamStoreFactory]:
    """A :class:`StreamStoreFactory` over ``build``: the first store gets ``setup()`` (if it has
    one), and on exit every store is closed, then every client closer runs.

    Args:
        build: opens one store for ``(ttl, push_only)``; see :data:`StreamBuilder`.
    """
    opened = _Opened()

    async def factory(*, ttl: float = 300.0, push_only: bool = False) -> StreamStore:
        store: StreamStore = await opened.add(await build(ttl, push_only))
        return store

    try:
        yield factory
    finally:
        await opened.close()


@asynccontextmanager
async def conversation_factory(
    build: ConversationBuilder,
) -> AsyncIterator[ConversationStoreFactory]:
    """A :class:`ConversationStoreFactory` over ``build``, like :func:`stream_factory`."""
    opened = _Opened()

    async def factory(*, ttl: float = 1800.0) -> ConversationStore:
        store: ConversationStore = await opened.add(await build(ttl))
        return store

    try:
        yield factory
    finally:
        await opened.close()


def new_id(prefix: str = "s") -> str:
    """A fresh unique id for a stream or session."""
    return f"{prefix}-{uuid.uuid4().hex}"


async def within(awaitable: Awaitable[T], seconds: float = WAIT) -> T:
    """Await ``awaitable`` but fail the test if it takes longer than ``seconds``.

    A ``TimeoutError`` the awaited call raises itself (``BackendTimeoutError`` is one) is
    re-raised as it is, not mistaken for a hang.
    """
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()  # cancelling within(...) cancels what it awaits, as wait_for did
        await asyncio.wait({task})
        raise
    if not done:
        task.cancel()
        await asyncio.wait({task})
        pytest.fail(f"timed out after {seconds} s (a follower or call hung)")
    return task.result()


async def abandon_waiting(reader: AsyncIterator[Any]) -> Any:
    """Take the first item of ``reader`` (a ``read_from`` / ``read_pages`` iterator), cancel
    the wait for the next one while it follows, then close it, as a client that goes away
    mid-follow does; returns the first item."""
    first = await within(anext(reader))
    waiting = asyncio.ensure_future(anext(reader))
    await asyncio.sleep(0.02)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await within(reader.aclose())  # type: ignore[attr-defined]
    return first


async def collect(chunks: AsyncIterator[T], seconds: float = WAIT) -> list[T]:
    """Drain a ``read_from`` (or ``read_pages``) iterator into a list, failing the test if it
    takes too long."""

    async def drain() -> list[T]:
        return [c async for c in chunks]

    return await within(drain(), seconds)


class StreamStoreFixtures:
    """Fixture contract of the stream suite; see the module docstring.

    Class attributes a backend sets:
        push: ``True`` if followers are woken without polling (in-process notifier, pub/sub,
            LISTEN/NOTIFY); the push tests then run with ``push_only=True``.
        capabilities: which optional methods the backend offers, a subset of
            ``{"append_many", "delete", "cleanup"}``; the suite checks the claim and tests them.
        expiry: ``"native"`` if an expired stream vanishes by itself at its TTL (Redis keys,
            memory); ``"cleanup"`` if it stays readable until ``cleanup()`` removes it (the SQL
            backends: npm writes ``expires_at`` once, at create, and a Node writer may still be
            appending to a stream past it — DESIGN.md "Expiry never destroys a live writer's
            stream").
    """

    push: ClassVar[bool] = True
    capabilities: ClassVar[frozenset[str]] = frozenset()
    expiry: ClassVar[Literal["native", "cleanup"]] = "native"

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
