"""psycopg 3 adapter: :class:`PsycopgClient` over an ``AsyncConnection`` or an
``AsyncConnectionPool``, with a dedicated ``LISTEN`` connection (:class:`PsycopgListen`).

Statements run on raw cursors (``psycopg.AsyncRawCursor``), so PostgreSQL's native ``$1``
placeholders pass through untouched, rows come back as tuples, and each runs in autocommit mode
(one round trip). Requires the ``[psycopg]`` extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from aibind.core.errors import MissingDriverError
from aibind.core.kit import keep_cancellation
from aibind.postgres._errors import connect_error
from aibind.postgres._held import HeldConnection
from aibind.postgres._idents import quote_identifier
from aibind.postgres._locks import connection_lock

try:
    import psycopg
    from psycopg.conninfo import make_conninfo
except ImportError as exc:  # pragma: no cover - exercised by the wheel-install check
    raise MissingDriverError(
        'psycopg is not installed: pip install "aibind-postgres[psycopg]"'
    ) from exc

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

__all__ = ["PsycopgClient", "PsycopgListen", "wrap"]

AnyConnection = psycopg.AsyncConnection[Any]


class PsycopgClient:
    """A :class:`~aibind.postgres.client.PostgresClient` with
    :class:`~aibind.postgres.client.SupportsListen` over psycopg 3 (see
    :func:`aibind.postgres.wrap_psycopg`). Never closes the connection or pool it was given.

    ``hold=True`` (the pool ``from_url`` opens, which only our statements use) keeps one pool
    connection between statements (see :mod:`aibind.postgres._held`); whoever closes the pool
    calls :meth:`release_held` first.

    Attributes:
        target: the wrapped ``AsyncConnection`` or ``AsyncConnectionPool``.
    """

    _aibind_positional = True

    def __init__(
        self,
        target: AnyConnection | AsyncConnectionPool[Any],
        *,
        listen_conninfo: str | None = None,
        listen_kwargs: dict[str, Any] | None = None,
        hold: bool = False,
    ) -> None:
        self.target = target
        self._listen_conninfo = listen_conninfo
        self._listen_kwargs = dict(listen_kwargs or {})
        self._held: HeldConnection[AnyConnection] | None = None
        if hold and not isinstance(target, psycopg.AsyncConnection):
            pool = target
            self._held = HeldConnection(pool.getconn, pool.putconn, _ready)

    async def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run one statement and return its rows as tuples (``[]`` when it has none). Raises
        the driver's errors unchanged."""
        if sys.version_info >= (3, 12):
            return await self._query(sql, params)
        return await keep_cancellation(self._query(sql, params))

    async def _query(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        target = self.target
        if isinstance(target, psycopg.AsyncConnection):
            if target.autocommit:
                return await _execute(target, sql, params)
            # One transaction per call; calls from concurrent tasks must not interleave.
            async with connection_lock(target), target.transaction():
                return await _execute(target, sql, params)
        held = self._held
        if held is not None:
            return await held.run(
                lambda conn: _autocommit_execute(conn, sql, params),
                lambda: _pooled_execute(target, sql, params),
            )
        return await _pooled_execute(target, sql, params)

    async def release_held(self) -> None:
        """Give the connection held between statements (``hold=True``) back to the pool, for
        good: call it before closing the pool. A no-op otherwise."""
        if self._held is not None:
            await self._held.close()

    async def _listen_params(self) -> tuple[str, dict[str, Any]]:
        if self._listen_conninfo is not None:
            return self._listen_conninfo, dict(self._listen_kwargs)
        target = self.target
        if isinstance(target, psycopg.AsyncConnection):
            params: dict[str, Any] = dict(target.info.get_parameters())
            if target.info.password:
                params["password"] = target.info.password
            return make_conninfo("", **params), {}
        # psycopg_pool >= 3.3 also accepts callables (sync or async) for both settings.
        conninfo: Any = await _resolve(target.conninfo)
        kwargs: Any = await _resolve(target.kwargs)
        kwargs = {k: v for k, v in dict(kwargs or {}).items() if k != "autocommit"}
        return str(conninfo), kwargs

    async def listen(self, channel: str, on_payload: Callable[[str], None]) -> PsycopgListen:
        """Open a new autocommit connection (never a pool's), ``LISTEN`` on ``channel`` and
        deliver each payload to ``on_payload`` from a background task. Returns once listening.

        Raises:
            BackendUnavailableError: the connection cannot be opened.
        """
        conninfo, kwargs = await self._listen_params()
        try:
            conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True, **kwargs)
        except Exception as exc:
            raise connect_error(exc, "the LISTEN connection to PostgreSQL") from exc
        listen = PsycopgListen(conn, channel, on_payload)
        try:
            await listen.set_listening(True)
        except BaseException:
            await listen.close()
            raise
        return listen


async def _resolve(value: Any) -> Any:
    if callable(value):
        value = value()
    if inspect.isawaitable(value):
        value = await value
    return value


