"""Adapters turning common Python SQLite drivers into a :class:`~aibind.sqlite.SqliteClient`.

* :class:`ThreadedClient` — a blocking DB-API connection (stdlib ``sqlite3``, ``libsql``) driven
  from one dedicated worker thread, so the event loop never blocks. ``from_url`` uses it over a
  ``sqlite3`` connection it opens on that thread. Its thread (:mod:`aibind.sqlite._worker`) is a
  daemon: it never keeps the process alive, even if the store is never closed.
* :class:`AiosqliteClient` — an ``aiosqlite.Connection`` the caller already has.

Rows are returned as the driver gives them (tuples by default). ``batch()`` runs as one
``BEGIN IMMEDIATE`` transaction; "database is locked/busy" is retried for ``busy_timeout``
seconds. No driver is imported here: a connection is recognised by the modules already loaded,
so ``import aibind.sqlite`` works where ``sqlite3`` is absent (Pyodide, a Cloudflare Worker).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aibind.core.errors import StoreClosedError
from aibind.core.validation import check_ttl
from aibind.sqlite._dbapi import DbApiConnection, Outcome, run_batch, run_batches, run_execute
from aibind.sqlite._protocol import Row, SqliteClient, Statement
from aibind.sqlite._worker import Worker

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
    """A :class:`SqliteClient` over a blocking DB-API connection, run on one worker thread.

    Build it with :func:`wrap_sqlite3` / :func:`wrap_libsql` around your connection, or give it
    ``connect`` (what ``from_url`` does): the connection is then opened by :meth:`open` on the
    worker thread, and closed by :meth:`aclose`.

    Args:
        connection: an open connection, or ``None`` with ``connect``.
        busy_timeout: seconds a locked database is retried.
        kind: the driver's name, for the worker thread's name.
        init_sql: statements run once on the connection before any other.
        connect: opens the connection (on the worker thread); the client then owns it.

    Attributes:
        connection: the connection (``None`` until a ``connect`` client is open).
        busy_timeout: seconds a locked database is retried.
    """

    def __init__(
        self,
        connection: Any,
        *,
        busy_timeout: float,
        kind: str,
        init_sql: Sequence[str] = (),
        connect: Callable[[], Any] | None = None,
    ) -> None:
        self.connection = connection
        self.busy_timeout = check_ttl(busy_timeout, "busy_timeout")
        self._init_sql = tuple(init_sql)
        self._connect = connect
        self._kind = kind
        self._worker: Worker | None = None
        self._batches = self._run_batches  # one object: the worker groups jobs by it
        self._lock: threading.Lock | None = None
        self._closed = False
        if connection is not None:
            worker = self._start()
            try:
                worker.run_blocking(self._probe)
            except BaseException:
                self._release()
                raise

    def _start(self) -> Worker:
        self._worker = Worker(f"aibind-{self._kind}")
        if self.connection is not None:
            self._lock = _acquire_lock(self.connection)
        return self._worker

    @property
    def closed(self) -> bool:
        """``True`` once :meth:`aclose` has been called."""
        return self._closed

    def _probe(self) -> None:
        import sqlite3

        try:
            self.connection.execute("SELECT 1")
            for sql in self._init_sql:
                self.connection.execute(sql).fetchall()
        except sqlite3.ProgrammingError as exc:
            if "thread" in str(exc):
                raise ValueError(
                    "connection was created in another thread with check_same_thread=True; "
                    "open it with sqlite3.connect(path, check_same_thread=False) so the adapter's "
                    "worker thread may use it (access is serialized by a lock)"
                ) from exc
            raise

    async def open(self) -> None:
        """Open the connection with ``connect`` on the worker thread (a no-op for a client
        built around a connection, or if already open).

        Raises:
            StoreClosedError: the client was closed.
            whatever ``connect`` raises (the store translates it).
        """
        if self.connection is not None:
            return
        if self._closed:
            raise StoreClosedError("the SQLite client has been closed")
        if self._connect is None:
            raise ValueError("ThreadedClient needs a connection or connect")
        worker = self._worker if self._worker is not None else self._start()
        conn = await worker.run(self._connect)
        if self.closed:  # closed while connecting (the worker has stopped): close it here
            conn.close()
            raise StoreClosedError("the SQLite client has been closed")
        self.connection = conn
        self._lock = _acquire_lock(conn)

    def _release(self) -> None:
        if not self._closed:
            self._closed = True
            if self._worker is not None:
                self._worker.stop()
            if self._lock is not None:
                _release_lock(self.connection)

    async def _run(self, fn: Callable[[DbApiConnection], T]) -> T:
        if self._closed:
            raise StoreClosedError("the SQLite client has been closed")
        if self.connection is None:
            await self.open()
        conn: DbApiConnection = self.connection
        lock = self._lock
        assert lock is not None

        def locked() -> T:
            with lock:
                return fn(conn)

        worker = self._worker
        assert worker is not None
        return await worker.run(locked)

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """Run one statement on the worker thread; see :class:`SqliteClient`."""
        timeout = self.busy_timeout
        return await self._run(lambda conn: run_execute(conn, sql, args, timeout))

    async def batch(self, statements: Sequence[Statement]) -> list[list[Row]]:
        """Run ``statements`` in one ``BEGIN IMMEDIATE`` transaction; see :class:`SqliteClient`.

        Batches of concurrent callers that are queued together when the worker thread gets to
        them are committed together (each in a savepoint of its own: atomic and isolated as
        alone, rolled back alone if it fails; see :func:`~aibind.sqlite._dbapi.run_batches`).
        """
        if self._closed:
            raise StoreClosedError("the SQLite client has been closed")
        if self.connection is None:
            await self.open()
        worker = self._worker
        assert worker is not None
        result: list[list[Row]] = await worker.submit_grouped(self._batches, list(statements))
        return result

    def _run_batches(self, batches: list[list[Statement]]) -> list[Outcome]:
        lock = self._lock
        assert lock is not None
        with lock:
            return run_batches(self.connection, batches, self.busy_timeout)

    async def aclose(self) -> None:
        """Stop the worker thread after the work already queued; close the connection only if
        this client opened it (``connect``). Idempotent."""
        if self._closed:
            return
        worker, owned = self._worker, self._connect is not None
        conn = self.connection
        self._closed = True  # new calls are refused; the work already queued runs
        if self._lock is not None:
            _release_lock(conn)
        if worker is not None:
            await worker.close(conn.close if owned and conn is not None else None)


class AiosqliteClient:
    """A :class:`SqliteClient` over an ``aiosqlite.Connection``; build it with
    :func:`wrap_aiosqlite`.

    Each call is one function queued to aiosqlite's own connection thread (its ``_execute``),
    so a ``batch()`` transaction never interleaves with other work on that connection.

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
    import sqlite3

    if not isinstance(connection, sqlite3.Connection):
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


def _instance_of(obj: object, module: str, name: str) -> bool:
    loaded = sys.modules.get(module)
    cls = getattr(loaded, name, None) if loaded is not None else None
    return isinstance(cls, type) and isinstance(obj, cls)


def as_client(client: object, name: str = "client") -> tuple[SqliteClient, bool]:
    """Return ``client`` as a :class:`SqliteClient` and whether a new adapter was made for it
    (the caller then closes that adapter, never the connection).

    Accepts a :class:`SqliteClient`, a ``sqlite3.Connection``, an ``aiosqlite.Connection`` or a
    ``libsql.Connection``.

    Raises:
        TypeError: anything else (the message names ``name``).
    """
    if _instance_of(client, "sqlite3", "Connection"):
        return wrap_sqlite3(client), True  # type: ignore[arg-type]
    if _instance_of(client, "aiosqlite", "Connection"):
        return wrap_aiosqlite(client), True  # type: ignore[arg-type]
    if _instance_of(client, "libsql", "Connection"):
        return wrap_libsql(client), True
    if isinstance(client, SqliteClient):
        return client, False
    raise TypeError(
        f"{name} must be a SqliteClient (execute + batch), an aiosqlite/sqlite3/libsql "
        f"connection, not {type(client).__name__}"
    )
