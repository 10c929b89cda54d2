"""Turning driver errors into :mod:`aibind.core.errors` (DESIGN.md "Clear failures").

Both drivers expose the SQLSTATE as ``exc.sqlstate`` (psycopg 3, asyncpg); psycopg 2 style
clients as ``exc.pgcode``. A missing table, column or schema becomes a
:class:`~aibind.core.errors.SchemaError` that says how to create it; anything else becomes a
:class:`DatabaseError`. The driver error is always chained (``__cause__``).
"""

from __future__ import annotations

from aibind.core.errors import AibindError, SchemaError

__all__ = ["DatabaseError", "translate"]

_MISSING = {
    "42P01": "a table is missing",  # undefined_table
    "3F000": "a schema is missing (create it first: CREATE SCHEMA ...)",  # invalid_schema_name
    "42703": "a table lacks a column the store needs",  # undefined_column
}


class DatabaseError(AibindError):
    """A PostgreSQL or driver error the store did not expect (connection lost, permission
    denied...). The driver's exception is chained as ``__cause__``; ``sqlstate`` holds its
    SQLSTATE code when there is one."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE code of a driver exception, or ``None``."""
    code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return code if isinstance(code, str) else None


def translate(exc: Exception, tables: list[str], how: str) -> AibindError:
    """Map a driver error raised while using ``tables`` to an aibind error (not raised; the
    caller raises it ``from exc``).

    Args:
        exc: what the driver raised.
        tables: the display names of the tables the statement used.
        how: how to create them, e.g. ``"call await store.setup()"``.

    Returns:
        :class:`SchemaError` for an undefined table, column or schema, else
        :class:`DatabaseError`.
    """
    code = sqlstate_of(exc)
    names = ", ".join(tables)
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if code in _MISSING:
        return SchemaError(
            f"{_MISSING[code]} ({detail}); the store uses the tables {names}: {how}, or run "
            "the DDL printed by `aibind schema postgres` (schema/postgres.sql) with these names"
        )
    return DatabaseError(f"PostgreSQL error on {names}: {type(exc).__name__}: {detail}", code)
