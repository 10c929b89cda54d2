"""The append coalescer's own connection: :class:`WriteLane`.

A :class:`~aibind.redis.RedisStreamStore` runs single appends through an
:class:`aibind.core.kit.Coalescer`, which never has more than one call or group in flight. So
those calls can share one connection of their own instead of lending one from the pool for
each: on a client opened from a URL (redis-py's ``BlockingConnectionPool``) a lend and return
costs about 15 us, against a bare ``EVALSHA`` round trip of 80-150 us (measured on the
development machine, issue #8).

The connection is made by the client's pool (``ConnectionPool.make_connection``: the same
host, credentials, database, timeouts and protocol as every pooled one) but is not counted in
it, so it never takes a slot another call waits for: a store opened from a URL holds at most
``max_connections + 2`` connections (the pool, its pub/sub subscriber, this one). Commands on
it are sent exactly once, as :func:`aibind.redis._once.send_once` sends them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aibind.redis._once import (
    _standalone_pool,
    exchange_many_once,
    exchange_once,
    pack_commands,
    send_packed_many_once,
    send_packed_once,
)

__all__ = ["WriteLane"]

_EMPTY_LAST = len(b"$0\r\n\r\n")


class WriteLane:
    """One connection outside the pool for calls made one at a time.

    Args:
        client: a standalone redis-py / valkey client whose pool can make connections
            (:meth:`usable`).

    A call that finds the lane busy (it cannot happen under a coalescer, but nothing breaks
    if it does) or closed goes through the pool instead
    (:func:`~aibind.redis._once.send_packed_once`). A connection that failed is
    disconnected; the next call connects it again.

    Time limit: a call unanswered for the connection's ``socket_timeout`` seconds fails with
    ``TimeoutError`` (its connection aborted), as a pooled call does; the lane keeps one
    timer for that, re-armed only when it fires, instead of one per call (``asyncio.timeout``
    costs about 4 us a call).
    """

    __slots__ = (
        "_busy",
        "_client",
        "_closed",
        "_conn",
        "_since",
        "_timed_out",
        "_watch",
        "_watched",
    )

    def __init__(self, client: Any) -> None:
        if not self.usable(client):
            raise TypeError(f"{type(client).__name__} has no pool that makes connections")
        self._client = client
        self._conn: Any = _standalone_pool(client).make_connection()
        self._busy = False
        self._closed = False
        self._since = 0.0
        self._timed_out = False
        self._watch: asyncio.TimerHandle | None = None
        self._watched = False

    @staticmethod
    def usable(client: Any) -> bool:
        """``True`` if ``client`` is a standalone client whose pool has ``make_connection``
        (redis-py, valkey)."""
        pool = _standalone_pool(client)
        return pool is not None and callable(getattr(pool, "make_connection", None))

    def pack(self, commands: Sequence[Sequence[Any]]) -> bytes:
        """``commands`` in the Redis protocol, encoded as the lane's connection encodes
        (:func:`~aibind.redis._once.pack_commands`)."""
        return pack_commands(self._conn, commands)

    def head(self, args: Sequence[Any]) -> bytes:
        """The packed form of the command ``(*args, last)`` up to ``last``: a caller that
        sends one command many times with only its last argument changing keeps this and
        sends ``head + tail(last)`` (measured: 0.2 us instead of 3 for an ``EVALSHA`` of ten
        arguments)."""
        return self.pack(((*args, ""),))[:-_EMPTY_LAST]

    def tail(self, last: str) -> bytes:
        """The packed last argument ``last`` (see :meth:`head`), encoded as the lane's
        connection encodes text."""
        encoder = self._conn.encoder
        data = last.encode(encoder.encoding, encoder.encoding_errors)
        return b"$%d\r\n%b\r\n" % (len(data), data)

    async def send(self, packed: bytes, command: str) -> Any:
        """Send one packed write command (:meth:`pack`, or :meth:`head` + :meth:`tail`)
        exactly once and return its reply (as :func:`~aibind.redis._once.send_once`).

        Args:
            packed: the command in the Redis protocol.
            command: its name (``"EVALSHA"``), for the client's response callbacks.

        Raises:
            TimeoutError: no reply within ``socket_timeout`` (the connection is aborted).
            Exception: whatever else the driver raises (the caller translates it); nothing is
                sent twice.
        """
        conn = self._take(watch=True)
        if conn is None:
            return await send_packed_once(self._client, packed, command)
        try:
            return await exchange_once(self._client, conn, packed, command, watched=True)
        except Exception as exc:
            if self._timed_out:
                timeout = getattr(conn, "socket_timeout", None)
                raise TimeoutError(f"no reply within socket_timeout={timeout} s") from exc
            raise
        finally:
            await self._give_back()

    async def send_many(
        self, packed: bytes, commands: Sequence[str]
    ) -> list[tuple[Any, BaseException | None]]:
        """Send several packed write commands in one pipeline, each exactly once, and read
        every reply (as :func:`~aibind.redis._once.send_packed_many_once`).

        Args:
            packed: the commands in the Redis protocol, one after another.
            commands: their names, in order.

        Returns:
            one ``(reply, None)`` or ``(None, error)`` per command, in order.
        """
        conn = self._take(watch=False)  # exchange_many_once keeps its own deadline
        if conn is None:
            return await send_packed_many_once(self._client, packed, commands)
        try:
            return await exchange_many_once(self._client, conn, packed, commands)
        finally:
            await self._give_back()

    async def aclose(self) -> None:
        """Disconnect the lane's connection (at once, or when the call in flight on it ends);
        later calls go through the pool. Idempotent."""
        self._closed = True
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if not self._busy:
            await self._conn.disconnect(nowait=True)

    def _take(self, *, watch: bool) -> Any:
        if self._busy or self._closed:
            return None
        self._busy = True
        self._timed_out = False
        timeout: float | None = getattr(self._conn, "socket_timeout", None)
        self._watched = bool(timeout) and watch
        if timeout and watch:
            loop = asyncio.get_running_loop()
            self._since = loop.time()
            if self._watch is None:
                self._watch = loop.call_at(self._since + timeout, self._check, timeout)
        return self._conn

    def _check(self, timeout: float) -> None:
        """The lane's timer: abort the call in flight if it started ``timeout`` seconds ago,
        else wait for it to be that old; stop when the lane is idle (the next call re-arms)."""
        self._watch = None
        if not self._busy or not self._watched:
            return
        loop = asyncio.get_running_loop()
        if loop.time() - self._since < timeout:
            self._watch = loop.call_at(self._since + timeout, self._check, timeout)
            return
        self._timed_out = True
        transport = getattr(getattr(self._conn, "_writer", None), "transport", None)
        if transport is not None:
            transport.abort()  # the pending read ends; send() raises TimeoutError

    async def _give_back(self) -> None:
        self._busy = False
        if self._closed:
            await self._conn.disconnect(nowait=True)
