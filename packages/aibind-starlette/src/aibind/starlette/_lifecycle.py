"""Where a handler's stores come from, and closing what it opened."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from aibind.core.errors import StoreClosedError
from aibind.core.memory import MemoryStreamStore
from aibind.core.protocols import ConversationStore, StreamStore, SupportsSetup
from aibind.core.registry import open_stores

__all__ = ["StoreSlot"]


class StoreSlot:
    """The handler's stream store and conversation store: given directly (the caller owns and
    closes them), opened from a URL through the backend registry (closed by :meth:`aclose`),
    or a :class:`MemoryStreamStore` made here (also closed here).

    Args:
        streams: a store given by the caller, or ``None``.
        conversations: a conversation store given by the caller, or ``None``.
        url: a backend URL (``sqlite:///chat.db``, ``redis://...``) for what is not given.
        setup: run ``setup()`` (``CREATE TABLE IF NOT EXISTS``) on the stores opened from
            ``url`` that have it.
    """

    def __init__(
        self,
        streams: StreamStore | None,
        conversations: ConversationStore | None,
        url: str | None,
        setup: bool,
    ) -> None:
        self._streams = streams
        self._conversations = conversations
        self._url = url
        self._setup = setup
        self._stack = AsyncExitStack()
        self._lock = asyncio.Lock()
        self._opened = False
        self._closed = False

    async def open(self) -> None:
        """Open what comes from the URL (once; concurrent callers wait for the first).

        Raises:
            StoreClosedError: called after :meth:`aclose`.
            what the backend raises (BackendNotFoundError, TypeError/ValueError for the URL,
            backend errors).
        """
        async with self._lock:  # uncontended after the first call: no suspension
            self._check_not_closed()
            if self._opened:
                return
            if self._url is not None:
                stores = await self._stack.enter_async_context(open_stores(self._url))
                opened: list[object] = []
                if self._streams is None:
                    self._streams = stores.streams
                    opened.append(stores.streams)
                if self._conversations is None:
                    self._conversations = stores.conversations
                    opened.append(stores.conversations)
                if self._setup:
                    for store in opened:
                        if isinstance(store, SupportsSetup):
                            await store.setup()
            elif self._streams is None:
                memory = MemoryStreamStore()
                self._stack.push_async_callback(memory.aclose)
                self._streams = memory
            self._opened = True

    def _check_not_closed(self) -> None:
        if self._closed:
            raise StoreClosedError("the handler is closed")

    async def streams(self) -> StreamStore:
        """The stream store, opening it first if needed."""
        await self.open()
        assert self._streams is not None
        return self._streams

    async def conversations(self) -> ConversationStore | None:
        """The conversation store (``None`` when there is none), opening it first if needed."""
        await self.open()
        return self._conversations

    async def aclose(self) -> None:
        """Close what :meth:`open` opened; idempotent. Stores given by the caller stay open."""
        async with self._lock:
            self._closed = True
            await self._stack.aclose()