def _ready(conn: AnyConnection) -> bool:
    """``True`` if ``conn`` is open and idle outside any transaction (a closed or broken one
    reports an unknown status)."""
    return bool(conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE)


async def _pooled_execute(
    pool: AsyncConnectionPool[Any], sql: str, params: Sequence[object]
) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        return await _autocommit_execute(conn, sql, params)


async def _autocommit_execute(
    conn: AnyConnection, sql: str, params: Sequence[object]
) -> list[tuple[Any, ...]]:
    """Run one statement in autocommit mode (switched on for the call if it is off)."""
    if conn.autocommit:
        return await _execute(conn, sql, params)
    await conn.set_autocommit(True)
    try:
        return await _execute(conn, sql, params)
    finally:
        await conn.set_autocommit(False)


async def _execute(
    conn: AnyConnection, sql: str, params: Sequence[object]
) -> list[tuple[Any, ...]]:
    cur = psycopg.AsyncRawCursor(conn)
    await cur.execute(sql, params)
    result = cur.pgresult  # not cur.description, which builds a Column object per field
    if result is None or not result.nfields:
        return []
    return await cur.fetchall()


class PsycopgListen:
    """A dedicated psycopg connection listening on one channel (see
    :meth:`PsycopgClient.listen`).

    A background task consumes ``conn.notifies()``, which holds the connection's lock; to run
    ``LISTEN``/``UNLISTEN`` on the same connection the task is stopped for the statement and
    started again (psycopg keeps notifications that arrive meanwhile and yields them first).
    """

    def __init__(self, conn: AnyConnection, channel: str, on_payload: Callable[[str], None]):
        self._conn = conn
        self._on_payload = on_payload
        quoted = quote_identifier(channel, "channel")
        self._listen_sql = f"LISTEN {quoted}"
        self._unlisten_sql = f"UNLISTEN {quoted}"
        self._pid: int | None = conn.info.backend_pid
        self._lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._lock = asyncio.Lock()
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._start()

    def _start(self) -> None:
        if not self._closed and not self._lost.done():
            self._task = asyncio.get_running_loop().create_task(
                self._consume(), name="aibind-postgres-notifies"
            )

    async def _consume(self) -> None:
        try:
            async for note in self._conn.notifies():
                self._on_payload(note.payload)
        except Exception as exc:
            if not self._lost.done():
                self._lost.set_exception(exc)

    async def _execute(self, sql: str) -> list[tuple[Any, ...]]:
        """Run ``sql`` on the listening connection (the notifies task stops meanwhile)."""
        async with self._lock:
            task, self._task = self._task, None
            try:
                if task is not None:
                    task.cancel()
                    await asyncio.wait([task])  # raises only for our own cancellation
                cur = await self._conn.execute(sql)
                return await cur.fetchall() if cur.description is not None else []
            except Exception as exc:
                if not self._lost.done():
                    self._lost.set_exception(exc)
                raise
            finally:
                self._start()

    @property
    def backend_pid(self) -> int | None:
        """The listening connection's server process id."""
        return self._pid

    async def set_listening(self, on: bool) -> None:
        """``LISTEN`` or ``UNLISTEN`` the channel on this connection."""
        await self._execute(self._listen_sql if on else self._unlisten_sql)

    async def channels(self) -> list[str]:
        """``pg_listening_channels()`` of this connection (a diagnostic)."""
        return [str(row[0]) for row in await self._execute("SELECT pg_listening_channels()")]

    async def wait_closed(self) -> None:
        """Return once closed by :meth:`close`; raise the driver's error once the connection
        drops."""
        await asyncio.shield(self._lost)

    async def close(self) -> None:
        """Stop the background task and close the connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        with contextlib.suppress(Exception):
            await self._conn.close()
        if not self._lost.done():
            self._lost.set_result(None)
        elif not self._lost.cancelled():
            self._lost.exception()  # retrieved: nobody may be waiting any more


def wrap(
    target: AnyConnection | AsyncConnectionPool[Any] | PsycopgClient,
    *,
    listen_conninfo: str | None = None,
) -> PsycopgClient:
    """See :func:`aibind.postgres.wrap_psycopg`."""
    if isinstance(target, PsycopgClient):
        return target
    if isinstance(target, psycopg.AsyncConnection):
        return PsycopgClient(target, listen_conninfo=listen_conninfo)
    try:
        from psycopg_pool import AsyncConnectionPool
    except ImportError:  # pragma: no cover
        AsyncConnectionPool = None  # type: ignore[assignment,misc]
    if AsyncConnectionPool is not None and isinstance(target, AsyncConnectionPool):
        return PsycopgClient(target, listen_conninfo=listen_conninfo)
    raise TypeError(
        "target must be a psycopg AsyncConnection or psycopg_pool AsyncConnectionPool, "
        f"not {type(target).__name__}"
    )
