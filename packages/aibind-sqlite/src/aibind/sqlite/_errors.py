"""Translating SQLite driver errors (stdlib ``sqlite3``, aiosqlite, libsql) into
:mod:`aibind.core.errors`.

Driver errors are recognised by type: ``sqlite3.Error`` (what sqlite3 and aiosqlite raise),
``libsql.Error``, and the ``ValueError`` libsql raises for SQL errors. SQLite reports most
failures with the one result code ``SQLITE_ERROR``; what went wrong is only in SQLite's own
message ("no such table: x", "database is locked"), so within those types the message decides
the class, using SQLite's documented wording (https://www.sqlite.org/rescode.html).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from aibind.core.errors import (
    AibindError,
    BackendTimeoutError,
    BackendUnavailableError,
    CorruptDataError,
    SchemaError,
    StoreClosedError,
)
from aibind.core.kit import backend_error, describe, loaded_types
from aibind.sqlite.errors import SqliteError

__all__ = ["is_busy_error", "translate_error"]

_SCHEMA = ("no such table", "no such column", "has no column named")
_BUSY = ("database is locked", "database table is locked", "database is busy", "sqlite_busy")
_CANT_OPEN = ("unable to open database", "file is not a database", "sqlite_cantopen")
_CLOSED = ("closed database", "connection closed", "no active connection")
_UNDECODABLE = ("could not decode to utf-8",)


def _driver_types() -> tuple[type[BaseException], ...]:
    types = loaded_types("sqlite3", "Error") + loaded_types("libsql", "Error")
    return (*types, ValueError) if "libsql" in sys.modules or "aiosqlite" in sys.modules else types


def is_busy_error(exc: BaseException) -> bool:
    """``True`` if ``exc`` is SQLite's "database is locked / busy" (worth retrying)."""
    text = str(exc).lower()
    return any(marker in text for marker in _BUSY)


def translate_error(exc: Exception, tables: Sequence[str], context: str = "") -> AibindError:
    """The :mod:`aibind.core.errors` exception to raise (``from exc``) for a client error.

    Args:
        exc: what the client raised.
        tables: the store's table names, for the :class:`SchemaError` message.
        context: what was being done, prepended to the message.

    Returns:
        :class:`SchemaError` (missing table/column: says how to create them),
        :class:`BackendTimeoutError` (locked past the busy timeout),
        :class:`BackendUnavailableError` (the file cannot be opened),
        :class:`CorruptDataError` (stored text that is not UTF-8),
        :class:`StoreClosedError` (closed connection), :class:`SqliteError` for any other
        driver error, else :func:`aibind.core.kit.backend_error`'s classification.
    """
    if isinstance(exc, AibindError):
        return exc
    if not isinstance(exc, _driver_types()):
        return backend_error(exc, context)
    text = describe(exc)
    lower = text.lower()
    where = f"{context}: " if context else ""
    if any(marker in lower for marker in _SCHEMA):
        return SchemaError(
            f"{where}SQLite schema problem ({text}): the store needs the table(s) "
            f"{', '.join(tables)}; create them with `await store.setup()` or run the DDL "
            "printed by `aibind schema sqlite`"
        )
    if any(marker in lower for marker in _BUSY):
        return BackendTimeoutError(f"{where}the database stayed locked past busy_timeout: {text}")
    if any(marker in lower for marker in _CANT_OPEN):
        return BackendUnavailableError(f"{where}{text}")
    if any(marker in lower for marker in _CLOSED):
        return StoreClosedError(f"{where}the SQLite connection is closed ({text})")
    if any(marker in lower for marker in _UNDECODABLE):
        return CorruptDataError(f"{where}stored text is not valid UTF-8: {text}")
    return SqliteError(f"{where}{text}")
