"""``PostgresConversationStore``: chat histories in one PostgreSQL table.

The npm ``@aibind/postgres`` ``PostgresConversationStore`` (same table, JSON text, upsert on
save), with expiry in seconds, expiry checked on load and a count from ``cleanup()``.
"""

from __future__ import annotations

from typing import Any

from aibind.core.chat_history import ChatHistory
from aibind.core.types import ConversationMessage
from aibind.core.validation import check_chat, check_id, check_ttl
from aibind.postgres.base import StoreBase
from aibind.postgres.connect import PostgresPool
from aibind.postgres.idents import table_name
from aibind.postgres.schema import DEFAULT_CONVERSATIONS_TABLE, conversation_ddl
from aibind.postgres.statements import ConversationSQL

__all__ = ["PostgresConversationStore"]


class PostgresConversationStore:
    """A :class:`~aibind.core.protocols.ConversationStore` on one PostgreSQL table, with
    ``cleanup`` and ``setup``.

    Args:
        client: a :class:`~aibind.postgres.PostgresClient`, a psycopg ``AsyncConnection`` /
            ``AsyncConnectionPool`` or an asyncpg ``Connection`` / ``Pool``. Never closed by
            the store.
        table: the table, ``"name"``, ``"schema.name"`` or ``(schema, name)``, quoted as an
            identifier. Default ``"aibind_conversations"``.
        ttl: seconds a history lives after its last save (default 1800, the seed's 1_800_000
            ms). Expired histories load as empty even before :meth:`cleanup`.

    Raises:
        TypeError, ValueError: a malformed option.
    """

    def __init__(
        self,
        client: object,
        *,
        table: str | tuple[str, str] = DEFAULT_CONVERSATIONS_TABLE,
        ttl: float = 1800.0,
    ) -> None:
        self.table = table_name(table, "table")
        self.ttl = check_ttl(ttl)
        self._ttl_ms = max(1, round(self.ttl * 1000))
        self._base = StoreBase(client, [self.table.display])
        self._sql = ConversationSQL.build(self.table)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        driver: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        **options: Any,
    ) -> PostgresConversationStore:
        """A store on a pool it opens from ``url`` and closes in :meth:`aclose` (use
        ``async with PostgresConversationStore.from_url(url) as store:``).

        Raises:
            MissingDriverError: the driver is not installed (names the extra).
        """
        pool = PostgresPool(url, driver=driver, min_size=min_size, max_size=max_size)
        store = cls(pool, **options)
        store._base._owned = pool
        return store

    @property
    def client(self) -> Any:
        """The :class:`~aibind.postgres.PostgresClient` the store uses."""
        return self._base.client

    async def setup(self) -> None:
        """Create the table and its ``expires_at`` index if missing; idempotent.

        Raises:
            SchemaError: the schema of a qualified name does not exist.
        """
        await self._base._setup(conversation_ddl(self.table))

    async def load(self, session_id: str) -> ChatHistory[ConversationMessage]:
        """The session's history, or an empty one if absent or expired.

        Raises:
            CorruptDataError: the stored JSON is invalid (the row is left untouched).
            SchemaError: the table is missing.
        """
        check_id(session_id, "session_id")
        rows = await self._base._q(self._sql.load, (session_id,))
        if not rows:
            return ChatHistory()
        return ChatHistory.from_json(rows[0]["data"])

    async def save(self, session_id: str, chat: ChatHistory[ConversationMessage]) -> None:
        """Store ``chat`` (upsert) and restart its TTL.

        Raises:
            TypeError: ``chat`` is not a :class:`~aibind.core.chat_history.ChatHistory`.
        """
        check_id(session_id, "session_id")
        check_chat(chat)
        await self._base._q(self._sql.save, (session_id, chat.to_json(), self._ttl_ms))

    async def delete(self, session_id: str) -> None:
        """Remove the session's history; a no-op if absent."""
        check_id(session_id, "session_id")
        await self._base._q(self._sql.delete, (session_id,))

    async def cleanup(self) -> int:
        """Remove every expired history in one statement; returns how many."""
        rows = await self._base._q(self._sql.cleanup)
        return int(rows[0]["n"])

    async def aclose(self) -> None:
        """Close the pool if opened by :meth:`from_url`; a client passed in stays open.
        Idempotent."""
        await self._base.aclose()

    async def __aenter__(self) -> PostgresConversationStore:
        await self._base.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
