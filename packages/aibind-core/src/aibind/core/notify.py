"""In-process wake-ups for stream followers: the push half of ``read_from``.

A store owns one :class:`Notifier`. A follower subscribes to its stream *before* it reads
(so no wake-up between the read and the wait is lost), then waits on its
:class:`Subscription` whenever it has caught up. Whoever learns that a stream changed (the
store itself after a local append, or a backend's pub/sub / LISTEN task after a remote one)
calls :meth:`Notifier.notify`. One notifier serves any number of followers; a backend listens
on its server once per store and fans out here.

Wake-ups are safe across threads and event loops: each subscription remembers the loop it was
made on and is woken through ``call_soon_threadsafe`` from anywhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import weakref
from collections.abc import Awaitable, Callable
from types import TracebackType

__all__ = ["Notifier", "Subscription"]

Hook = Callable[[str], Awaitable[None]]

_log = logging.getLogger("aibind.core.notify")


def _failed(task: asyncio.Future[None]) -> bool:
    return task.cancelled() or task.exception() is not None


async def _run(awaitable: Awaitable[None]) -> None:
    await awaitable


def _retrieve(task: asyncio.Future[None]) -> None:
    """Mark a hook task's outcome as seen (its waiters may all be gone); log a failure."""
    if not task.cancelled() and task.exception() is not None:
        _log.debug("aibind notifier hook failed: %r", task.exception())


_LONG = 1.0
"""Seconds from which a wait's timeout is kept by the loop's :class:`_Clock` instead of a timer
of its own (it may end up to :data:`_GRAIN` late)."""

_GRAIN = 0.1
"""Seconds between two checks of the loop's :class:`_Clock`."""


