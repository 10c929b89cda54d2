"""``MemoryConversationStore``: the in-process :class:`~aibind.core.protocols.ConversationStore`.

Histories are kept as their JSON text (the npm wire format), so a loaded history is always a
fresh copy and what is stored is exactly what a persistent backend would hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aibind.core.chat_history import ChatHistory
from aibind.core.types import ConversationMessage
from aibind.core.validation import check_chat, check_id, check_ttl

__all__ = ["MemoryConversationStore"]


class MemoryConversationStore:
    """Chat histories in a dict in this process, each expiring ``ttl`` seconds after its last
    save (the npm ``MemoryConversationStore`` behaviour, in seconds).

    Args:
        ttl: seconds a history lives after its last save (default 1800, as the npm stores).
        clock: a monotonic clock in seconds.

    Raises:
        TypeError, ValueError: ``ttl`` is not a positive number of seconds.
    """

    def __init__(self, *, ttl: float = 1800.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = check_ttl(ttl)
        self._clock = clock
        self._data: dict[str, tuple[str, float]] = {}

    async def load(self, session_id: str) -> ChatHistory[ConversationMessage]:
        """Return the session's history, or an empty one if absent or expired.

        Raises:
            CorruptDataError: the stored JSON is invalid (it is left in place).
        """
        check_id(session_id, "session_id")
        entry = self._data.get(session_id)
        if entry is None or entry[1] <= self._clock():
            self._data.pop(session_id, None)
            return ChatHistory()
        return ChatHistory.from_json(entry[0])

    async def save(self, session_id: str, chat: ChatHistory[ConversationMessage]) -> None:
        """Store ``chat`` and restart its TTL.

        Raises:
            TypeError: ``chat`` is not a :class:`ChatHistory`.
        """
        check_id(session_id, "session_id")
        check_chat(chat)
        self._data[session_id] = (chat.to_json(), self._clock() + self.ttl)

    async def delete(self, session_id: str) -> None:
        """Remove the session's history; a no-op if absent."""
        check_id(session_id, "session_id")
        self._data.pop(session_id, None)

    async def cleanup(self) -> int:
        """Drop every expired history and return how many were dropped."""
        now = self._clock()
        expired = [k for k, (_, exp) in self._data.items() if exp <= now]
        for key in expired:
            del self._data[key]
        return len(expired)

    async def aclose(self) -> None:
        """Nothing to release; present so every store can be closed the same way."""
