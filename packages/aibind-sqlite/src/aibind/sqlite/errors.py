"""Errors of the SQLite stores and the translation of driver errors into them.

Every exception a client raises reaches the caller as an :class:`~aibind.core.errors.AibindError`
subclass chained to it (``raise ... from exc``): a missing table or column as
:class:`~aibind.core.errors.SchemaError`, a closed connection as
:class:`~aibind.core.errors.StoreClosedError`, anything else as :class:`SqliteError`.
"""

from __future__ import annotations

from collections.abc import Sequence

from aibind.core.errors import AibindError, SchemaError, StoreClosedError

__all__ = ["SqliteError", "is_busy_error", "translate_error"]

_SCHEMA_MARKERS = ("no such table", "no such column", "has no column named")
_CLOSED_MARKERS = ("closed database", "connection closed", "no active connection")
_BUSY_MARKERS = (
    "database is locked",
    "database table is locked",
    "database is busy",
    "sqlite_busy",
)


class SqliteError(AibindError):
    """A SQLite driver error (constraint, I/O, busy past the timeout, ...); the driver's
    exception is chained as ``__cause__``."""


def is_busy_error(exc: BaseException) -> bool:
    """``True`` if ``exc`` is SQLite's "database is locked/busy" (worth retrying)."""
    text = str(exc).lower()
    return any(marker in text for marker in _BUSY_MARKERS)


def translate_error(exc: Exception, tables: Sequence[str]) -> AibindError:
    """Map a client exception to the aibind error to raise (chain it with ``from exc``).

    Args:
        exc: what the client raised.
        tables: the store's table names, for the :class:`SchemaError` message.

    Returns:
        :class:`SchemaError` for a missing table/column, :class:`StoreClosedError` for a closed
        connection, else :class:`SqliteError`.
    """
    if isinstance(exc, AibindError):
        return exc
    text = str(exc)
    lower = text.lower()
    if any(marker in lower for marker in _SCHEMA_MARKERS):
        names = ", ".join(tables)
        return SchemaError(
            f"SQLite schema problem ({text}): the store needs the table(s) {names}; create them "
            "with `await store.setup()` or run the DDL printed by `aibind schema sqlite`"
        )
    if any(marker in lower for marker in _CLOSED_MARKERS):
        return StoreClosedError(f"the SQLite connection is closed ({text})")
    return SqliteError(f"SQLite error: {type(exc).__name__}: {text}")