def _time_out(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class _Clock:
    """The deadlines of one event loop's long waits (idle expiry: typically the store's
    ``ttl``, minutes), checked by ONE timer.

    A timer per wait (``asyncio.timeout``) costs five objects that live as long as the wait,
    and a cancelled timer stays in the loop's heap until it would have fired: with 10,000
    followers woken 1,000 times a second, tens of thousands of them a second outlive the young
    generations and bring on full garbage collections of the whole heap (a quarter of a second
    each at that size). Here a wait only records its deadline; the timer fires at the earliest
    one (at most every :data:`_GRAIN` seconds), ends the waits that are due and re-arms.
    """

    __slots__ = ("_armed", "_due", "_last", "_loop", "_waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weak, and no handle kept (a handle holds its loop): the clock is the value of a
        # weak-keyed dict, which must not keep its key alive.
        self._loop = weakref.ref(loop)
        self._waiting: dict[Subscription, float] = {}
        self._armed = 0  # which timer is the live one (a re-armed one leaves a stale one)
        self._due = math.inf
        self._last = -math.inf

    def add(self, sub: Subscription, deadline: float) -> None:
        self._waiting[sub] = deadline
        if max(deadline, self._last + _GRAIN) < self._due:
            self._arm(deadline)

    def discard(self, sub: Subscription) -> None:
        self._waiting.pop(sub, None)

    def _arm(self, when: float) -> None:
        loop = self._loop()
        if loop is None or loop.is_closed():
            return
        when = max(when, self._last + _GRAIN)
        self._armed += 1
        self._due = when
        loop.call_at(when, self._fire, self._armed)

    def _fire(self, armed: int) -> None:
        loop = self._loop()
        if armed != self._armed or loop is None:
            return  # superseded by an earlier deadline's timer
        self._due = math.inf
        now = self._last = loop.time()
        due = [sub for sub, deadline in self._waiting.items() if deadline <= now]
        for sub in due:
            del self._waiting[sub]
            sub._timed_out()
        if self._waiting:
            self._arm(min(self._waiting.values()))


_clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Clock] = weakref.WeakKeyDictionary()


def _clock(loop: asyncio.AbstractEventLoop) -> _Clock:
    clock = _clocks.get(loop)
    if clock is None:
        clock = _clocks[loop] = _Clock(loop)
    return clock


class Subscription:
    """One follower's interest in one stream. Obtain it from :meth:`Notifier.subscribe`.

    Attributes:
        stream_id: the stream this subscription watches.
    """

    __slots__ = ("_flag", "_loop", "_notifier", "_others", "_waiter", "stream_id")

    def __init__(self, notifier: Notifier, stream_id: str) -> None:
        self.stream_id = stream_id
        self._notifier = notifier
        self._loop = asyncio.get_running_loop()
        self._flag = False  # notified since the last wait returned
        self._waiter: asyncio.Future[bool] | None = None  # the pending wait's future
        self._others: list[asyncio.Future[bool]] | None = None  # concurrent waits, if any

    def _wake(self) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._set)

    def _set(self) -> None:
        self._flag = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)
        if self._others:
            for other in self._others:
                if not other.done():
                    other.set_result(True)

    def _timed_out(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            _time_out(waiter)

    async def wait(self, timeout: float | None) -> bool:
        """Wait until the stream is notified or ``timeout`` seconds pass.

        A notification that arrived since the previous ``wait`` returns at once, so a wake-up
        is never lost between a read and the next wait.

        Args:
            timeout: the longest wait in seconds; ``None`` waits without limit. A timeout of
                a second or more may end up to a tenth of a second late (one timer per event
                loop keeps them, see ``_Clock``).

        Returns:
            ``True`` if woken by a notification, ``False`` on timeout.
        """
        if not self._flag:
            if timeout is not None and timeout <= 0:
                return False
            if self._waiter is not None:
                return await self._wait_beside(timeout)
            loop = self._loop
            waiter: asyncio.Future[bool] = loop.create_future()
            self._waiter = waiter
            timer: asyncio.TimerHandle | None = None
            clock: _Clock | None = None
            if timeout is not None:
                if timeout >= _LONG:
                    clock = _clock(loop)
                    clock.add(self, loop.time() + timeout)
                else:
                    timer = loop.call_later(timeout, _time_out, waiter)
            try:
                # A plain future, awaited directly: a cancellation is never swallowed (unlike
                # asyncio.wait_for before Python 3.12, which returned the result when both
                # landed in the same loop iteration).
                if not await waiter:
                    return False
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
                if clock is not None:
                    clock.discard(self)
        self._flag = False
        return True

    async def _wait_beside(self, timeout: float | None) -> bool:
        """A second wait on the same subscription while one is pending (rare): its own future
        and timer."""
        loop = self._loop
        waiter: asyncio.Future[bool] = loop.create_future()
        if self._others is None:
            self._others = []
        self._others.append(waiter)
        timer = None if timeout is None else loop.call_later(timeout, _time_out, waiter)
        try:
            if not await waiter:
                return False
        finally:
            self._others.remove(waiter)
            if timer is not None:
                timer.cancel()
        self._flag = False
        return True

    async def close(self) -> None:
        """Stop watching; runs the notifier's ``on_last`` hook if this was the stream's last
        subscription. Idempotent."""
        await self._notifier._unsubscribe(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class Notifier:
    """Fan-out of "stream *id* changed" wake-ups to the followers of one store.

    Args:
        on_first: awaited when a stream gets its first subscription, *before*
            :meth:`subscribe` returns: a backend subscribes to the stream's channel on its
            server here, so nothing published after ``subscribe`` returns is missed. A
            coroutine function runs in a task per stream; a plain function may instead return
            a future it completes itself (no task: a backend that subscribes 10,000 streams
            in a few batched commands), and must not call back into the notifier.
        on_last: awaited when a stream's last subscription closes (unsubscribe there); its
            errors are logged and swallowed (a backend re-syncs its server subscriptions when
            it reconnects).
    """

    def __init__(self, *, on_first: Hook | None = None, on_last: Hook | None = None) -> None:
        self._subs: dict[str, set[Subscription]] = {}
        self._pending: dict[str, asyncio.Future[None]] = {}
        self._lock = threading.Lock()
        self._on_first = on_first
        self._on_last = on_last

    async def subscribe(self, stream_id: str) -> Subscription:
        """Register interest in ``stream_id`` and return the subscription (an async context
        manager that closes it).

        Returns only once the stream is subscribed on the server: the first subscription of a
        stream starts the ``on_first`` hook (a coroutine runs in a task of its own; a hook may
        instead return a future it completes itself, see :class:`Notifier`), and every
        subscription made while it runs waits for it, so no caller starts reading before
        notifications can reach it. If the hook fails, its error propagates to every waiting
        caller and nothing stays registered for them.

        Cancellation-safe: a caller cancelled while waiting (for its own hook or another's)
        leaves nothing registered, and the hook, which no single caller's cancellation
        interrupts, is undone by ``on_last`` if every waiter has left by the time it completes.
        """
        sub = Subscription(self, stream_id)
        loop = asyncio.get_running_loop()
        with self._lock:
            subs = self._subs.setdefault(stream_id, set())
            first = not subs
            subs.add(sub)
            task = self._pending.get(stream_id)
            if first and task is None and self._on_first is not None:
                task = self._pending[stream_id] = self._start_first(stream_id, loop)
        if task is None or task.get_loop() is not loop:
            return sub
        try:
            await asyncio.shield(task)
        except BaseException:
            # Our own cancellation (the hook task lives on and cleans up after itself), or the
            # hook's failure (nothing is subscribed on the server: no on_last).
            await self._unsubscribe(sub, run_hook=not (task.done() and _failed(task)))
            raise
        return sub

    def _start_first(self, stream_id: str, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        """Start ``on_first``: its future (a task for a coroutine), which pops itself from
        ``_pending`` when done and, if every subscriber left meanwhile, undoes the hook."""
        assert self._on_first is not None
        started: asyncio.Future[None]
        try:
            awaitable = self._on_first(stream_id)
        except Exception as exc:  # a hook that fails at once
            started = loop.create_future()
            started.set_exception(exc)
        else:
            if asyncio.isfuture(awaitable):
                started = awaitable
            else:
                coro = awaitable if asyncio.iscoroutine(awaitable) else _run(awaitable)
                started = loop.create_task(coro, name=f"aibind-subscribe-{stream_id}")
        started.add_done_callback(_retrieve)
        started.add_done_callback(lambda done: self._first_done(stream_id, done))
        return started

    def _first_done(self, stream_id: str, done: asyncio.Future[None]) -> None:
        with self._lock:
            if self._pending.get(stream_id) is done:
                del self._pending[stream_id]
            abandoned = not self._subs.get(stream_id)
        if abandoned and not _failed(done) and self._on_last is not None:
            task = asyncio.ensure_future(self._on_last(stream_id), loop=done.get_loop())
            task.add_done_callback(_retrieve)

    async def _unsubscribe(self, sub: Subscription, *, run_hook: bool = True) -> None:
        with self._lock:
            subs = self._subs.get(sub.stream_id)
            if subs is None or sub not in subs:
                return
            subs.discard(sub)
            last = not subs
            if last:
                del self._subs[sub.stream_id]
            # While the on_first task runs, it undoes itself if it finds nobody left.
            hook = self._on_last if last and sub.stream_id not in self._pending else None
        if run_hook and hook is not None:
            task = asyncio.ensure_future(hook(sub.stream_id))
            task.add_done_callback(_retrieve)
            # Shielded: a follower cancelled while leaving still leaves the server clean.
            with contextlib.suppress(Exception):
                await asyncio.shield(task)

    def notify(self, stream_id: str) -> None:
        """Wake every follower of ``stream_id``. Safe to call from any thread or loop."""
        if stream_id not in self._subs:  # one atomic lookup: the usual write nobody follows
            return
        with self._lock:
            subs = list(self._subs.get(stream_id, ()))
        for sub in subs:
            sub._wake()

    def notify_all(self) -> None:
        """Wake every follower of every stream, e.g. after a backend's listener reconnected and
        may have missed messages: each follower re-reads and finds what it missed."""
        with self._lock:
            subs = [s for group in self._subs.values() for s in group]
        for sub in subs:
            sub._wake()

    def streams(self) -> list[str]:
        """The ids that have at least one subscription (to re-subscribe after a reconnect)."""
        with self._lock:
            return list(self._subs)

    def subscriber_count(self, stream_id: str | None = None) -> int:
        """How many subscriptions there are, for one stream or (``None``) in total."""
        with self._lock:
            if stream_id is not None:
                return len(self._subs.get(stream_id, ()))
            return sum(len(s) for s in self._subs.values())
