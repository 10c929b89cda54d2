"""The client side of the SQLite stores: the :class:`SqliteClient` protocol (the Python
spelling of the npm ``@aibind/sqlite`` ``SqliteClient``) and adapters that turn the common
drivers into one.

* :func:`wrap_sqlite3` — a stdlib ``sqlite3.Connection``, driven from one worker thread so the
  event loop never blocks (what ``from_url`` opens).
* :func:`wrap_aiosqlite` — an ``aiosqlite.Connection`` you already have.
* :func:`wrap_libsql` — a ``libsql.Connection`` (``pip install "aibind-sqlite[libsql]"``).

The stores also accept these connections directly (they wrap them, and never close them).
"""

from __future__ import annotations

from aibind.sqlite._adapters import wrap_aiosqlite, wrap_libsql, wrap_sqlite3
from aibind.sqlite._protocol import Row, SqliteClient, Statement, column

__all__ = [
    "Row",
    "SqliteClient",
    "Statement",
    "column",
    "wrap_aiosqlite",
    "wrap_libsql",
    "wrap_sqlite3",
]
