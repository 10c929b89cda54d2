"""The ``memory://`` backend of the registry: fresh in-process stores on every open."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aibind.core.kit import open_pair
from aibind.core.memory.conversations import MemoryConversationStore
from aibind.core.memory.streams import MemoryStreamStore
from aibind.core.registry import Stores

__all__ = ["open_memory_stores"]


def open_memory_stores(
    url: str = "memory://",
    *,
    stream_options: Mapping[str, Any] | None = None,
    conversation_options: Mapping[str, Any] | None = None,
) -> Stores:
    """A new :class:`MemoryStreamStore` and :class:`MemoryConversationStore` (registered as the
    ``memory`` URL scheme). Nothing persists once they are closed.

    Args:
        url: ``memory://``, optionally with ``?ttl=`` (streams) and ``?conversation_ttl=``.
        stream_options: keyword arguments for :class:`MemoryStreamStore` (``ttl``).
        conversation_options: keyword arguments for :class:`MemoryConversationStore` (``ttl``).

    Raises:
        TypeError, ValueError: a malformed URL or option.
    """
    return open_pair(
        MemoryStreamStore,
        MemoryConversationStore,
        url,
        stream_options=stream_options,
        conversation_options=conversation_options,
    )
