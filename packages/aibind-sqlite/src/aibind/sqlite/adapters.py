"""Adapters turning common Python SQLite drivers into a :class:`~aibind.sqlite.client.SqliteClient`.

* :func:`wrap_aiosqlite` — an ``aiosqlite.Connection`` (the default; ``from_url`` opens one).
* :func:`wrap_sqlite3` — a stdlib ``sqlite3.Connection``, driven from one dedicated worker thread
  so the event loop never blocks.
* :func:`wrap_libsql` — a ``libsql.Connection`` (``pip install aibind-sqlite[libsql]``), same way.

Rows are returned as the driver gives them (tuples by default). ``batch()`` runs as one
``BEGIN IMMEDIATE`` transaction; "database is locked/busy" is retried for ``busy_timeout``
seconds. The adapters never close the connection they wrap: ``aclose()`` only releases the
adapter's worker thread.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aibind.core.validation import check_ttl
from aibind.sqlite._dbapi import DbApiConnection, run_batch, run_execute
from aibind.sqlite.client import Row, SqliteClient, Statement

if TYPE_CHECKING:
    import sqlite3

    import aiosqlite

__all__ = [
    "AiosqliteClient",
    "ThreadedClient",
    "as_client",
    "wrap_aiosqlite",
    "wrap_libsql",
    "wrap_sqlite3",
]

T = TypeVar("T")

_registry_lock = threading.Lock()
_connection_locks: dict[int, tuple[threading.Lock, int]] = {}


def _acquire_lock(conn: object) -> threading.Lock:
    """One lock per wrapped connection (shared by every adapter wrapping it), so units of work
    of different adapters never interleave inside one transaction."""
    with _registry_lock:
        lock, count = _connection_locks.get(id(conn), (threading.Lock(), 0))
        _connection_locks[id(conn)] = (lock, count + 1)
        return lock


def _release_lock(conn: object) -> None:
    with _registry_lock:
        lock, count = _connection_locks[id(conn)]
        if count <= 1:
            del _connection_locks[id(conn)]
        else:
            _connection_locks[id(conn)] = (lock, count - 1)


class ThreadedClient:
    """A :class:`SqliteClient` over a blocking DB-API connection (``sqlite3``, ``libsql``),
    run on one dedicated worker thread; build it with :func:`wrap_sqlite3` / :func:`wrap_libsql`.

    Attributes:
        connection: the wrapped connection (not closed by :meth:`aclose`).
        busy_timeout: seconds a locked database is retried.
    """

    def __init__(
        self, connection: Any, *, busy_timeout: float, kind: str, init_sql: Sequence[str] = ()
    ) -> None:
        self.connection = connection
        self._init_sql = tuple(init_sql)
        self.busy_timeout = check_ttl(busy_timeout, "busy_timeout")
        self._conn: DbApiConnection = connection
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"aibind-{kind}")
        self._lock = _acquire_lock(connection)
        self._closed = False
        try:
            self._executor.submit(self._probe).result()
        except BaseException:
            self._release()
            raise

    def _probe(self) -> None:
        import sqlite3  # here, not at import: Pyodide (a Python Worker) has no sqlite3

        try:
            self._conn.execute("SELECT 1")
            for sql in self._init_sql:
                self._conn.execute(sql).fetchall()
        except sqlite3.ProgrammingError as exc:
            if "thread" in str(exc):
                raise ValueError(
                    "connection was created in another thread with check_same_thread=True; "
                    "open it with sqlite3.connect(path, check_same_thread=False) so the adapter's "
                    "worker thread may use it (access is serialized by a lock)"
                ) from exc
            raise

    def _release(self) -> None:
        if not self._closed:
            self._closed = True
            self._executor.shutdown(wait=False)
            _release_lock(self.connection)

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._closed:
            import sqlite3

            raise sqlite3.ProgrammingError("Cannot operate on a closed database (adapter closed).")

        def locked() -> T:
            with self._lock:
                return fn()

        return await asyncio.get_running_loop().run_in_executor(self._executor, locked)

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """Run one statement on the worker thread; see :class:`SqliteClient`."""
        return await self._run(lambda: run_execute(self._conn, sql, args, self.busy_timeout))

    async def batch(self, statements: Sequence[Statement]) -> list[list[Row]]:
        """Run ``statements`` in one ``BEGIN IMMEDIATE`` transaction; see :class:`SqliteClient`."""
        stmts = list(statements)
        return await self._run(lambda: run_batch(self._conn, stmts, self.busy_timeout))

    async def aclose(self) -> None:
        """Stop the worker thread (after the work already queued); the connection stays open.
        Idempotent."""
        if not self._closed:
            executor = self._executor
            self._release()
            await asyncio.to_thread(executor.shutdown, True)


class AiosqliteClient:
    """A :class:`SqliteClient` over an ``aiosqlite.Connection``; build it with
    :func:`wrap_aiosqlite`.

    Each call is one function queued to aiosqlite's own connection thread, so a ``batch()``
    transaction never interleaves with other work on that connection.

    Attributes:
        connection: the wrapped ``aiosqlite.Connection`` (never closed by this adapter).
        busy_timeout: seconds a locked database is retried.
    """

    def __init__(self, connection: aiosqlite.Connection, *, busy_timeout: float = 5.0) -> None:
        self.connection = connection
        self.busy_timeout = check_ttl(busy_timeout, "busy_timeout")
        if not callable(getattr(connection, "_execute", None)):
            raise TypeError(
                "connection must be an aiosqlite.Connection (aiosqlite>=0.20): "
                f"{type(connection).__name__} has no _execute()"
            )

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """Run one statement on aiosqlite's thread; see :class:`SqliteClient`."""
        conn = self.connection
        busy_timeout = self.busy_timeout

        def unit() -> list[Row]:
            return run_execute(conn._conn, sql, args, busy_timeout)

        # aiosqlite runs each queued function on its connection thread, one at a time
        result: list[Row] = await cast(Any, conn)._execute(unit)
        return result

    async def batch(self, statements: Sequence[Statement]) -> list[list[Row]]:
        """Run ``statements`` in one ``BEGIN IMMEDIATE`` transaction; see :class:`SqliteClient`."""
        conn = self.connection
        stmts = list(statements)
        busy_timeout = self.busy_timeout

        def unit() -> list[list[Row]]:
            return run_batch(conn._conn, stmts, busy_timeout)

        result: list[list[Row]] = await cast(Any, conn)._execute(unit)
        return result

    async def aclose(self) -> None:
        """Nothing to release (the connection belongs to the caller)."""


