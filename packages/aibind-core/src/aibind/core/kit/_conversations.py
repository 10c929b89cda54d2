"""``ConversationStoreBase``: the :class:`~aibind.core.protocols.ConversationStore`, written once
over the smallest storage surface (get / set with a TTL / delete of one text value per session).

Every backend's conversation store (memory, SQLite, Redis, PostgreSQL, Cloudflare KV) is a thin
adapter supplying those three hooks; argument checks, the npm JSON wire format, decoding errors
and error translation live here.
"""

from __future__ import annotations

from aibind.core.chat_history import ChatHistory
from aibind.core.errors import CorruptDataError
from aibind.core.kit._lifecycle import StoreBase
from aibind.core.kit._values import as_text
from aibind.core.types import ConversationMessage
from aibind.core.validation import check_chat, check_id, check_ttl

__all__ = ["ConversationStoreBase"]


class ConversationStoreBase(StoreBase):
    """Base class of every backend's conversation store.

    Each history is stored as ``ChatHistory.to_json()`` (the npm wire format) under one key per
    session, and expires ``ttl`` seconds after its last save.

    Args:
        ttl: seconds a history lives after its last save (default 1800, the npm default).

    Raises:
        TypeError, ValueError: ``ttl`` is not a positive number of seconds.

    Backend hooks (raise the driver's errors; they are translated here):

    * ``_get(key) -> str | bytes | None``: the stored text, or ``None`` if absent or expired;
    * ``_set(key, value, ttl)``: store ``value`` (text) and restart its expiry (``ttl`` seconds);
    * ``_delete(key)``: remove it (a no-op if absent);
    * :meth:`_key`: the storage key of a session (default: the session id itself).
    """

    def __init__(self, *, ttl: float = 1800.0) -> None:
        self.ttl = check_ttl(ttl)

    async def _get(self, key: str) -> str | bytes | None:
        raise NotImplementedError

    async def _set(self, key: str, value: str, ttl: float) -> None:
        raise NotImplementedError

    async def _delete(self, key: str) -> None:
        raise NotImplementedError

    def _key(self, session_id: str) -> str:
        """The storage key of ``session_id`` (override to add a prefix)."""
        return session_id

    def _where(self, session_id: str) -> str:
        """Where a session is stored, for error messages (override to name a table)."""
        return f"conversation {session_id!r} ({self._key(session_id)!r})"

    async def load(self, session_id: str) -> ChatHistory[ConversationMessage]:
        """Return the session's history, or an empty one if it is absent, expired or stored
        empty.

        Raises:
            TypeError, ValueError: a malformed ``session_id``.
            CorruptDataError: the stored value is not valid UTF-8 / JSON / a consistent tree
                (the message names the session and the problem); the value is left untouched.
            BackendError: the backend failed.
        """
        check_id(session_id, "session_id")
        await self._ready()
        raw = await self._call(self._get(self._key(session_id)))
        if raw is None:
            return ChatHistory()
        text = raw if type(raw) is str else as_text(raw, self._where(session_id))
        if not text:
            return ChatHistory()
        try:
            return ChatHistory.from_json(text)
        except CorruptDataError as exc:
            raise CorruptDataError(f"{self._where(session_id)}: {exc}") from exc

    async def save(self, session_id: str, chat: ChatHistory[ConversationMessage]) -> None:
        """Store ``chat`` under ``session_id`` (replacing what was there) and restart its TTL.

        Raises:
            TypeError, ValueError: a malformed ``session_id``, or ``chat`` is not a
                :class:`~aibind.core.ChatHistory`.
            BackendError: the backend failed (what was stored before is unchanged).
        """
        check_id(session_id, "session_id")
        check_chat(chat)
        data = chat.to_json()
        await self._ready()
        await self._call(self._set(self._key(session_id), data, self.ttl))

    async def delete(self, session_id: str) -> None:
        """Remove the session's history; a no-op if it does not exist.

        Raises:
            BackendError: the backend failed.
        """
        check_id(session_id, "session_id")
        await self._ready()
        await self._call(self._delete(self._key(session_id)))
