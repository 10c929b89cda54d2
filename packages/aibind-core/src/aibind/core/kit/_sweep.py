"""The one poll policy: a per-store safety sweep behind push delivery.

Push (pub/sub, LISTEN/NOTIFY, the in-process notifier) wakes followers at once, but only for
writes made by a process that notifies: the npm packages poll and never publish, and other tools
write rows directly. So every store that can check streams in bulk runs ONE :class:`Sweeper`
while it has followers: every ``poll_interval`` seconds it asks the backend, in one round trip,
for a version marker of every followed stream (Redis: the status values, one pipeline;
PostgreSQL: ``WHERE id = ANY($1)``; SQLite: ``PRAGMA data_version`` and, when it moved, one
``IN`` query) and wakes the followers of each stream whose marker changed. A thousand idle
followers cost one query per interval, not a thousand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping

from aibind.core.notify import Notifier

__all__ = ["Probe", "Sweeper", "Watch"]

_log = logging.getLogger("aibind.core.sweep")

Watch = Callable[[Callable[[], None]], Callable[[], None] | None]
"""``watch(poke)`` starts watching for writes of other processes (say, a file system
notification on a SQLite file) and calls ``poke()`` on each, so the sweep runs at once instead
of at the next interval; it returns the function that stops watching, or ``None`` when it cannot
watch (the interval alone then applies)."""

Probe = Callable[[list[str]], Awaitable[Mapping[str, Hashable] | None]]
"""``probe(stream_ids)`` returns a marker per stream that changes whenever the stream does
(its ``(state, total_chunks)``, its raw status value...); streams it does not find are left
out. ``None`` means "none of them changed since the previous probe" (a backend with a cheap
global change counter, like SQLite's ``data_version``)."""

_UNSEEN = object()
_ABSENT = object()


class Sweeper:
    """Wakes a store's followers of streams changed by writers that do not notify.

    Args:
        notifier: the notifier whose followers are woken.
        probe: see :data:`Probe`; called at most once per ``interval``.
        streams: returns the ids the store's followers currently follow.
        interval: seconds between sweeps.
        watch: optional change watcher (see :data:`Watch`): a sweep runs as soon as it pokes.
        seen: optional; the marker a stream had at its followers' last read (``None``:
            unknown). A stream seen for the first time is woken only if its marker differs
            from it, so 10,000 followers starting together do not all read again.

    The sweep runs in one task started by :meth:`ensure_running` (each follower calls it) and
    ending by itself once no stream is followed (stopping the watcher too); :meth:`aclose`
    stops it for good. A stream seen for the first time is woken once (its follower may have
    read just before a silent write). A failing probe is logged and retried next interval;
    followers meet the error in their own reads. Pokes while a probe runs are coalesced into
    one more probe right after it.
    """

    def __init__(
        self,
        notifier: Notifier,
        probe: Probe,
        streams: Callable[[], Iterable[str]],
        interval: float,
        watch: Watch | None = None,
        seen: Callable[[str], Hashable | None] | None = None,
    ) -> None:
        self._notifier = notifier
        self._probe = probe
        self._streams = streams
        self.interval = interval
        self._watch = watch
        self._seen = seen
        self._task: asyncio.Task[None] | None = None
        self._poked: asyncio.Event | None = None
        self._closed = False
        self.sweeps = 0
        """How many probes ran (for tests and diagnostics)."""

    def poke(self) -> None:
        """Sweep now rather than at the next interval (a watcher saw a write). Call it from the
        sweep's event loop."""
        if self._poked is not None:
            self._poked.set()

    async def _pause(self) -> None:
        poked = self._poked
        assert poked is not None
        if not poked.is_set():
            try:
                await asyncio.wait_for(poked.wait(), self.interval)
            except asyncio.TimeoutError:
                pass
        poked.clear()

    def ensure_running(self) -> None:
        """Start the sweep task if it is not running (call when a follower starts)."""
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="aibind-sweeper")

    async def _run(self) -> None:
        markers: dict[str, object] = {}
        self._poked = asyncio.Event()
        stop: Callable[[], None] | None = None
        if self._watch is not None:
            try:
                stop = self._watch(self.poke)
            except Exception as exc:  # no watching: the interval alone applies
                _log.debug("aibind sweep: cannot watch for changes: %r", exc)
        try:
            # Not ``while True``: a probe may swallow the cancellation of aclose() (drivers
            # awaiting asyncio.wait_for on Python < 3.12, e.g. redis-py 8's socket timeout,
            # return the result when it lands together with the cancel), so the loop also
            # ends on the closed flag instead of sweeping on forever.
            while not self._closed:
                await self._pause()
                ids = list(self._streams())
                if not ids:
                    return
                try:
                    found = await self._probe(ids)
                except Exception as exc:
                    _log.debug("aibind sweep failed (followers will see it): %r", exc)
                    continue
                self.sweeps += 1
                markers = self._compare(ids, found, markers)
        finally:
            self._poked = None
            if stop is not None:
                stop()
            if self._task is asyncio.current_task():
                self._task = None

    def _compare(
        self, ids: list[str], found: Mapping[str, Hashable] | None, before: dict[str, object]
    ) -> dict[str, object]:
        notify = self._notifier.notify
        after: dict[str, object] = {}
        seen = self._seen
        for stream_id in ids:
            old = before.get(stream_id, _UNSEEN)
            if old is _UNSEEN and seen is not None:
                known = seen(stream_id)
                if known is not None:
                    old = known  # compare with what its followers last read
            new = old if found is None else found.get(stream_id, _ABSENT)
            if new is _UNSEEN:
                new = _ABSENT
                notify(stream_id)
            elif new != old:
                notify(stream_id)
            after[stream_id] = new
        return after

    async def aclose(self) -> None:
        """Stop the sweep for good. Idempotent."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
