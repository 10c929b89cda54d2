"""Machinery shared by the two SQLite stores: the client (given or opened from a URL), error
translation, closing, and the ``from_url`` async context manager."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from aibind.core.errors import StoreClosedError
from aibind.sqlite.adapters import as_client, wrap_aiosqlite
from aibind.sqlite.client import Row, SqliteClient, Statement
from aibind.sqlite.errors import translate_error
from aibind.sqlite.url import open_database, parse_sqlite_url

if TYPE_CHECKING:
    import aiosqlite

__all__ = ["LazyFileClient", "OpenedStore", "SqliteStoreBase", "now_ms", "ttl_ms"]


def now_ms() -> int:
    """The current time in epoch milliseconds (what npm's ``Date.now()`` gives)."""
    return int(time.time() * 1000)


def ttl_ms(ttl: float) -> int:
    """A TTL in seconds as whole milliseconds (at least 1)."""
    return max(1, round(ttl * 1000))


class LazyFileClient:
    """A :class:`SqliteClient` for a ``sqlite:`` URL that opens its aiosqlite connection on
    :meth:`open` (``from_url``'s ``__aenter__``) and closes it on :meth:`aclose`."""

    def __init__(self, url: str, busy_timeout: float) -> None:
        self.path = parse_sqlite_url(url)
        self.busy_timeout = busy_timeout
        self.connection: aiosqlite.Connection | None = None
        self._client: SqliteClient | None = None

    async def open(self) -> None:
        """Open the file (WAL, synchronous=NORMAL, busy_timeout); errors are translated."""
        try:
            self.connection = await open_database(self.path, busy_timeout=self.busy_timeout)
        except Exception as exc:
            raise translate_error(exc, ()) from exc
        self._client = wrap_aiosqlite(self.connection, busy_timeout=self.busy_timeout)

    def _require(self) -> SqliteClient:
        if self._client is None:
            raise StoreClosedError("the store opened by from_url() is not open (use async with)")
        return self._client

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> Sequence[Row]:
        """See :class:`SqliteClient`."""
        return await self._require().execute(sql, args)

    async def batch(self, statements: Sequence[Statement]) -> Sequence[Sequence[Row]]:
        """See :class:`SqliteClient`."""
        return await self._require().batch(statements)

    async def aclose(self) -> None:
        """Close the connection it opened. Idempotent."""
        conn, self.connection, self._client = self.connection, None, None
        if conn is not None:
            await conn.close()


class SqliteStoreBase:
    """Client handling shared by the stores. ``client`` may be a :class:`SqliteClient` or an
    aiosqlite / sqlite3 / libsql connection (wrapped here; the wrapper, never the connection,
    is released by :meth:`aclose`)."""

    _tables: tuple[str, ...] = ()

    def __init__(self, client: object) -> None:
        self._client, self._owns_adapter = as_client(client)
        self._closed = False

    @property
    def client(self) -> SqliteClient:
        """The :class:`SqliteClient` the store uses."""
        return self._client

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"{type(self).__name__} is closed")

    async def _execute(self, sql: str, args: Sequence[Any] = ()) -> Sequence[Row]:
        self._check_open()
        try:
            return await self._client.execute(sql, args)
        except Exception as exc:
            raise translate_error(exc, self._tables) from exc

    async def _batch(self, statements: Sequence[Statement]) -> Sequence[Sequence[Row]]:
        self._check_open()
        try:
            return await self._client.batch(statements)
        except Exception as exc:
            raise translate_error(exc, self._tables) from exc

    async def aclose(self) -> None:
        """Close the store: release the adapter it created (if it wrapped a raw connection) and
        the connection it opened (``from_url``); a client you passed in stays open. Later calls
        raise :class:`~aibind.core.errors.StoreClosedError`. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._owns_adapter:
            closer: Callable[[], Any] | None = getattr(self._client, "aclose", None)
            if closer is not None:
                await closer()


S = TypeVar("S", bound=SqliteStoreBase)


class OpenedStore(Generic[S]):
    """What ``from_url`` returns: an async context manager that opens the file on entry,
    yields the store and closes both on exit."""

    def __init__(self, store: S, client: LazyFileClient) -> None:
        self._store = store
        self._client = client

    async def __aenter__(self) -> S:
        await self._client.open()
        return self._store

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._store.aclose()
        finally:
            await self._client.aclose()
