"""Coalescing concurrent calls into groups: what makes concurrent appends cheap.

A store's writes each cost a round trip (and, on a SQL server, a commit). When many tasks
append at once (one generation per stream, fifty streams), most of that cost can be shared:
:class:`Coalescer` runs a call at once when nothing is in flight (so a lone writer waits for
nothing), and while one is in flight it collects the calls that arrive, then runs them as ONE
group (one pipeline / one statement) when the current one is done: as ioredis's automatic
pipelining does for the npm Redis package, and as group commit does in databases.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["Coalescer", "Outcome"]

K = TypeVar("K")
R = TypeVar("R")

Outcome = tuple[Any, "BaseException | None"]
"""How one call of a group ended: ``(result, None)`` or ``(None, error)``."""


class Coalescer(Generic[K, R]):
    """Runs ``run_one(item)`` for each call, coalescing calls that arrive while one is in flight
    into one ``run_group(items)``.

    Args:
        run_one: runs one call (its errors propagate to that caller).
        run_group: runs several calls together and returns one :data:`Outcome` per item, in
            order (it decides what a failure of the group means for each item: re-running them
            one by one where nothing was written, or the same error for all where it cannot
            tell).
        limit: the most calls one group takes (the rest form the next group).

    At most one call or group is in flight per coalescer, so calls run in the order they were
    made (two appends to one stream by one task keep their order; concurrent callers get the
    order they queued in). A caller cancelled before its group starts is left out of it; one
    cancelled while its group is in flight leaves the group running (its write may happen, as
    with any call cancelled in flight).
    """

    def __init__(
        self,
        run_one: Callable[[K], Awaitable[R]],
        run_group: Callable[[list[K]], Awaitable[Sequence[Outcome]]],
        *,
        limit: int = 256,
    ) -> None:
        self._run_one = run_one
        self._run_group = run_group
        self._limit = limit
        self._busy = False
        self._pending: list[tuple[K, asyncio.Future[R]]] = []
        self._drain: asyncio.Task[None] | None = None
        self.groups = 0
        """How many groups of more than one call ran (for tests and diagnostics)."""

    async def __call__(self, item: K) -> R:
        """Run ``item``: at once if nothing is in flight, else with the next group.

        Raises:
            whatever ``run_one`` raises, or the error ``run_group`` reports for this item.
        """
        if self._busy:
            future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
            self._pending.append((item, future))
            return await future
        self._busy = True
        try:
            return await self._run_one(item)
        finally:
            self._hand_off()

    def _hand_off(self) -> None:
        """The call or group in flight is done: start the next group, or become idle."""
        if self._pending:
            self._drain = asyncio.get_running_loop().create_task(
                self._run_pending(), name="aibind-coalescer"
            )
        else:
            self._busy = False
            self._drain = None

    async def _run_pending(self) -> None:
        try:
            while True:
                taken = self._pending[: self._limit]
                del self._pending[: self._limit]
                live = [(item, future) for item, future in taken if not future.cancelled()]
                if live:
                    await self._run(live)
                if not self._pending:
                    return
        finally:
            self._busy = False
            self._drain = None
            if self._pending:  # cancelled with calls still waiting: they run on their own
                for _, future in self._pending:
                    if not future.done():
                        future.set_exception(asyncio.CancelledError())
                self._pending.clear()

    async def _run(self, live: list[tuple[K, asyncio.Future[R]]]) -> None:
        if len(live) == 1:
            item, future = live[0]
            outcomes: Sequence[Outcome]
            try:
                outcomes = [(await self._run_one(item), None)]
            except Exception as exc:
                outcomes = [(None, exc)]
        else:
            self.groups += 1
            try:
                outcomes = await self._run_group([item for item, _ in live])
            except Exception as exc:
                outcomes = [(None, exc)] * len(live)
        for (_, future), (result, error) in zip(live, outcomes, strict=True):
            if future.done():
                continue
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

    async def aclose(self) -> None:
        """Wait for the group in flight and those queued behind it (a store calls this when
        it closes, so no task is left behind)."""
        drain = self._drain
        if drain is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(drain)
