"""aibind on SQLite: durable streams and conversation history in a SQLite file, in the tables
of the npm ``@aibind/sqlite`` package (a Python and a Node service can share the file).

Usage::

    from aibind.sqlite import SqliteStreamStore

    async with SqliteStreamStore.from_url("sqlite:///app.db") as streams:
        await streams.setup()
        await streams.create("s1")
        await streams.append("s1", "Hello")

See ``docs/sqlite.md``.
"""

from __future__ import annotations

from importlib.metadata import version as _distribution_version

from aibind.sqlite._schema import schema_sql
from aibind.sqlite._url import parse_sqlite_url
from aibind.sqlite.backend import open_sqlite_stores
from aibind.sqlite.client import (
    Row,
    SqliteClient,
    Statement,
    wrap_aiosqlite,
    wrap_libsql,
    wrap_sqlite3,
)
from aibind.sqlite.conversations import SqliteConversationStore
from aibind.sqlite.errors import SqliteError
from aibind.sqlite.streams import SqliteStreamStore

__version__ = _distribution_version("aibind-sqlite")
"""The installed distribution's version (from its metadata: the one source is pyproject.toml)."""

__all__ = [
    "Row",
    "SqliteClient",
    "SqliteConversationStore",
    "SqliteError",
    "SqliteStreamStore",
    "Statement",
    "__version__",
    "open_sqlite_stores",
    "parse_sqlite_url",
    "schema_sql",
    "wrap_aiosqlite",
    "wrap_libsql",
    "wrap_sqlite3",
]
