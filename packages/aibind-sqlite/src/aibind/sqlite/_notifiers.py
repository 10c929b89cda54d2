"""The process-wide registry of :class:`~aibind.core.notify.Notifier` objects, one per database
file, so every SQLite store of this process on the same file (any connection, any instance)
wakes the followers of the others after a write.

A file is identified by its resolved path (``PRAGMA database_list``, then
:func:`os.path.realpath`); an in-memory or unidentifiable database by its connection object.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Sequence

from aibind.core.notify import Notifier
from aibind.sqlite._protocol import Row, SqliteClient, column

__all__ = ["database_key", "database_path", "notifier_for"]

_lock = threading.Lock()
_notifiers: weakref.WeakValueDictionary[str, Notifier] = weakref.WeakValueDictionary()


def notifier_for(key: str) -> Notifier:
    """Return the notifier shared by every store of this process whose database has ``key``;
    it lives as long as one store holds it."""
    with _lock:
        notifier = _notifiers.get(key)
        if notifier is None:
            notifier = Notifier()
            _notifiers[key] = notifier
        return notifier


def _main_file(rows: Sequence[Row]) -> str:
    for row in rows:
        if column(row, 1, "name") == "main":
            return str(column(row, 2, "file") or "")
    return ""


async def database_path(client: SqliteClient) -> str:
    """The file of the database ``client`` is connected to (resolved), or ``""`` for an
    in-memory database or a client that does not answer ``PRAGMA database_list`` (HTTP APIs)."""
    try:
        path = _main_file(await client.execute("PRAGMA database_list"))
    except Exception:
        path = ""
    return _resolved(path)


def _resolved(path: str) -> str:
    return os.path.realpath(path) if path else ""


def database_key(client: SqliteClient, path: str) -> str:
    """Identify the database ``client`` is connected to.

    Args:
        client: the client.
        path: its :func:`database_path`.

    Returns:
        ``"file:<realpath>"`` for a database file, else ``"client:<id>"`` of the underlying
        connection (in-memory databases, or clients that do not answer
        ``PRAGMA database_list``, such as HTTP APIs).
    """
    if path:
        return "file:" + path
    return f"client:{id(getattr(client, 'connection', client))}"
