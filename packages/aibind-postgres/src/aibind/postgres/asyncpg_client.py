"""asyncpg adapter: :func:`wrap_asyncpg` turns an ``asyncpg.Pool`` or ``asyncpg.Connection``
into a :class:`~aibind.postgres.client.PostgresClient` with the listening capability.

asyncpg speaks ``$1`` placeholders natively and runs each statement in autocommit mode unless a
transaction is open. Calls on a single connection are serialised (asyncpg refuses concurrent
operations on one connection). Requires the ``[asyncpg]`` extra.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from aibind.postgres.client import MissingDriverError
from aibind.postgres.locks import connection_lock

try:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy
except ImportError as exc:  # pragma: no cover - exercised by the wheel-install check
    raise MissingDriverError(
        'asyncpg is not installed: pip install "aibind-postgres[asyncpg]"'
    ) from exc

__all__ = ["AsyncpgClient", "wrap_asyncpg"]


class AsyncpgClient:
    """A :class:`~aibind.postgres.client.PostgresClient` over asyncpg. Build it with
    :func:`wrap_asyncpg`. Never closes the pool or connection it was given.

    Attributes:
        target: the wrapped ``Pool`` or ``Connection``.
    """

    def __init__(
        self,
        target: asyncpg.Pool[Any] | asyncpg.Connection[Any] | PoolConnectionProxy[Any],
        *,
        listen_dsn: str | None = None,
    ) -> None:
        self.target = target
        self._listen_dsn = listen_dsn

    async def query(self, sql: str, params: Sequence[object] = ()) -> list[asyncpg.Record]:
        """Run one statement and return its rows (``asyncpg.Record``, readable by column
        name). Raises the driver's errors unchanged."""
        target = self.target
        if isinstance(target, asyncpg.Pool):
            return await target.fetch(sql, *params)
        async with connection_lock(target):
            return await target.fetch(sql, *params)

    async def listen(self, channel: str, on_payload: Callable[[str], None]) -> AsyncpgListen:
        """``LISTEN`` on ``channel`` through ``add_listener`` on a dedicated connection: a new
        one to ``listen_dsn`` if given, else one taken from the pool and held until the handle
        closes. A wrapped single connection (without ``listen_dsn``) listens itself: asyncpg
        delivers notifications between queries. Returns once listening."""
        target = self.target
        if self._listen_dsn is not None:
            conn = await asyncpg.connect(self._listen_dsn)
            return await AsyncpgListen.start(conn, channel, on_payload, release=conn.close)
        if isinstance(target, asyncpg.Pool):
            held = await target.acquire()

            async def release() -> None:
                await target.release(held)

            return await AsyncpgListen.start(held, channel, on_payload, release=release)
        return await AsyncpgListen.start(target, channel, on_payload, release=None)


class AsyncpgListen:
    """A ``LISTEN`` through ``asyncpg.Connection.add_listener`` (see
    :meth:`AsyncpgClient.listen`)."""

    def __init__(
        self,
        conn: Any,
        channel: str,
        callback: Callable[..., None],
        release: Callable[[], Any] | None,
    ) -> None:
        self._conn = conn
        self._channel = channel
        self._callback = callback
        self._release = release
        self._pid: int | None = conn.get_server_pid()
        self._lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closed = False
        # A connection we do not hold alone (release is None) is shared with queries.
        self._lock = connection_lock(conn) if release is None else asyncio.Lock()

    @classmethod
    async def start(
        cls,
        conn: Any,
        channel: str,
        on_payload: Callable[[str], None],
        *,
        release: Callable[[], Any] | None,
    ) -> AsyncpgListen:
        """Register the listener on ``conn`` and return the handle."""

        def callback(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            on_payload(payload)

        handle = cls(conn, channel, callback, release)
        conn.add_termination_listener(handle._on_terminated)
        try:
            async with handle._lock:  # a shared connection may be mid-query
                await conn.add_listener(channel, callback)
        except BaseException:
            conn.remove_termination_listener(handle._on_terminated)
            if release is not None:
                await release()
            raise
        return handle

    def _on_terminated(self, _conn: object) -> None:
        if not self._lost.done():
            self._lost.set_exception(
                ConnectionError(f"the LISTEN connection (backend {self._pid}) was closed")
            )

    @property
    def backend_pid(self) -> int | None:
        """The listening connection's server process id."""
        return self._pid

    async def wait_closed(self) -> None:
        """Return when closed by :meth:`close`; raise :class:`ConnectionError` if the
        connection dropped."""
        await asyncio.shield(self._lost)

    async def close(self) -> None:
        """Remove the listener and release (or close) the connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._conn.remove_termination_listener(self._on_terminated)
        if not self._conn.is_closed():
            try:
                async with self._lock:
                    await self._conn.remove_listener(self._channel, self._callback)
            except Exception:  # the connection died meanwhile; releasing it is enough
                pass
        if self._release is not None:
            await self._release()
        if not self._lost.done():
            self._lost.set_result(None)


def wrap_asyncpg(
    target: asyncpg.Pool[Any] | asyncpg.Connection[Any] | PoolConnectionProxy[Any],
    *,
    listen_dsn: str | None = None,
) -> AsyncpgClient:
    """Adapt an ``asyncpg.Pool`` or ``asyncpg.Connection``.

    Args:
        target: the pool or connection; the stores never close it.
        listen_dsn: where the dedicated LISTEN connection connects. By default a pool lends
            one of its connections for the store's lifetime and a single connection listens
            itself. Give a direct server address here when ``target`` goes through PgBouncer in
            transaction mode.

    Returns:
        an :class:`AsyncpgClient`.

    Raises:
        TypeError: ``target`` is not an asyncpg pool or connection.
    """
    if isinstance(target, AsyncpgClient):
        return target
    if isinstance(target, (asyncpg.Pool, asyncpg.Connection, PoolConnectionProxy)):
        return AsyncpgClient(target, listen_dsn=listen_dsn)
    raise TypeError(f"target must be an asyncpg Pool or Connection, not {type(target).__name__}")
