"""What both PostgreSQL stores share: the client, its ownership, error translation, setup and
closing."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

from aibind.core.errors import AibindError, StoreClosedError
from aibind.postgres.client import PostgresClient, Row, as_client
from aibind.postgres.connect import PostgresPool
from aibind.postgres.dberrors import translate

__all__ = ["StoreBase"]

_SETUP_TAG = "$aibind_setup$"
_SETUP_LOCK = 0x616962696E64  # "aibind": serialises concurrent setup() calls


class StoreBase:
    """Common machinery of :class:`PostgresStreamStore` and :class:`PostgresConversationStore`.

    Args:
        client: a :class:`PostgresClient` or a psycopg/asyncpg connection or pool.
        tables: display names of the store's tables (for error messages).
    """

    def __init__(self, client: object, tables: list[str]) -> None:
        self.client: PostgresClient = as_client(client)
        self._owned: PostgresPool | None = None
        self._closed = False
        self._tables = tables

    async def _q(self, sql: str, params: Sequence[object] = ()) -> Sequence[Row]:
        if self._closed:
            raise StoreClosedError(f"the store on {' / '.join(self._tables)} has been closed")
        try:
            return await self.client.query(sql, params)
        except AibindError:
            raise
        except Exception as exc:
            raise translate(exc, self._tables, "call `await store.setup()`") from exc

    async def _setup(self, statements: list[str]) -> None:
        body = ";\n".join(statements)
        if _SETUP_TAG in body:
            raise ValueError(f"table names must not contain {_SETUP_TAG!r}")
        await self._q(
            f"DO {_SETUP_TAG} BEGIN\nPERFORM pg_advisory_xact_lock({_SETUP_LOCK});\n"
            f"{body};\nEND {_SETUP_TAG}"
        )

    async def _close_owned(self) -> None:
        self._closed = True
        owned, self._owned = self._owned, None
        if owned is not None:
            await owned.aclose()

    async def aclose(self) -> None:
        """Close what the store opened (its LISTEN connection, and the pool if it was opened
        with ``from_url``); a client passed in is left open. Idempotent."""
        await self._close_owned()

    async def __aenter__(self) -> Any:
        if self._owned is not None:
            await self._owned.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
