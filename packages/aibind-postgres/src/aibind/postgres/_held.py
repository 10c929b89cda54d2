"""One pooled connection kept out of its pool between statements (:class:`HeldConnection`), for
the pools a store opens itself (``from_url``).

Statements that come one after another (an append loop, a save then a load, a replay's pages)
then run on the same connection without a pool checkout each time: psycopg_pool's checkout and
return cost about 16 us a statement on this kind of machine, asyncpg's return runs a reset
query (one more round trip), and psycopg_pool hands its connections out in turn (FIFO), so
after a burst has grown the pool, each statement of a sequence lands on a different, colder
server process (measured: a 94 KB conversation load 0.77 ms against 0.31 ms on one
connection). A statement that arrives while the held connection is busy takes one from the
pool as before; the held one goes back to the pool as soon as such a statement waits (a pool
of one never starves), after any error, after :data:`HOLD_SECONDS`, and on close.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["HOLD_SECONDS", "HeldConnection"]

C = TypeVar("C")
R = TypeVar("R")

HOLD_SECONDS = 5.0
"""Longest a connection stays held before it goes back to the pool (so the pool's own upkeep,
``max_lifetime`` and health checks, still reaches it); the next statement takes one again."""


class HeldConnection(Generic[C]):
    """Runs statements on one connection taken from a pool and kept, or on a pooled one when
    that is busy.

    Args:
        acquire: takes a connection from the pool (raises the pool's timeout error).
        release: gives one back to the pool (the pool checks its state: it rolls back an open
            transaction, discards a broken connection).
        ready: whether a connection is open and idle outside any transaction, asked after
            each statement and before the next: one left in a transaction (a caller's stray
            ``BEGIN``) goes back to the pool at once, which resets it, instead of running the
            next statements inside that transaction; one that closed meanwhile (a server
            restart; asyncpg then detaches it from its proxy) is given back and replaced by a
            fresh one from the pool before the next statement, as a checkout would.
    """

    __slots__ = (
        "_acquire",
        "_busy",
        "_conn",
        "_open",
        "_others",
        "_ready",
        "_release",
        "_until",
    )

    def __init__(
        self,
        acquire: Callable[[], Awaitable[C]],
        release: Callable[[C], Awaitable[None]],
        ready: Callable[[C], bool],
    ) -> None:
        self._acquire = acquire
        self._release = release
        self._ready = ready
        self._conn: C | None = None
        self._busy = False
        self._until = 0.0
        self._others = 0
        self._open = True

    async def run(self, call: Callable[[C], Awaitable[R]], pooled: Callable[[], Awaitable[R]]) -> R:
        """``call(connection)`` on the held connection when it is free (taking one from the
        pool first if none is held), else ``pooled()`` (a checkout of its own).

        Raises:
            Exception: whatever ``acquire``, ``call`` or ``pooled`` raise (after an error of
                ``call`` the connection goes back to the pool, which checks it).
        """
        if self._busy or not self._open:
            self._others += 1
            try:
                return await pooled()
            finally:
                self._others -= 1
        self._busy = True
        stale = self._conn
        if stale is not None and not self._ready(stale):  # closed, or in a transaction
            self._conn = None
            try:
                with contextlib.suppress(Exception):  # a dead one: the pool replaces it
                    await self._release(stale)
            except BaseException:
                self._busy = False
                raise
        conn = self._conn
        try:
            if conn is None:
                conn = await self._acquire()
                self._conn = conn
                self._until = time.monotonic() + HOLD_SECONDS
            result = await call(conn)
        except BaseException:
            if conn is not None:
                self._conn = None
                self._busy = False
                await self._release(conn)
            else:
                self._busy = False
            raise
        self._busy = False
        if (
            self._others
            or not self._open
            or time.monotonic() > self._until
            or not self._ready(conn)
        ):
            self._conn = None
            await self._release(conn)
        return result

    async def close(self) -> None:
        """Give the held connection back to the pool (one busy now goes back when its
        statement ends); later statements all take pooled connections. Idempotent."""
        self._open = False
        conn = self._conn
        if conn is not None and not self._busy:
            self._conn = None
            await self._release(conn)