def wrap_aiosqlite(
    connection: aiosqlite.Connection, *, busy_timeout: float = 5.0
) -> AiosqliteClient:
    """Wrap an open ``aiosqlite.Connection`` as a :class:`SqliteClient`.

    Args:
        connection: an open connection; any ``isolation_level`` works.
        busy_timeout: seconds to retry while the database is locked.

    Raises:
        TypeError: not an aiosqlite connection.
        ValueError: ``busy_timeout`` is not a positive number of seconds.
    """
    return AiosqliteClient(connection, busy_timeout=busy_timeout)


def wrap_sqlite3(connection: sqlite3.Connection, *, busy_timeout: float = 5.0) -> ThreadedClient:
    """Wrap a stdlib ``sqlite3.Connection`` as a :class:`SqliteClient` that runs every call on a
    dedicated worker thread (so the event loop never blocks).

    The connection must be usable from that thread: open it with ``check_same_thread=False``.
    Every adapter wrapping the same connection shares one lock, so transactions never
    interleave; do not use the connection yourself while a store is using it.

    Args:
        connection: the connection (``isolation_level`` ``None`` or the legacy default; Python
            3.12's ``autocommit=False`` mode is refused since it keeps a transaction open).
        busy_timeout: seconds to retry while the database is locked.

    Raises:
        TypeError: not a ``sqlite3.Connection``.
        ValueError: opened with ``check_same_thread=True`` in another thread, or
            ``autocommit=False``.
    """
    if not _is_sqlite3(connection):
        raise TypeError(f"connection must be a sqlite3.Connection, not {type(connection).__name__}")
    if getattr(connection, "autocommit", None) is False:
        raise ValueError("connection uses autocommit=False; open it with the default or True")
    return ThreadedClient(connection, busy_timeout=busy_timeout, kind="sqlite3")


def wrap_libsql(connection: Any, *, busy_timeout: float = 5.0) -> ThreadedClient:
    """Wrap a ``libsql.Connection`` (PyPI ``libsql``, its sqlite3-compatible API) as a
    :class:`SqliteClient`, run on a dedicated worker thread like :func:`wrap_sqlite3`.

    Args:
        connection: from ``libsql.connect(path)`` (a local file, or an embedded replica:
            call its ``sync()`` yourself).
        busy_timeout: seconds to retry while the database is locked.

    The connection's own ``PRAGMA busy_timeout`` is set to 0: libsql waits for a lock while
    holding the GIL (its default wait is 5 s), which stalls every thread of the process,
    including the one whose transaction holds the lock, so a contended write always failed
    after 5 s. The adapter retries busy transactions itself, with the GIL released.

    Raises:
        TypeError: ``connection`` has no ``execute``/``in_transaction``.
    """
    if not callable(getattr(connection, "execute", None)) or not hasattr(
        connection, "in_transaction"
    ):
        raise TypeError(f"connection must be a libsql.Connection, not {type(connection).__name__}")
    return ThreadedClient(
        connection,
        busy_timeout=busy_timeout,
        kind="libsql",
        init_sql=("PRAGMA busy_timeout = 0",),
    )


def _is_sqlite3(obj: object) -> bool:
    module = sys.modules.get("sqlite3")  # a sqlite3.Connection exists only once it is imported
    return module is not None and isinstance(obj, module.Connection)


def _is_aiosqlite(obj: object) -> bool:
    module = sys.modules.get("aiosqlite")
    return module is not None and isinstance(obj, module.Connection)


def _is_libsql(obj: object) -> bool:
    module = sys.modules.get("libsql")
    return module is not None and isinstance(obj, module.Connection)


def as_client(client: object, name: str = "client") -> tuple[SqliteClient, bool]:
    """Return ``client`` as a :class:`SqliteClient` and whether a new adapter was made for it
    (the caller then closes that adapter, never the connection).

    Accepts a :class:`SqliteClient`, an ``aiosqlite.Connection``, a ``sqlite3.Connection`` or a
    ``libsql.Connection``.

    Raises:
        TypeError: anything else (the message names ``name``).
    """
    if _is_sqlite3(client):
        return wrap_sqlite3(client), True  # type: ignore[arg-type]
    if _is_aiosqlite(client):
        return wrap_aiosqlite(client), True  # type: ignore[arg-type]
    if _is_libsql(client):
        return wrap_libsql(client), True
    if isinstance(client, SqliteClient):
        return client, False
    raise TypeError(
        f"{name} must be a SqliteClient (execute + batch), an aiosqlite/sqlite3/libsql "
        f"connection, not {type(client).__name__}"
    )
