"""``ConversationStoreBase``: the :class:`~aibind.core.protocols.ConversationStore`, written once
over the smallest storage surface (get / set with a TTL / delete of one text value per session).

Every backend's conversation store (memory, SQLite, Redis, PostgreSQL, Cloudflare KV) is a thin
adapter supplying those three hooks; argument checks, the npm JSON wire format, decoding errors
and error translation live here.
"""

from __future__ import annotations

from aibind.core._tree_share import share_tree
from aibind.core.chat_history import ChatHistory
from aibind.core.errors import CorruptDataError
from aibind.core.kit._history_cache import HistoryCache
from aibind.core.kit._lifecycle import StoreBase
from aibind.core.kit._values import as_text
from aibind.core.types import ConversationMessage
from aibind.core.validation import check_chat, check_id, check_ttl

__all__ = ["ConversationStoreBase"]


class ConversationStoreBase(StoreBase):
    """Base class of every backend's conversation store.

    Each history is stored as ``ChatHistory.to_json()`` (the npm wire format) under one key per
    session, and expires ``ttl`` seconds after its last save.

    Loading text this store saved itself under the same key (the common turn: load, append,
    save; the next request loads it again) skips parsing: the backend is read every time, and
    when the text read equals the text last saved there, the tree saved is copied on write
    instead (:class:`~aibind.core.kit._history_cache.HistoryCache`; see :attr:`cache_chars`).

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

    CACHE_CHARS = 1_000_000
    """Default of :attr:`cache_chars`: ten histories of 100 KB, about 6 MB of memory."""

    def __init__(self, *, ttl: float = 1800.0) -> None:
        self.ttl = check_ttl(ttl)
        self._saved = HistoryCache(self.CACHE_CHARS)

    @property
    def cache_chars(self) -> int:
        """Characters of saved history text kept to skip parsing it when it is loaded again
        (default :data:`CACHE_CHARS`); set ``0`` to keep none. Setting it evicts at once.
        A history kept takes about six times its text in memory when nothing else holds its
        tree (the text, each node's text, the nodes, copies of their messages): measured,
        561 KiB for a 94,356-character history of 200 messages.

        Raises:
            TypeError, ValueError: (on setting) not an ``int`` >= 0.
        """
        return self._saved.limit

    @cache_chars.setter
    def cache_chars(self, limit: int) -> None:
        self._saved.resize(limit)

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
        key = self._key(session_id)
        raw = await self._call(self._get(key))
        if raw is None:
            return ChatHistory()
        text = raw if type(raw) is str else as_text(raw, self._where(session_id))
        if not text:
            return ChatHistory()
        share = self._saved.recall(key, text)
        if share is not None:
            return ChatHistory(tree=share.tree())
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
        key = self._key(session_id)
        data = chat.to_json()
        share = share_tree(chat.tree) if self._saved.limit >= len(data) else None
        await self._ready()
        self._saved.forget(key)
        await self._call(self._set(key, data, self.ttl))
        if share is not None:
            self._saved.remember(key, data, share)

    async def delete(self, session_id: str) -> None:
        """Remove the session's history; a no-op if it does not exist.

        Raises:
            BackendError: the backend failed.
        """
        check_id(session_id, "session_id")
        await self._ready()
        key = self._key(session_id)
        self._saved.forget(key)
        await self._call(self._delete(key))
