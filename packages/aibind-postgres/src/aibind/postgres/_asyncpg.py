"""asyncpg adapter: :class:`AsyncpgClient` over an ``asyncpg.Pool`` or ``asyncpg.Connection``,
with a ``LISTEN`` connection of its own (:class:`AsyncpgListen`).

asyncpg speaks ``$1`` placeholders natively, returns ``Record`` rows (readable by position) and
runs each statement in autocommit mode unless a transaction is open. Calls on a single
connection are serialised (asyncpg refuses concurrent operations on one connection). Requires the
``[asyncpg]`` extra.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aibind.core.errors import BackendTimeoutError, MissingDriverError
from aibind.postgres._errors import connect_error
from aibind.postgres._held import HeldConnection
from aibind.postgres._locks import connection_lock

try:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy
except ImportError as exc:  # pragma: no cover - exercised by the wheel-install check
    raise MissingDriverError(
        'asyncpg is not installed: pip install "aibind-postgres[asyncpg]"'
    ) from exc

__all__ = ["AsyncpgClient", "AsyncpgListen", "wrap"]

# admin_shutdown, crash_shutdown, connection exceptions: the server ended the connection.
_BROKEN_SQLSTATES = frozenset({"57P01", "57P02", "08000", "08003", "08006", "08007"})


def _broken(exc: BaseException) -> bool:
    """``True`` if ``exc`` leaves its connection unusable."""
    if isinstance(exc, (OSError, asyncpg.exceptions.InternalClientError)):
        return True
    return getattr(exc, "sqlstate", None) in _BROKEN_SQLSTATES


class AsyncpgClient:
    """A :class:`~aibind.postgres.client.PostgresClient` with
    :class:`~aibind.postgres.client.SupportsListen` over asyncpg (see
    :func:`aibind.postgres.wrap_asyncpg`). Never closes the pool or connection it was given.

    ``hold=True`` (the pool ``from_url`` opens, which only our statements use) keeps one pool
    connection between statements (see :mod:`aibind.postgres._held`): no checkout and no
    reset query per statement; whoever closes the pool calls :meth:`release_held` first.

    Attributes:
        target: the wrapped ``Pool`` or ``Connection``.
    """

    _aibind_positional = True

    def __init__(
        self,
        target: asyncpg.Pool[Any] | asyncpg.Connection[Any] | PoolConnectionProxy[Any],
        *,
        listen_dsn: str | None = None,
        listen_kwargs: dict[str, Any] | None = None,
        acquire_timeout: float | None = None,
        hold: bool = False,
    ) -> None:
        self.target = target
        self._listen_dsn = listen_dsn
        self._listen_kwargs = dict(listen_kwargs or {})
        self._acquire_timeout = acquire_timeout
        self._held: HeldConnection[Any] | None = None
        if hold and isinstance(target, asyncpg.Pool):
            self._held = HeldConnection(self._acquire, target.release, _ready)

    async def query(self, sql: str, params: Sequence[object] = ()) -> list[asyncpg.Record]:
        """Run one statement and return its rows. Raises the driver's errors unchanged, and
        :class:`~aibind.core.errors.BackendTimeoutError` when no pool connection became free
        within ``acquire_timeout``. A pooled connection that broke during the call is
        terminated before it goes back, so the pool replaces it instead of lending it again
        half-closed (asyncpg then fails with "another operation is in progress")."""
        target = self.target
        if not isinstance(target, asyncpg.Pool):
            async with connection_lock(target):
                return await target.fetch(sql, *params)
        held = self._held
        if held is not None:
            return await held.run(
                lambda conn: _fetch(conn, sql, params), lambda: self._pooled(target, sql, params)
            )
        return await self._pooled(target, sql, params)

    async def _acquire(self) -> Any:
        """A pool connection, or :class:`BackendTimeoutError` after ``acquire_timeout``."""
        target: Any = self.target
        timeout = self._acquire_timeout
        try:
            return await target.acquire(timeout=timeout)
        except asyncio.TimeoutError as exc:
            if timeout is None:
                raise
            raise BackendTimeoutError(
                f"no pooled connection became free within {timeout:g} s (asyncpg "
                f"Pool.acquire: {type(exc).__name__}); raise max_size or pool_timeout"
            ) from exc

    async def _pooled(
        self, pool: asyncpg.Pool[Any], sql: str, params: Sequence[object]
    ) -> list[asyncpg.Record]:
        conn = await self._acquire()
        try:
            return await _fetch(conn, sql, params)
        finally:
            await pool.release(conn)

    async def release_held(self) -> None:
        """Give the connection held between statements (``hold=True``) back to the pool, for
        good: call it before closing the pool. A no-op otherwise."""
        if self._held is not None:
            await self._held.close()

    async def _connect(self) -> tuple[Any, bool]:
        """A connection for LISTEN and whether the handle owns it (closes it)."""
        target = self.target
        if self._listen_dsn is not None:
            return await asyncpg.connect(self._listen_dsn, **self._listen_kwargs), True
        if isinstance(target, asyncpg.Pool):
            # One more connection made exactly as the pool makes its own (connect arguments,
            # connection class, init callback), but not one of the pool's.
            new = getattr(target, "_get_new_connection", None)
            if new is None:  # pragma: no cover - a future asyncpg without it
                raise TypeError(
                    "cannot open a LISTEN connection beside this asyncpg pool: "
                    "wrap it with wrap_asyncpg(pool, listen_dsn=...)"
                )
            return await new(), True
        return target, False

    async def listen(self, channel: str, on_payload: Callable[[str], None]) -> AsyncpgListen:
        """``LISTEN`` on ``channel`` through ``add_listener`` on a connection of its own: a new
        one to ``listen_dsn`` if given, else one more made like the pool's (never taken from
        the pool); a wrapped single connection listens itself. Returns once listening.

        Raises:
            BackendUnavailableError: the connection cannot be opened.
        """
        try:
            conn, owned = await self._connect()
        except Exception as exc:
            raise connect_error(exc, "the LISTEN connection to PostgreSQL") from exc
        handle = AsyncpgListen(conn, channel, on_payload, owned=owned)
        try:
            await handle.set_listening(True)
        except BaseException:
            await handle.close()
            raise
        return handle


def _ready(conn: Any) -> bool:
    """``True`` if the pool connection ``conn`` is open and outside any transaction (once its
    connection closes, asyncpg releases the proxy back to the pool and every call on it
    raises ``InterfaceError``)."""
    try:
        return not conn.is_closed() and not conn.is_in_transaction()
    except asyncpg.exceptions.InterfaceError:
        return False


async def _fetch(conn: Any, sql: str, params: Sequence[object]) -> list[asyncpg.Record]:
    """``conn.fetch``; a pooled connection that broke during the call is terminated (before it
    goes back, so the pool replaces it instead of lending it again half-closed: asyncpg then
    fails with "another operation is in progress")."""
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *params)
        return rows
    except Exception as exc:
        if _broken(exc):
            # (a connection asyncpg saw close is already detached from its proxy)
            with contextlib.suppress(asyncpg.exceptions.InterfaceError):
                conn.terminate()
        raise


class AsyncpgListen:
    """A connection listening through ``asyncpg.Connection.add_listener`` (see
    :meth:`AsyncpgClient.listen`)."""

    def __init__(
        self, conn: Any, channel: str, on_payload: Callable[[str], None], *, owned: bool
    ) -> None:
        self._conn = conn
        self._channel = channel
        self._owned = owned
        self._pid: int | None = conn.get_server_pid()
        self._lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closed = False
        self._listening = False
        # A connection we do not own is shared with queries: use its query lock.
        self._lock = asyncio.Lock() if owned else connection_lock(conn)

        def callback(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            on_payload(payload)

        self._callback = callback
        conn.add_termination_listener(self._on_terminated)

    def _on_terminated(self, _conn: object) -> None:
        if not self._lost.done():
            self._lost.set_exception(
                ConnectionResetError(f"the LISTEN connection (backend {self._pid}) was closed")
            )

    async def _locked(self, call: Callable[[], Awaitable[Any]]) -> Any:
        async with self._lock:
            return await call()

    @property
    def backend_pid(self) -> int | None:
        """The listening connection's server process id."""
        return self._pid

    async def set_listening(self, on: bool) -> None:
        """``LISTEN`` (``add_listener``) or ``UNLISTEN`` (``remove_listener``) the channel."""
        if on and not self._listening:
            await self._locked(lambda: self._conn.add_listener(self._channel, self._callback))
            self._listening = True
        elif not on and self._listening:
            self._listening = False
            await self._locked(lambda: self._conn.remove_listener(self._channel, self._callback))

    async def channels(self) -> list[str]:
        """``pg_listening_channels()`` of this connection (a diagnostic)."""
        rows = await self._locked(lambda: self._conn.fetch("SELECT pg_listening_channels()"))
        return [str(row[0]) for row in rows]

    async def wait_closed(self) -> None:
        """Return once closed by :meth:`close`; raise :class:`ConnectionResetError` once the
        connection drops."""
        await asyncio.shield(self._lost)

    async def close(self) -> None:
        """Stop listening and close the connection if the handle opened it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._conn.remove_termination_listener(self._on_terminated)
        if self._owned:
            try:
                await asyncio.wait_for(self._conn.close(), 2.0)
            except Exception:  # a dead or hung connection: drop it
                self._conn.terminate()
        elif not self._conn.is_closed():
            try:
                await self.set_listening(False)
            except Exception:  # the connection died meanwhile
                pass
        if not self._lost.done():
            self._lost.set_result(None)
        elif not self._lost.cancelled():
            self._lost.exception()  # retrieved: nobody may be waiting any more


def wrap(
    target: Any, *, listen_dsn: str | None = None, acquire_timeout: float | None = None
) -> AsyncpgClient:
    """See :func:`aibind.postgres.wrap_asyncpg`."""
    if isinstance(target, AsyncpgClient):
        return target
    if isinstance(target, (asyncpg.Pool, asyncpg.Connection, PoolConnectionProxy)):
        return AsyncpgClient(target, listen_dsn=listen_dsn, acquire_timeout=acquire_timeout)
    raise TypeError(f"target must be an asyncpg Pool or Connection, not {type(target).__name__}")
