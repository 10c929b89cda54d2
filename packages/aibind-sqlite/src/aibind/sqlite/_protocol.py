"""``SqliteClient``: the smallest async interface the SQLite stores need, the Python spelling
of the npm ``@aibind/sqlite`` ``SqliteClient`` (``execute({sql, args})`` / ``batch(stmts)``).

Any object with these two coroutine methods works (structural typing): the adapters in
:mod:`aibind.sqlite.client` (stdlib ``sqlite3``, aiosqlite, ``libsql``), ``aibind.cloudflare``'s
D1 clients, or your own.

Rows: each row is either a sequence of the selected columns *in the order of the SELECT*
(a ``tuple`` or a ``sqlite3.Row``: what the adapters return) or a mapping keyed by column name
(what HTTP APIs such as D1 return). The stores accept both.

Placeholders are ``?`` (qmark), arguments positional.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["Row", "SqliteClient", "Statement", "column"]

Row = Any
"""One result row: a sequence in SELECT column order, or a mapping keyed by column name."""

Statement = tuple[str, Sequence[Any]]
"""One statement of a :meth:`SqliteClient.batch`: ``(sql, args)``."""


@runtime_checkable
class SqliteClient(Protocol):
    """What a SQLite store needs from a database client.

    Implementations raise the driver's own exceptions (the stores translate them: a missing
    table becomes :class:`~aibind.core.errors.SchemaError`, a lock held past the busy timeout
    :class:`~aibind.core.errors.BackendTimeoutError`, anything else an
    :class:`~aibind.sqlite.SqliteError`, chained) or :mod:`aibind.core.errors` exceptions.
    "Database is busy/locked" should be retried by the client for its busy timeout rather than
    raised at once.
    """

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> Sequence[Row]:
        """Run one statement (its own transaction if it writes) and return its rows
        (``[]`` for a statement that returns none).

        Args:
            sql: one SQL statement with ``?`` placeholders.
            args: the placeholder values, in order.
        """
        ...

    async def batch(self, statements: Sequence[Statement]) -> Sequence[Sequence[Row]]:
        """Run ``statements`` in order as ONE atomic transaction (all or nothing, isolated from
        every other writer: ``BEGIN IMMEDIATE`` on a local file, D1's ``batch()``) and return
        each statement's rows.

        Args:
            statements: ``(sql, args)`` pairs.
        """
        ...


def column(row: Row, index: int, name: str) -> Any:
    """Return a row's column by position (sequence rows) or by name (mapping rows).

    Args:
        row: a row as described in this module.
        index: the column's position in the SELECT.
        name: the column's name or alias in the SELECT.
    """
    if isinstance(row, Mapping):
        return row[name]
    return row[index]
