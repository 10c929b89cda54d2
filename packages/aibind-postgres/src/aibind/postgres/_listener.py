"""The store's one ``LISTEN`` connection, fanned out to any number of followers.

DESIGN.md "Push, not poll": every write statement ends with ``pg_notify(channel, stream_id)``;
each store keeps ONE dedicated connection (outside any pool) that ``LISTEN``s on its channel
while the store has followers, and wakes the followers of the named stream through the store's
:class:`~aibind.core.notify.Notifier`.

One background task owns the connection and brings it to the wanted state: connected and
listening while any stream is followed, ``UNLISTEN``ed (connection kept) when none is, after a
pause of :data:`LINGER_SECONDS`. Followers never wait for it: the notifier's hooks only nudge
the task, so a follower cancelled while the connection starts leaves nothing behind, and each
time ``LISTEN`` becomes active every follower is woken once (:meth:`Notifier.notify_all`) to
re-read what may have been written before, so no wake-up is lost. If the connection drops
(server restart, ``pg_terminate_backend``, network cut), the task reconnects with exponential
backoff and wakes every follower the same way: each re-reads from the last seq it yielded, so
nothing is lost and nothing repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aibind.core.notify import Notifier
from aibind.postgres.client import ListenHandle, SupportsListen

__all__ = ["Listener"]

_log = logging.getLogger("aibind.postgres")

LINGER_SECONDS = 1.0
"""Default seconds ``LISTEN`` outlives the store's last follower (see :class:`Listener`)."""


class Listener:
    """Keeps one ``LISTEN`` on ``channel`` while the notifier has followers.

    Args:
        client: opens the dedicated connection (:class:`SupportsListen`).
        channel: the notification channel (the store derives it from its status table).
        notifier: the followers to wake; its streams say whether to listen.
        on_payload: called with each notification's payload (default: ``notifier.notify``,
            the payload being a stream id).
        min_delay: first reconnect delay in seconds (doubles up to ``max_delay``).
        max_delay: longest reconnect delay in seconds.
        linger: when the last follower leaves, ``LISTEN`` stays active this many seconds
            more, and is dropped then only if no stream is followed at that moment: reads that
            come one after another (a replay, then another) cost no ``LISTEN`` / ``UNLISTEN``
            round trips and no wake-up of this task each.
    """

    def __init__(
        self,
        client: SupportsListen,
        channel: str,
        notifier: Notifier,
        *,
        on_payload: Callable[[str], None] | None = None,
        min_delay: float = 0.05,
        max_delay: float = 2.0,
        linger: float = LINGER_SECONDS,
    ) -> None:
        self.channel = channel
        self._client = client
        self._notifier = notifier
        self._on_payload = on_payload if on_payload is not None else notifier.notify
        self._min_delay = min_delay
        self._max_delay = max_delay
        self._linger = linger
        self._handle: ListenHandle | None = None
        self._listening = False
        self._task: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._dirty = asyncio.Event()
        self._busy = False
        self._lingering = False
        self._closed = False
        self._dropped = False
        self.connects = 0
        """How many LISTEN connections were opened."""
        self.reconnects = 0
        """How many of them replaced one that dropped."""

    @property
    def active(self) -> bool:
        """``True`` while ``LISTEN`` is active on a live connection (a write's NOTIFY then
        wakes this process's followers)."""
        return self._listening and self._handle is not None

    @property
    def backend_pid(self) -> int | None:
        """Server process id of the LISTEN connection, ``None`` while there is none."""
        return None if self._handle is None else self._handle.backend_pid

    @property
    def handle(self) -> ListenHandle | None:
        """The current connection handle (diagnostics and tests)."""
        return self._handle

    async def changed(self, _stream_id: str = "") -> None:
        """The notifier's ``on_first`` / ``on_last`` hook: see :meth:`kick` (it never suspends,
        so a follower cannot be cancelled in here)."""
        self.kick()

    def kick(self) -> None:
        """Have the background task bring the connection to the wanted state (starting the
        task on first use). Once that task has ended (closed, or cancelled with the event loop
        at shutdown) it stays ended."""
        if self._closed:
            return
        if self._lingering and self._handle is not None:
            return  # still listening; the linger's end looks at the followers again
        self._dirty.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="aibind-postgres-listener"
            )

    @property
    def settled(self) -> bool:
        """``True`` when the background task has nothing left to do (tests, diagnostics)."""
        return not self._dirty.is_set() and not self._busy

    def _wanted(self) -> bool:
        return not self._closed and self._notifier.subscriber_count() > 0

    def _lingers(self) -> bool:
        """``True`` when the last follower has left a live ``LISTEN`` (kept for a while)."""
        return self._linger > 0 and self._listening and not self._wanted()

    async def _run(self) -> None:
        delay = self._min_delay
        while not self._closed:
            await self._dirty.wait()
            self._dirty.clear()
            self._busy = True
            try:
                if self._lingers():
                    self._lingering = True
                    try:
                        await asyncio.wait_for(self._dirty.wait(), self._linger)
                        continue  # the connection dropped meanwhile: look again
                    except asyncio.TimeoutError:
                        pass
                    finally:
                        self._lingering = False
                await self._step()
                delay = self._min_delay
            except Exception as exc:
                # once per outage as a warning, then quietly until it works again
                log = _log.warning if delay == self._min_delay else _log.debug
                log(
                    "aibind.postgres: LISTEN on %r failed (%r); retrying in %.2f s",
                    self.channel,
                    exc,
                    delay,
                )
                if self._handle is not None:
                    self._dropped = True
                await self._drop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_delay)
                self._dirty.set()
            finally:
                self._busy = False

    async def _step(self) -> None:
        want = self._wanted()
        handle = self._handle
        if want and handle is None:
            handle = await self._client.listen(self.channel, self._on_payload)
            if self._closed:
                await handle.close()
                return
            self._handle, self._listening = handle, True
            self.connects += 1
            if self._dropped:
                self.reconnects += 1
                self._dropped = False
            self._watcher = asyncio.get_running_loop().create_task(
                self._watch(handle), name="aibind-postgres-listen-watch"
            )
            self._dirty.set()  # followers may have come or gone meanwhile: check again
            self._notifier.notify_all()
        elif want and handle is not None and not self._listening:
            await handle.set_listening(True)
            self._listening = True
            self._dirty.set()
            self._notifier.notify_all()
        elif not want and handle is not None and self._listening:
            self._listening = False
            await handle.set_listening(False)
            self._dirty.set()

    async def _watch(self, handle: ListenHandle) -> None:
        try:
            await handle.wait_closed()
        except Exception as exc:
            if handle is self._handle:
                _log.warning("aibind.postgres: LISTEN connection lost (%r); reconnecting", exc)
        if handle is self._handle and not self._closed:
            self._dropped = True
            await self._drop()
            self.kick()

    async def _drop(self) -> None:
        handle, self._handle, self._listening = self._handle, None, False
        if handle is not None:
            with contextlib.suppress(Exception):
                await handle.close()

    async def close(self) -> None:
        """Stop listening and close the connection. Idempotent; leaves no task behind."""
        self._closed = True
        tasks = [t for t in (self._task, self._watcher) if t is not None]
        self._task = self._watcher = None
        current = asyncio.current_task()
        tasks = [t for t in tasks if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        await self._drop()
