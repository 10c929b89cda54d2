"""One :class:`asyncio.Lock` per single database connection, shared by every adapter that
wraps it, so two stores on one connection never interleave their statements."""

from __future__ import annotations

import asyncio
import weakref

__all__ = ["connection_lock"]

_locks: weakref.WeakKeyDictionary[object, asyncio.Lock] = weakref.WeakKeyDictionary()


def connection_lock(conn: object) -> asyncio.Lock:
    """The lock that serialises use of ``conn`` (made on first use, dropped with ``conn``).

    Args:
        conn: a driver connection object (psycopg ``AsyncConnection``, asyncpg ``Connection``).

    Returns:
        the same :class:`asyncio.Lock` for every call with the same ``conn``.
    """
    lock = _locks.get(conn)
    if lock is None:
        lock = _locks[conn] = asyncio.Lock()
    return lock
