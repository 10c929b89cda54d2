"""Turning psycopg / psycopg_pool / asyncpg exceptions into :mod:`aibind.core.errors`.

Exceptions are matched by type (:func:`aibind.core.kit.loaded_types`, so a driver that is not
imported is never imported here) and by the SQLSTATE code the server sent (the ``sqlstate``
attribute both drivers' server errors carry); never by class-name strings or message text. The
driver's exception is always chained by the caller (``raise translate(exc, ...) from exc``).
"""

from __future__ import annotations

from aibind.core.errors import (
    AibindError,
    BackendTimeoutError,
    BackendUnavailableError,
    ConnectionLostError,
    CorruptDataError,
    SchemaError,
    StoreClosedError,
)
from aibind.core.kit import backend_error, loaded_types
from aibind.postgres.errors import DatabaseError

__all__ = ["SETUP_HINT", "connect_error", "first_line", "sqlstate_of", "translate"]

SETUP_HINT = (
    "call `await store.setup()`, or run the DDL printed by `aibind schema postgres` "
    "(schema/postgres.sql) with these names"
)

_SCHEMA = {
    "42P01": "a table is missing",  # undefined_table
    "3F000": "a schema is missing (create it first: CREATE SCHEMA ...)",  # invalid_schema_name
    "42703": "a table lacks a column the store needs",  # undefined_column
}
# admin_shutdown, crash_shutdown, and class 08 (connection exception) once connected.
_LOST = frozenset({"57P01", "57P02", "08000", "08003", "08006", "08007"})
# cannot_connect_now (starting up / shutting down), connection refused by the server,
# too_many_connections, unknown database, authentication failures.
_UNAVAILABLE = frozenset({"57P03", "08001", "08004", "53300", "3D000", "28000", "28P01"})
# query_canceled (statement_timeout), lock_not_available (lock_timeout).
_TIMEOUT = frozenset({"57014", "55P03"})
# character_not_in_repertoire, untranslatable_character: stored bytes that are not text in the
# connection's encoding (our writes are always valid UTF-8, so these come from reads).
_UNDECODABLE = frozenset({"22021", "22P05"})


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE code of a psycopg or asyncpg server error, or ``None`` for anything else."""
    if not isinstance(exc, _server_errors()):
        return None
    code = getattr(exc, "sqlstate", None)
    return code if isinstance(code, str) else None


def _server_errors() -> tuple[type[BaseException], ...]:
    return loaded_types("psycopg", "Error") + loaded_types("asyncpg.exceptions", "PostgresError")


def first_line(exc: BaseException) -> str:
    """``"<Type>: <first line of the message>"`` (server errors carry SQL context on later
    lines), or just ``"<Type>"``."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0].strip()}" if lines else type(exc).__name__


def translate(exc: BaseException, tables: list[str]) -> AibindError:
    """The :mod:`aibind.core.errors` exception for a driver exception raised while using
    ``tables`` (not raised: the caller raises it ``from exc``).

    Args:
        exc: what the driver (or the OS) raised.
        tables: display names of the tables the store uses (for the message).

    Returns:
        ``exc`` itself if it already is an :class:`AibindError`; else
        :class:`SchemaError` (missing table, schema or column), :class:`CorruptDataError`
        (stored text that is not valid in the connection's encoding),
        :class:`StoreClosedError` (the pool was closed),
        :class:`BackendTimeoutError` (no pooled connection in time, statement or lock
        timeout), :class:`ConnectionLostError` (the server ended the connection),
        :class:`BackendUnavailableError` (the server refuses connections now),
        :class:`DatabaseError` (any other server error, with its ``sqlstate``) or what
        :func:`aibind.core.kit.backend_error` makes of an OS error.
    """
    if isinstance(exc, AibindError):
        return exc
    where = ", ".join(tables)
    if isinstance(exc, UnicodeDecodeError):  # asyncpg decoding a SQL_ASCII database's bytes
        return CorruptDataError(
            f"{where}: stored text is not UTF-8 (byte {exc.start}: {exc.reason})"
        )
    if isinstance(exc, loaded_types("psycopg_pool", "PoolClosed")):
        return StoreClosedError(f"the connection pool of the store on {where} is closed")
    if isinstance(exc, loaded_types("psycopg_pool", "PoolTimeout", "TooManyRequests")):
        return BackendTimeoutError(
            f"no pooled connection became free in time for {where} ({first_line(exc)}); "
            "raise max_size or pool_timeout"
        )
    code = sqlstate_of(exc)
    if code in _SCHEMA:
        return SchemaError(
            f"{_SCHEMA[code]} ({first_line(exc)}); the store uses the tables {where}: {SETUP_HINT}"
        )
    message = f"PostgreSQL error on {where}: {first_line(exc)}"
    if code in _UNDECODABLE:
        return CorruptDataError(f"{where}: stored text cannot be decoded ({first_line(exc)})")
    if code in _LOST:
        return ConnectionLostError(message)
    if code in _UNAVAILABLE:
        return BackendUnavailableError(message)
    if code in _TIMEOUT:
        return BackendTimeoutError(message)
    if code is None and isinstance(
        exc,
        # asyncpg: a connection left mid-protocol by a server that went away
        loaded_types("psycopg", "OperationalError")
        + loaded_types("asyncpg.exceptions", "InternalClientError"),
    ):
        # psycopg reports a connection that broke during a call as a bare OperationalError
        # ("server closed the connection unexpectedly", "consuming input failed"); failures to
        # connect are translated where we connect (connect_error). asyncpg raises its
        # InternalClientError for a connection the server left mid-protocol.
        return ConnectionLostError(message)
    if code is not None or isinstance(exc, _server_errors()):
        return DatabaseError(message, code)
    if isinstance(exc, loaded_types("asyncpg.exceptions", "InterfaceError")):
        return DatabaseError(message)
    return backend_error(exc, f"PostgreSQL on {where}")


def connect_error(exc: BaseException, what: str) -> AibindError:
    """The error for a failure to open a connection or pool (``what`` says which): a
    :class:`BackendUnavailableError` naming the cause's type, whatever the driver raised
    (refused, unknown host, authentication, unknown database, timeout, a malformed parameter),
    or ``exc`` itself if it already is an :class:`AibindError`."""
    if isinstance(exc, AibindError):
        return exc
    return BackendUnavailableError(f"cannot open {what}: {first_line(exc)}")
