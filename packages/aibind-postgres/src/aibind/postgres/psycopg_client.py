"""psycopg 3 adapter: :func:`wrap_psycopg` turns an ``AsyncConnection`` or an
``AsyncConnectionPool`` into a :class:`~aibind.postgres.client.PostgresClient` with the
listening capability.

Statements run on raw cursors (``psycopg.AsyncRawCursor``), so PostgreSQL's native ``$1``
placeholders pass through untouched, and in autocommit mode, so each costs one round trip
(a pooled connection that is not in autocommit mode is switched for the duration of the call,
which is local and free; a single connection not in autocommit mode gets a transaction per
call). Requires the ``[psycopg]`` extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from aibind.postgres.client import MissingDriverError
from aibind.postgres.idents import quote_identifier
from aibind.postgres.locks import connection_lock

try:
    import psycopg
    from psycopg.conninfo import make_conninfo
    from psycopg.rows import dict_row
except ImportError as exc:  # pragma: no cover - exercised by the wheel-install check
    raise MissingDriverError(
        'psycopg is not installed: pip install "aibind-postgres[psycopg]"'
    ) from exc

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

__all__ = ["PsycopgClient", "wrap_psycopg"]

AnyConnection = psycopg.AsyncConnection[Any]


class PsycopgClient:
    """A :class:`~aibind.postgres.client.PostgresClient` over psycopg 3. Build it with
    :func:`wrap_psycopg`. Never closes the connection or pool it was given.

    Attributes:
        target: the wrapped ``AsyncConnection`` or ``AsyncConnectionPool``.
    """

    def __init__(
        self,
        target: AnyConnection | AsyncConnectionPool[Any],
        *,
        listen_conninfo: str | None = None,
    ) -> None:
        self.target = target
        self._listen_conninfo = listen_conninfo

    async def query(self, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
        """Run one statement and return its rows as dicts (``[]`` when it has no result).
        Raises the driver's errors unchanged."""
        target = self.target
        if isinstance(target, psycopg.AsyncConnection):
            if target.autocommit:
                return await _execute(target, sql, params)
            # One transaction per call; calls from concurrent tasks must not interleave.
            async with connection_lock(target), target.transaction():
                return await _execute(target, sql, params)
        async with target.connection() as conn:
            if conn.autocommit:
                return await _execute(conn, sql, params)
            await conn.set_autocommit(True)
            try:
                return await _execute(conn, sql, params)
            finally:
                await conn.set_autocommit(False)

    async def _listen_params(self) -> tuple[str, dict[str, Any]]:
        if self._listen_conninfo is not None:
            return self._listen_conninfo, {}
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
        """Open a new autocommit connection (to ``listen_conninfo`` if given, else to where the
        wrapped connection or pool connects), ``LISTEN`` on ``channel`` and deliver each
        payload to ``on_payload`` from a background task. Returns once listening."""
        conninfo, kwargs = await self._listen_params()
        conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True, **kwargs)
        try:
            await conn.execute("LISTEN " + quote_identifier(channel, "channel"))
        except BaseException:
            await conn.close()
            raise
        return PsycopgListen(conn, on_payload)


async def _resolve(value: Any) -> Any:
    if callable(value):
        value = value()
    if inspect.isawaitable(value):
        value = await value
    return value


async def _execute(conn: AnyConnection, sql: str, params: Sequence[object]) -> list[dict[str, Any]]:
    async with psycopg.AsyncRawCursor(conn, row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        if cur.description is None:
            return []
        return await cur.fetchall()


class PsycopgListen:
    """A ``LISTEN`` on a dedicated psycopg connection (see :meth:`PsycopgClient.listen`)."""

    def __init__(self, conn: AnyConnection, on_payload: Callable[[str], None]) -> None:
        self._conn = conn
        self._pid: int | None = conn.info.backend_pid
        self._task = asyncio.ensure_future(self._consume(on_payload))

    async def _consume(self, on_payload: Callable[[str], None]) -> None:
        async for note in self._conn.notifies():
            on_payload(note.payload)

    @property
    def backend_pid(self) -> int | None:
        """The listening connection's server process id."""
        return self._pid

    async def wait_closed(self) -> None:
        """Return when closed by :meth:`close`; raise the driver's error if the connection
        dropped."""
        try:
            await asyncio.shield(self._task)
        except asyncio.CancelledError:
            if not self._task.cancelled():
                raise  # the caller was cancelled (the store is closing), not the reader

    async def close(self) -> None:
        """Stop the background task and close the connection. Idempotent."""
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        await self._conn.close()


def wrap_psycopg(
    target: AnyConnection | AsyncConnectionPool[Any],
    *,
    listen_conninfo: str | None = None,
) -> PsycopgClient:
    """Adapt a psycopg 3 ``AsyncConnection`` or ``psycopg_pool.AsyncConnectionPool``.

    Args:
        target: the connection or pool; the stores never close it.
        listen_conninfo: where the dedicated LISTEN connection connects (a URL or conninfo
            string). By default the wrapped connection's parameters or the pool's ``conninfo``
            and ``kwargs``. Give a direct server address here when ``target`` goes through
            PgBouncer in transaction mode (LISTEN does not survive transaction pooling).

    Returns:
        a :class:`PsycopgClient`.

    Raises:
        TypeError: ``target`` is not an async psycopg connection or pool (a sync
            ``psycopg.Connection`` would block the event loop).
    """
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
