"""In-process stores: :class:`MemoryStreamStore` and :class:`MemoryConversationStore`, and the
``memory://`` backend of the registry."""

from __future__ import annotations

from aibind.core.memory.backend import open_memory_stores
from aibind.core.memory.conversations import MemoryConversationStore
from aibind.core.memory.streams import MemoryStreamStore

__all__ = ["MemoryConversationStore", "MemoryStreamStore", "open_memory_stores"]
