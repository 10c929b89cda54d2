"""``PostgresConversationStore``: chat histories in one PostgreSQL table (npm
``@aibind/postgres``'s: JSON text, upsert on save), a thin adapter over the kit's
:class:`~aibind.core.kit.ConversationStoreBase`. Histories expire on load (``expires_at``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from aibind.core.errors import AibindError
from aibind.core.kit import ClientOpener, ConversationStoreBase, Parser, parse_float, parse_str
from aibind.core.kit import ttl_ms as _ms
from aibind.postgres._errors import translate
from aibind.postgres._idents import table_name
from aibind.postgres._pool import POSTGRES_CLIENT
from aibind.postgres._schema import DEFAULT_CONVERSATIONS_TABLE, conversation_ddl, setup_statement
from aibind.postgres._sql import ConversationSQL
from aibind.postgres.client import as_client

__all__ = ["PostgresConversationStore"]


class PostgresConversationStore(ConversationStoreBase):
    """A :class:`~aibind.core.protocols.ConversationStore` on one table, plus ``setup()`` and
    ``cleanup()`` (returns how many expired histories it removed).

    Args:
        client: as :class:`~aibind.postgres.PostgresStreamStore`'s (never closed by the store).
        table: ``"name"``, ``"schema.name"`` or ``(schema, name)``, quoted as an identifier.
        ttl: seconds a history lives after its last save (default 1800, npm's 1_800_000 ms).

    Raises:
        TypeError, ValueError: a malformed option.
    """

    _client_opener: ClassVar[ClientOpener] = POSTGRES_CLIENT
    _url_options: ClassVar[Mapping[str, Parser]] = {"table": parse_str, "ttl": parse_float}

    def __init__(
        self,
        client: object,
        *,
        table: str | tuple[str, str] = DEFAULT_CONVERSATIONS_TABLE,
        ttl: float = 1800.0,
    ) -> None:
        super().__init__(ttl=ttl)
        self.table = table_name(table, "table")
        self.client: Any = as_client(client)
        self._sql = ConversationSQL.build(self.table)

    def _where(self, session_id: str) -> str:
        return f"conversation {session_id!r} in {self.table.display}"

    def _translate(self, exc: Exception) -> AibindError:
        return translate(exc, [self.table.display])

    async def _get(self, key: str) -> str | bytes | None:
        rows = await self.client.query(self._sql.load, (key,))
        return rows[0][0] if rows else None

    async def _set(self, key: str, value: str, ttl: float) -> None:
        await self.client.query(self._sql.save, (key, value, _ms(ttl)))

    async def _delete(self, key: str) -> None:
        await self.client.query(self._sql.delete, (key,))

    async def setup(self) -> None:
        """Create the table and its ``expires_at`` index if missing (idempotent)."""
        await self._ready()
        await self._call(self.client.query(setup_statement(conversation_ddl(self.table))))

    async def cleanup(self) -> int:
        """Remove every expired history in one statement; return how many."""
        await self._ready()
        return int((await self._call(self.client.query(self._sql.cleanup)))[0][0])
