"""``MemoryConversationStore``: chat histories in a dict of this process (npm
``MemoryConversationStore``), with TTL expiry."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from aibind.core.kit import ClientOpener, ConversationStoreBase, Parser, parse_float
from aibind.core.memory.streams import MEMORY_CLIENT

__all__ = ["MemoryConversationStore"]


class MemoryConversationStore(ConversationStoreBase):
    """Histories kept as their npm JSON text in a dict; lost when the process exits.

    Args:
        ttl: seconds a history lives after its last save (default 1800, the npm default).
        clock: a monotonic clock in seconds (tests may pass their own).
    """

    _client_opener: ClassVar[ClientOpener] = MEMORY_CLIENT
    _url_options: ClassVar[Mapping[str, Parser]] = {"ttl": parse_float}

    def __init__(self, *, ttl: float = 1800.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(ttl=ttl)
        self._clock = clock
        self._data: dict[str, tuple[str, float]] = {}

    @classmethod
    def _from_client(cls, client: Any, options: Mapping[str, Any]) -> MemoryConversationStore:
        return cls(**options)

    async def _get(self, key: str) -> str | None:
        entry = self._data.get(key)
        if entry is None or entry[1] <= self._clock():
            self._data.pop(key, None)
            return None
        return entry[0]

    async def _set(self, key: str, value: str, ttl: float) -> None:
        self._data[key] = (value, self._clock() + ttl)

    async def _delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def cleanup(self) -> int:
        """Drop every expired history and return how many were dropped."""
        now = self._clock()
        expired = [k for k, (_, exp) in self._data.items() if exp <= now]
        for key in expired:
            del self._data[key]
        return len(expired)
