"""The ``memory://`` backend of the registry: fresh in-process stores on every open."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aibind.core.memory.conversations import MemoryConversationStore
from aibind.core.memory.streams import MemoryStreamStore
from aibind.core.registry import Stores

__all__ = ["open_memory_stores"]


@asynccontextmanager
async def open_memory_stores(
    url: str = "memory://",
    *,
    stream_options: Mapping[str, Any] | None = None,
    conversation_options: Mapping[str, Any] | None = None,
) -> AsyncIterator[Stores]:
    """Yield a new :class:`MemoryStreamStore` and :class:`MemoryConversationStore` (registered
    as the ``memory`` URL scheme). Nothing persists past the ``async with`` block.

    Args:
        url: ``memory://`` (anything after the scheme is ignored).
        stream_options: keyword arguments for :class:`MemoryStreamStore` (``ttl``).
        conversation_options: keyword arguments for :class:`MemoryConversationStore` (``ttl``).
    """
    streams = MemoryStreamStore(**dict(stream_options or {}))
    conversations = MemoryConversationStore(**dict(conversation_options or {}))
    yield Stores(streams=streams, conversations=conversations, url=url)
