"""Synchronous units of work on a DB-API (``sqlite3``-shaped) connection, run on the thread that
owns the connection: one statement, or one ``BEGIN IMMEDIATE`` transaction, each retried while
SQLite reports "database is locked/busy" until a deadline.

Shared by the aiosqlite, sqlite3 and libsql adapters. Transactions are controlled explicitly
(``BEGIN IMMEDIATE`` / ``COMMIT`` / ``ROLLBACK`` statements), so the connection may be in
autocommit mode (``isolation_level=None``) or in the legacy default mode of ``sqlite3``
(an implicit transaction a write opens is committed at once).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from aibind.sqlite._errors import is_busy_error
from aibind.sqlite._protocol import Statement

__all__ = ["DbApiConnection", "Outcome", "run_batch", "run_batches", "run_execute"]

T = TypeVar("T")


class _Cursor(Protocol):
    description: Any

    def fetchall(self) -> list[Any]: ...

    def close(self) -> None: ...


class DbApiConnection(Protocol):
    """The part of a ``sqlite3.Connection`` (or ``libsql.Connection``) the adapters use."""

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...


def _rows(conn: DbApiConnection, sql: str, args: Sequence[Any]) -> list[Any]:
    cursor: _Cursor = conn.execute(sql, tuple(args))
    try:
        if cursor.description is None:
            return []
        rows = cursor.fetchall()
        if type(rows) is list:  # sqlite3: a new list already, not copied again
            return rows
        return list(rows or ())  # libsql returns None for statements without rows
    finally:
        cursor.close()


def _retrying(fn: Callable[[], T], busy_timeout: float) -> T:
    deadline = time.monotonic() + busy_timeout
    delay = 0.001
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_busy_error(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def run_execute(
    conn: DbApiConnection, sql: str, args: Sequence[Any], busy_timeout: float
) -> list[Any]:
    """Run one statement and return its rows; a write is committed before returning.

    Args:
        conn: the connection, used from its owning thread.
        sql, args: the statement and its ``?`` values.
        busy_timeout: seconds to keep retrying while the database is locked.
    """

    def once() -> list[Any]:
        was_in_transaction = conn.in_transaction
        try:
            rows = _rows(conn, sql, args)
        except BaseException:
            if not was_in_transaction and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if not was_in_transaction and conn.in_transaction:
            conn.execute("COMMIT")  # the implicit transaction of sqlite3's legacy mode
        return rows

    return _retrying(once, busy_timeout)


def run_batch(
    conn: DbApiConnection, statements: Sequence[Statement], busy_timeout: float
) -> list[list[Any]]:
    """Run ``statements`` in one ``BEGIN IMMEDIATE`` transaction (rolled back on any error and
    retried as a whole while the database is busy) and return each one's rows.

    Raises:
        whatever the driver raises; the transaction is rolled back first.
    """

    def once() -> list[list[Any]]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            results = [_rows(conn, sql, args) for sql, args in statements]
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return results

    return _retrying(once, busy_timeout)


Outcome = tuple[Any, "BaseException | None"]
"""``(result, None)`` or ``(None, error)``: how one batch of a group ended."""


def run_batches(
    conn: DbApiConnection, batches: Sequence[Sequence[Statement]], busy_timeout: float
) -> list[Outcome]:
    """Run several batches, each atomic and isolated as :func:`run_batch` runs it, in ONE
    ``BEGIN IMMEDIATE`` transaction (a group commit): each batch in a savepoint of its own, so
    a batch that fails is rolled back alone and the others commit together. One commit instead
    of one per batch is what makes concurrent appends cheap (measured: the 50 streams x 200
    concurrent appends of the bench).

    If the group as a whole fails (the commit, a lost transaction, the busy timeout), every
    batch is run again on its own with :func:`run_batch`, so each gets its own outcome.

    Returns:
        one :data:`Outcome` per batch, in order.
    """
    if len(batches) == 1:
        return [_alone(conn, batches[0], busy_timeout)]

    def once() -> list[Outcome]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            outcomes: list[Outcome] = []
            for statements in batches:
                conn.execute("SAVEPOINT aibind_batch")
                try:
                    results = [_rows(conn, sql, args) for sql, args in statements]
                except Exception as exc:
                    if not conn.in_transaction:
                        raise  # SQLite ended the whole transaction: run each batch alone
                    conn.execute("ROLLBACK TO aibind_batch")
                    conn.execute("RELEASE aibind_batch")
                    outcomes.append((None, exc))
                else:
                    conn.execute("RELEASE aibind_batch")
                    outcomes.append((results, None))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return outcomes

    try:
        return _retrying(once, busy_timeout)
    except Exception:
        return [_alone(conn, statements, busy_timeout) for statements in batches]


def _alone(conn: DbApiConnection, statements: Sequence[Statement], busy_timeout: float) -> Outcome:
    try:
        return run_batch(conn, statements, busy_timeout), None
    except Exception as exc:
        return None, exc
