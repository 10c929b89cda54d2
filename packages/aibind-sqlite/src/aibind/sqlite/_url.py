"""``sqlite:`` URLs and opening a database file for ``from_url`` and the ``sqlite`` backend.

Accepted forms (the SQLAlchemy convention):

* ``sqlite:///relative/path.db`` — relative to the current directory;
* ``sqlite:////absolute/path.db`` — an absolute path (four slashes);
* ``sqlite:///:memory:`` or ``sqlite://:memory:`` — a private in-memory database (one per
  connection: only useful when both stores share the connection, as the backend opener does).

The path is percent-decoded (``%20`` for a space). A host (``sqlite://host/x``), an empty path,
or a fragment are rejected with :class:`ValueError`; query parameters are store options
(``?ttl=60&busy_timeout=2``), taken out by ``from_url`` before the path is read.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aibind.core.errors import BackendUnavailableError
from aibind.core.kit import ClientOpener, Owned, describe, parse_float
from aibind.core.validation import check_ttl
from aibind.sqlite._adapters import ThreadedClient

if TYPE_CHECKING:
    import sqlite3

__all__ = ["MEMORY", "SQLITE_CLIENT", "connect_file", "open_file_client", "parse_sqlite_url"]

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


def connect_file(path: str, busy_timeout: float) -> sqlite3.Connection:
    """Open ``path`` with the stdlib driver the way ``from_url`` does (call it on the thread
    that will use the connection): autocommit (transactions are explicit), ``journal_mode=WAL``
    (not for ``:memory:``), ``synchronous=NORMAL`` and ``busy_timeout``.

    Args:
        path: a file path or :data:`MEMORY`.
        busy_timeout: seconds SQLite waits for a lock before reporting "database is locked".

    Raises:
        BackendUnavailableError: the file cannot be opened, or is not a SQLite database; the
            message names the path (and says whether its folder exists).
        sqlite3.OperationalError: the database stayed locked (the store translates it).
    """
    import sqlite3

    try:
        conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.OperationalError as exc:
        folder = os.path.dirname(os.path.abspath(path))
        why = "exists" if os.path.isdir(folder) else "does not exist"
        raise BackendUnavailableError(
            f"cannot open the SQLite database {path!r} ({describe(exc)}); its folder "
            f"{folder!r} {why}"
        ) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        if path != MEMORY:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        conn.close()
        if "locked" in str(exc) or "busy" in str(exc):
            raise  # translated as a timeout by the store
        raise BackendUnavailableError(
            f"cannot use the SQLite database {path!r}: {describe(exc)}"
        ) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def open_file_client(url: str, options: dict[str, Any]) -> Owned[ThreadedClient]:
    """The ``sqlite:`` client opener of ``from_url`` / ``open_stores``: a
    :class:`~aibind.sqlite._adapters.ThreadedClient` that opens the file on its worker thread
    at the store's first use (:func:`connect_file`) and closes it with the last store.

    Args:
        url: a ``sqlite:`` URL without query options (see :func:`parse_sqlite_url`).
        options: ``busy_timeout`` (seconds, default 5).

    Raises:
        TypeError, ValueError: a malformed URL or ``busy_timeout``.
    """
    path = parse_sqlite_url(url)
    busy_timeout = check_ttl(options.get("busy_timeout", 5.0), "busy_timeout")
    client = ThreadedClient(
        None,
        busy_timeout=busy_timeout,
        kind="sqlite3",
        connect=lambda: connect_file(path, busy_timeout),
    )
    return Owned(client, open=client.open, close=client.aclose)


SQLITE_CLIENT = ClientOpener(open_file_client, options={"busy_timeout": parse_float})
"""How ``from_url`` opens a SQLite store: the file of a ``sqlite:`` URL through the stdlib
driver on a worker thread; client option ``busy_timeout`` (seconds)."""
