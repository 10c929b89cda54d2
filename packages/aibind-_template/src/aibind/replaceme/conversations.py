"""``ReplacemeConversationStore``: chat histories on <REPLACE ME: the storage>.

The kit's :class:`~aibind.core.kit.ConversationStoreBase` does the rest (checks, the npm JSON
format, errors); a backend supplies get / set-with-TTL / delete of one text per session.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from aibind.core.kit import ClientOpener, ConversationStoreBase, Parser, parse_float
from aibind.replaceme.client import REPLACEME_CLIENT, ReplacemeClient

__all__ = ["ReplacemeConversationStore"]


class ReplacemeConversationStore(ConversationStoreBase):
    """Histories on <REPLACE ME: the storage>, each expiring ``ttl`` seconds after its last save.

    Args:
        client: the client to use (never closed by the store); ``from_url`` opens one the
            store owns instead.
        ttl: seconds a history lives after its last save (default 1800, the npm default).

    Raises:
        TypeError, ValueError: a bad ``ttl``.
    """

    _client_opener: ClassVar[ClientOpener] = REPLACEME_CLIENT
    _url_options: ClassVar[Mapping[str, Parser]] = {"ttl": parse_float}

    def __init__(self, client: ReplacemeClient, *, ttl: float = 1800.0) -> None:
        super().__init__(ttl=ttl)
        self.client = client

    @classmethod
    def _from_client(cls, client: Any, options: Mapping[str, Any]) -> ReplacemeConversationStore:
        return cls(client, **options)

    async def _get(self, key: str) -> str | None:
        data = self.client.db().conversations
        entry = data.get(key)
        if entry is None or entry[1] <= self.client.now():
            data.pop(key, None)
            return None
        return entry[0]

    async def _set(self, key: str, value: str, ttl: float) -> None:
        self.client.db().conversations[key] = (value, self.client.now() + ttl)

    async def _delete(self, key: str) -> None:
        self.client.db().conversations.pop(key, None)

    async def cleanup(self) -> int:
        """Remove every expired history and return how many were removed."""
        data, now = self.client.db().conversations, self.client.now()
        expired = [key for key, (_, expires_at) in data.items() if expires_at <= now]
        for key in expired:
            del data[key]
        return len(expired)
