"""``sqlite:`` URLs and opening a database file for ``from_url`` and the ``sqlite`` backend.

Accepted forms (the SQLAlchemy convention):

* ``sqlite:///relative/path.db`` — relative to the current directory;
* ``sqlite:////absolute/path.db`` — an absolute path (four slashes);
* ``sqlite:///:memory:`` or ``sqlite://:memory:`` — a private in-memory database (one per
  connection: only useful when both stores share the connection, as the backend opener does).

The path is percent-decoded (``%20`` for a space). A host (``sqlite://host/x``), an empty path,
a query string or a fragment are rejected with :class:`ValueError`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import unquote

from aibind.core.validation import check_ttl

if TYPE_CHECKING:
    import aiosqlite

__all__ = ["MEMORY", "open_database", "parse_sqlite_url"]

MEMORY = ":memory:"
"""What :func:`parse_sqlite_url` returns for an in-memory database."""


def parse_sqlite_url(url: object) -> str:
    """Return the database path named by a ``sqlite:`` URL (or :data:`MEMORY`).

    Args:
        url: ``sqlite:///relative``, ``sqlite:////absolute`` or ``sqlite:///:memory:``.

    Returns:
        the path, as given (relative paths stay relative), or ``":memory:"``.

    Raises:
        TypeError: ``url`` is not a ``str``.
        ValueError: not a ``sqlite://`` URL, a host is given, the path is empty, or it has a
            query string or fragment.
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "sqlite":
        raise ValueError(f"url must start with sqlite:// (like sqlite:///app.db), got {url!r}")
    if "?" in rest or "#" in rest:
        raise ValueError(f"url must not have a query string or fragment: {url!r}")
    if rest in (MEMORY, "/" + MEMORY):
        return MEMORY
    if not rest.startswith("/"):
        raise ValueError(
            f"url names a host; use sqlite:///relative/path or sqlite:////absolute/path: {url!r}"
        )
    path = unquote(rest[1:])
    if not path or path.endswith("/"):
        raise ValueError(f"url has no database file path: {url!r}")
    if "\x00" in path:
        raise ValueError(f"url path must not contain NUL: {url!r}")
    return path


async def open_database(path: str, *, busy_timeout: float = 5.0) -> aiosqlite.Connection:
    """Open ``path`` with aiosqlite in autocommit mode (``isolation_level=None``, transactions
    are explicit) and set ``journal_mode=WAL``, ``synchronous=NORMAL`` and ``busy_timeout``.

    Args:
        path: a file path or :data:`MEMORY`.
        busy_timeout: seconds SQLite waits for a lock before reporting "database is locked".

    Raises:
        TypeError, ValueError: ``busy_timeout`` is not a positive number of seconds.
        aiosqlite/sqlite3 errors: the file cannot be opened (the caller translates them).
    """
    import aiosqlite

    timeout = check_ttl(busy_timeout, "busy_timeout")
    target = path if path == MEMORY else os.fspath(path)
    conn = await aiosqlite.connect(target, timeout=timeout, isolation_level=None)
    try:
        await conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        if path != MEMORY:
            await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        await conn.close()
        raise
    return conn
