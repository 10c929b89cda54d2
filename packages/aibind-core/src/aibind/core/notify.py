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
import sys
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType

__all__ = ["Notifier", "Subscription"]

Hook = Callable[[str], Awaitable[None]]

_log = logging.getLogger("aibind.core.notify")


def _failed(task: asyncio.Task[None]) -> bool:
    return task.cancelled() or task.exception() is not None


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark a hook task's outcome as seen (its waiters may all be gone); log a failure."""
    if not task.cancelled() and task.exception() is not None:
        _log.debug("aibind notifier hook failed: %r", task.exception())


async def _wait_event(event: asyncio.Event, timeout: float) -> bool:
    """``event.wait()`` for at most ``timeout`` seconds; ``False`` on timeout.

    Not ``asyncio.wait_for``: before Python 3.12 it loses the caller's cancellation when the
    event is set in the same loop iteration (it returns the inner result instead of raising
    ``CancelledError``), so a follower cancelled as a chunk arrives ran on until its next wake-up.
    """
    if sys.version_info >= (3, 11):
        try:
            async with asyncio.timeout(timeout):
                return await event.wait()
        except TimeoutError:
            return False
    waiter = asyncio.ensure_future(event.wait())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=timeout)  # never swallows our cancel
    finally:
        if not waiter.done():
            waiter.cancel()
    return bool(done)


class Subscription:
    """One follower's interest in one stream. Obtain it from :meth:`Notifier.subscribe`.

    Attributes:
        stream_id: the stream this subscription watches.
    """

    __slots__ = ("_event", "_loop", "_notifier", "stream_id")

    def __init__(self, notifier: Notifier, stream_id: str) -> None:
        self.stream_id = stream_id
        self._notifier = notifier
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def _wake(self) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._event.set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._event.set)

    async def wait(self, timeout: float | None) -> bool:
        """Wait until the stream is notified or ``timeout`` seconds pass.

        A notification that arrived since the previous ``wait`` returns at once, so a wake-up
        is never lost between a read and the next wait.

        Args:
            timeout: the longest wait in seconds; ``None`` waits without limit.

        Returns:
            ``True`` if woken by a notification, ``False`` on timeout.
        """
        if not self._event.is_set():
            if timeout is None:
                await self._event.wait()
            elif not await _wait_event(self._event, timeout):
                return False
        self._event.clear()
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
            server here, so nothing published after ``subscribe`` returns is missed.
        on_last: awaited when a stream's last subscription closes (unsubscribe there); its
            errors are logged and swallowed (a backend re-syncs its server subscriptions when
            it reconnects).
    """

    def __init__(self, *, on_first: Hook | None = None, on_last: Hook | None = None) -> None:
        self._subs: dict[str, set[Subscription]] = {}
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._lock = threading.Lock()
        self._on_first = on_first
        self._on_last = on_last

    async def subscribe(self, stream_id: str) -> Subscription:
        """Register interest in ``stream_id`` and return the subscription (an async context
        manager that closes it).

        Returns only once the stream is subscribed on the server: the first subscription of a
        stream starts the ``on_first`` hook in a task of its own, and every subscription made
        while it runs waits for it, so no caller starts reading before notifications can reach
        it. If the hook fails, its error propagates to every waiting caller and nothing stays
        registered for them.

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
                task = loop.create_task(
                    self._first(stream_id), name=f"aibind-subscribe-{stream_id}"
                )
                task.add_done_callback(_retrieve)
                self._pending[stream_id] = task
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

    async def _first(self, stream_id: str) -> None:
        """Run ``on_first``; if every subscriber left meanwhile, undo it with ``on_last``."""
        assert self._on_first is not None
        try:
            await self._on_first(stream_id)
        finally:
            with self._lock:
                self._pending.pop(stream_id, None)
                abandoned = not self._subs.get(stream_id)
        if abandoned and self._on_last is not None:
            await self._on_last(stream_id)

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
