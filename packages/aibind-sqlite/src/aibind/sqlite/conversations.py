"""``SqliteConversationStore``: chat histories in a SQLite table, as the npm
``@aibind/sqlite`` ``SqliteConversationStore`` stores them (ChatHistory JSON text, ``expires_at``
in epoch milliseconds)."""

from __future__ import annotations

from aibind.core.chat_history import ChatHistory
from aibind.core.errors import CorruptDataError
from aibind.core.types import ConversationMessage
from aibind.core.validation import check_chat, check_id, check_ttl
from aibind.sqlite._base import LazyFileClient, OpenedStore, SqliteStoreBase, now_ms, ttl_ms
from aibind.sqlite.client import column
from aibind.sqlite.schema import (
    DEFAULT_CONVERSATIONS_TABLE,
    conversation_statements,
    quote_identifier,
)

__all__ = ["SqliteConversationStore"]


class SqliteConversationStore(SqliteStoreBase):
    """A :class:`~aibind.core.protocols.ConversationStore` on SQLite.

    Each session is one row ``(session_id, data, expires_at)``: ``data`` is
    ``ChatHistory.to_json()`` (the npm wire format), ``expires_at`` epoch milliseconds; a save
    is one upsert and restarts the TTL. Expired rows read as absent; :meth:`cleanup` deletes
    them. Tables are never created implicitly: call :meth:`setup`.

    Args:
        client: a :class:`~aibind.sqlite.client.SqliteClient`, or an aiosqlite / sqlite3 /
            libsql connection (wrapped; never closed by the store).
        table: the table name (a plain identifier; quoted in SQL).
        ttl: seconds a history lives after its last save (default 1800, the npm default).

    Raises:
        TypeError, ValueError: a bad option (the message names it) or client.
    """

    def __init__(
        self,
        client: object,
        *,
        table: str = DEFAULT_CONVERSATIONS_TABLE,
        ttl: float = 1800.0,
    ) -> None:
        self._ddl = conversation_statements(table)
        self.table = table
        self.ttl = check_ttl(ttl)
        self._tables = (table,)
        t = quote_identifier(table)
        self._load_sql = f"SELECT data FROM {t} WHERE session_id = ? AND expires_at > ?"
        self._save_sql = (
            f"INSERT INTO {t} (session_id, data, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (session_id) DO UPDATE SET data = excluded.data, "
            "expires_at = excluded.expires_at"
        )
        self._delete_sql = f"DELETE FROM {t} WHERE session_id = ?"
        self._cleanup_sql = f"DELETE FROM {t} WHERE expires_at <= ? RETURNING session_id"
        super().__init__(client)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        busy_timeout: float = 5.0,
        table: str = DEFAULT_CONVERSATIONS_TABLE,
        ttl: float = 1800.0,
    ) -> OpenedStore[SqliteConversationStore]:
        """Open a store on the file a ``sqlite:`` URL names (see :mod:`aibind.sqlite.url`)::

            async with SqliteConversationStore.from_url("sqlite:///app.db") as store:
                await store.setup()

        The file is opened with aiosqlite on entry (WAL, ``synchronous=NORMAL``,
        ``busy_timeout`` seconds) and closed on exit. Other options as the constructor.

        Raises:
            TypeError, ValueError: malformed URL or option (at once, before opening anything).
        """
        lazy = LazyFileClient(url, check_ttl(busy_timeout, "busy_timeout"))
        return OpenedStore(cls(lazy, table=table, ttl=ttl), lazy)

    async def setup(self) -> None:
        """Create the table if it does not exist (idempotent); never run implicitly."""
        await self._batch([(sql, ()) for sql in self._ddl])

    async def load(self, session_id: str) -> ChatHistory[ConversationMessage]:
        """Return the session's history, or an empty one if absent or expired.

        Raises:
            CorruptDataError: the stored JSON is invalid (the row is left untouched).
            SchemaError: the table is missing.
        """
        check_id(session_id, "session_id")
        rows = await self._execute(self._load_sql, (session_id, now_ms()))
        if not rows:
            return ChatHistory()
        data = column(rows[0], 0, "data")
        if not isinstance(data, (str, bytes)):
            raise CorruptDataError(
                f"conversation {session_id!r} in table {self.table!r}: data is "
                f"{type(data).__name__}, not JSON text"
            )
        try:
            return ChatHistory.from_json(data)
        except CorruptDataError as exc:
            raise CorruptDataError(
                f"conversation {session_id!r} in table {self.table!r}: {exc}"
            ) from exc

    async def save(self, session_id: str, chat: ChatHistory[ConversationMessage]) -> None:
        """Store ``chat`` (one upsert) and restart its TTL.

        Raises:
            TypeError: ``chat`` is not a :class:`~aibind.core.chat_history.ChatHistory`.
        """
        check_id(session_id, "session_id")
        check_chat(chat)
        await self._execute(
            self._save_sql, (session_id, chat.to_json(), now_ms() + ttl_ms(self.ttl))
        )

    async def delete(self, session_id: str) -> None:
        """Remove the session's history; a no-op if absent."""
        check_id(session_id, "session_id")
        await self._execute(self._delete_sql, (session_id,))

    async def cleanup(self) -> int:
        """Delete every expired history and return how many were deleted."""
        return len(await self._execute(self._cleanup_sql, (now_ms(),)))

    async def aclose(self) -> None:
        """Release what the store opened; a client passed in stays open. Idempotent."""
        await super().aclose()
