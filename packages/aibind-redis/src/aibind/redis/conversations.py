"""``RedisConversationStore``: chat histories as npm-format JSON strings in Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aibind.core.chat_history import ChatHistory
from aibind.core.errors import StoreClosedError
from aibind.core.types import ConversationMessage
from aibind.core.validation import check_chat, check_id, check_ttl
from aibind.redis.client import RedisBackendError, RedisClient
from aibind.redis.codec import text
from aibind.redis.connect import close_client, open_client
from aibind.redis.keys import check_prefix, ttl_args

__all__ = ["RedisConversationStore"]


class RedisConversationStore:
    """A :class:`~aibind.core.protocols.ConversationStore` on Redis: each history is the
    ``ChatHistory`` JSON at ``{prefix}:{session_id}`` with an ``EX`` TTL restarted by every
    save (npm ``@aibind/redis`` ``RedisConversationStore``).

    Args:
        client: any :class:`~aibind.redis.client.RedisClient` (only ``get``/``set``/``delete``
            are used); never closed by the store. Share it with a ``RedisStreamStore``.
        prefix: key prefix (default ``"aibind:conv"``).
        ttl: seconds a history lives after its last save (default 1800); whole seconds use
            ``EX``, fractions ``PX`` in milliseconds.

    Raises:
        TypeError, ValueError: malformed options.
    """

    def __init__(
        self, client: RedisClient, *, prefix: str = "aibind:conv", ttl: float = 1800.0
    ) -> None:
        self.prefix = check_prefix(prefix)
        self.ttl = check_ttl(ttl)
        self._client = client
        self._ttl_args = ttl_args(self.ttl)
        self._closed = False
        self._owned = False

    def key(self, session_id: str) -> str:
        """The Redis key of a session: ``{prefix}:{session_id}``."""
        return f"{self.prefix}:{check_id(session_id, 'session_id')}"

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the RedisConversationStore is closed")

    async def load(self, session_id: str) -> ChatHistory[ConversationMessage]:
        """The session's history (``GET``), or an empty one if absent or expired.

        Raises:
            CorruptDataError: the stored JSON is invalid (it is left in place).
            RedisBackendError: the command failed.
        """
        key = self.key(session_id)
        self._check_open()
        try:
            raw = await self._client.get(key)
        except Exception as exc:
            raise RedisBackendError(f"GET {key!r} failed: {exc}") from exc
        if raw is None:
            return ChatHistory()
        return ChatHistory.from_json(text(raw))

    async def save(self, session_id: str, chat: ChatHistory[ConversationMessage]) -> None:
        """Store ``chat`` (``SET key json EX ttl``), replacing what was there.

        Raises:
            TypeError: ``chat`` is not a :class:`ChatHistory`.
            RedisBackendError: the command failed.
        """
        key = self.key(session_id)
        check_chat(chat)
        self._check_open()
        unit, amount = self._ttl_args
        expiry: dict[str, int] = {"ex": amount} if unit == "EX" else {"px": amount}
        try:
            await self._client.set(key, chat.to_json(), **expiry)
        except Exception as exc:
            raise RedisBackendError(f"SET {key!r} failed: {exc}") from exc

    async def delete(self, session_id: str) -> None:
        """Remove the session's history (``DEL``); a no-op if absent."""
        key = self.key(session_id)
        self._check_open()
        try:
            await self._client.delete(key)
        except Exception as exc:
            raise RedisBackendError(f"DEL {key!r} failed: {exc}") from exc

    async def aclose(self) -> None:
        """Close the client if the store opened it (:meth:`from_url`). Idempotent."""
        if not self._closed:
            self._closed = True
            if self._owned:
                await close_client(self._client)

    async def __aenter__(self) -> RedisConversationStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @classmethod
    @asynccontextmanager
    async def from_url(
        cls, url: str, *, cluster: bool = False, **options: Any
    ) -> AsyncIterator[RedisConversationStore]:
        """Open a client for ``url`` and yield a store on it; both closed on exit.

        Args:
            url: ``redis://``, ``rediss://`` or ``unix://`` URL.
            cluster: open a ``RedisCluster`` client.
            options: ``prefix``, ``ttl``.
        """
        client = open_client(url, cluster=cluster)
        try:
            store = cls(client, **options)
        except BaseException:
            await close_client(client)
            raise
        store._owned = True
        try:
            yield store
        finally:
            await store.aclose()
