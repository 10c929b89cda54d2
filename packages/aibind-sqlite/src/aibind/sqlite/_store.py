"""What both SQLite stores share on top of the kit: their client (given, or wrapped from a
driver connection), error translation with their table names, ``setup()`` and closing."""

from __future__ import annotations

from collections.abc import Sequence

from aibind.core.errors import AibindError
from aibind.core.kit import StoreBase
from aibind.sqlite._adapters import as_client
from aibind.sqlite._errors import translate_error
from aibind.sqlite._protocol import SqliteClient

__all__ = ["SqliteStore"]


class SqliteStore(StoreBase):
    """Mixed into :class:`~aibind.sqlite.SqliteStreamStore` and
    :class:`~aibind.sqlite.SqliteConversationStore` (before their kit base class)."""

    _tables: tuple[str, ...] = ()
    _ddl: Sequence[str] = ()

    def _use_client(self, client: object) -> None:
        self._client, self._owns_adapter = as_client(client)

    @property
    def client(self) -> SqliteClient:
        """The :class:`~aibind.sqlite.SqliteClient` the store uses."""
        return self._client

    def _translate(self, exc: Exception) -> AibindError:
        return translate_error(exc, self._tables)

    async def setup(self) -> None:
        """Create the store's tables if they do not exist, in one transaction (idempotent);
        never run implicitly. The DDL is ``aibind schema sqlite`` with this store's names."""
        await self._ready()
        await self._call(self._client.batch([(sql, ()) for sql in self._ddl]))

    async def _close(self) -> None:
        await super()._close()
        if self._owns_adapter:  # an adapter the store made around a driver connection
            closer = getattr(self._client, "aclose", None)
            if callable(closer):
                await closer()
