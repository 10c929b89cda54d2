"""``SqliteConversationStore``: chat histories in a SQLite table, as the npm
``@aibind/sqlite`` ``SqliteConversationStore`` stores them (ChatHistory JSON text, ``expires_at``
in epoch milliseconds): an adapter over :class:`~aibind.core.kit.ConversationStoreBase`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from aibind.core.kit import (
    ClientOpener,
    ConversationStoreBase,
    Parser,
    now_ms,
    parse_float,
    parse_str,
    ttl_ms,
)
from aibind.sqlite._protocol import column
from aibind.sqlite._schema import DEFAULT_CONVERSATIONS_TABLE, conversation_statements
from aibind.sqlite._schema import quote_identifier as q
from aibind.sqlite._store import SqliteStore
from aibind.sqlite._url import SQLITE_CLIENT

__all__ = ["SqliteConversationStore"]


class SqliteConversationStore(SqliteStore, ConversationStoreBase):
    """A :class:`~aibind.core.protocols.ConversationStore` on one SQLite table
    ``(session_id, data, expires_at)`` with ``setup`` and ``cleanup``: a save is one upsert that
    restarts the TTL; an expired row loads as empty. Never creates tables implicitly.

    Args:
        client: a :class:`~aibind.sqlite.SqliteClient`, or a sqlite3 / aiosqlite / libsql
            connection (wrapped; never closed by the store).
        table: the table name (a plain identifier; quoted in SQL).
        ttl: seconds a history lives after its last save (default 1800, the npm default).
    """

    _client_opener: ClassVar[ClientOpener] = SQLITE_CLIENT
    _url_options: ClassVar[Mapping[str, Parser]] = {"table": parse_str, "ttl": parse_float}

    def __init__(
        self, client: object, *, table: str = DEFAULT_CONVERSATIONS_TABLE, ttl: float = 1800.0
    ) -> None:
        super().__init__(ttl=ttl)
        self._ddl, self.table, self._tables = conversation_statements(table), table, (table,)
        self._use_client(client)
        t = q(table)
        self._sql = (
            f"SELECT data FROM {t} WHERE session_id = ? AND expires_at > ?",
            f"INSERT INTO {t} (session_id, data, expires_at) VALUES (?, ?, ?) ON CONFLICT "
            "(session_id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
            f"DELETE FROM {t} WHERE session_id = ?",
            f"DELETE FROM {t} WHERE expires_at <= ? RETURNING session_id",
        )

    def _where(self, session_id: str) -> str:
        return f"conversation {session_id!r} in table {self.table!r}"

    async def _get(self, key: str) -> Any:
        rows = await self._client.execute(self._sql[0], (key, now_ms()))
        return column(rows[0], 0, "data") if rows else None

    async def _set(self, key: str, value: str, ttl: float) -> None:
        await self._client.execute(self._sql[1], (key, value, now_ms() + ttl_ms(ttl)))

    async def _delete(self, key: str) -> None:
        await self._client.execute(self._sql[2], (key,))

    async def cleanup(self) -> int:
        """Delete every expired history; returns how many were deleted."""
        await self._ready()
        return len(await self._call(self._client.execute(self._sql[3], (now_ms(),))))
