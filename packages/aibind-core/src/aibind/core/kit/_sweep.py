"""The one poll policy: a per-store safety sweep behind push delivery.

Push (pub/sub, LISTEN/NOTIFY, the in-process notifier) wakes followers at once, but only for
writes made by a process that notifies: the npm packages poll and never publish, and other tools
write rows directly. So every store that can check streams in bulk runs ONE :class:`Sweeper`
while it has followers: every ``poll_interval`` seconds it asks the backend for a version marker
of every followed stream (Redis: the status values, pipelined ``MGET`` slices; PostgreSQL:
``WHERE id = ANY($1)``; SQLite: ``PRAGMA data_version`` and, when it moved, one query that
returns a row per stream, in order) and wakes the followers of each stream whose marker
changed. A thousand idle followers cost one query per interval, not a thousand.

The sweep's own cost stays small and bounded however many streams are followed: it keeps one
marker per stream between sweeps (a dict updated in place), compares a slice of markers in one
C-level list comparison and looks at single streams only in a slice that differs, and a probe
that reads in slices (:data:`Probe`) has each slice compared as it arrives, with the event loop
free between slices. A stream whose followers were already woken for its current state (a
push that carried the state: :meth:`Sweeper.saw`) is not woken again for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Hashable,
    Iterable,
    Mapping,
    Sequence,
)

from aibind.core.notify import Notifier

__all__ = ["Markers", "Probe", "Sweeper", "Watch"]

_log = logging.getLogger("aibind.core.sweep")

Watch = Callable[[Callable[[], None]], Callable[[], None] | None]
"""``watch(poke)`` starts watching for writes of other processes (say, a file system
notification on a SQLite file) and calls ``poke()`` on each, so the sweep runs at once instead
of at the next interval; it returns the function that stops watching, or ``None`` when it cannot
watch (the interval alone then applies)."""

Markers = (
    Mapping[str, Hashable] | list[Hashable | None] | AsyncIterator[Sequence[Hashable | None]] | None
)
"""What a :data:`Probe` reports for the ids it was given, in one of four forms:

* a mapping ``id -> marker``; streams it does not find are left out;
* a list: the marker of each id, in the order given (``None`` for a stream not found), which
  the sweep compares with the markers it keeps in one C-level list comparison (SQLite: one
  query that returns a row per id, in order);
* ``None``: none of them changed since the previous probe (a backend with a cheap global
  change counter, like SQLite's ``data_version``);
* an async iterator of slices: the markers of the first ``n1`` ids in order (``None`` for a
  stream not found), then of the next ``n2``, and so on, for a backend that reads markers in
  bounded commands (Redis: pipelined ``MGET`` commands of a few hundred keys). Each slice is
  compared as it arrives and other tasks run between slices, so a sweep of 10,000 streams never
  holds the event loop for the whole of it. The sweep closes the iterator (``aclose()``) when
  it is done with it, also early on an error."""

Probe = Callable[[list[str]], Awaitable[Markers]]
"""``probe(stream_ids)`` returns a marker per stream that changes whenever the stream does
(its ``(state, total_chunks)``, its raw status value...), in one of the forms of
:data:`Markers`."""


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_UNSEEN = _Sentinel("<unseen>")  # not compared yet
_UNKNOWN = _Sentinel("<unknown>")  # compared, but the probe gave no marker ("nothing changed")

_DEFER = 2
"""Sweeps a newly followed stream is left alone while its followers have not read it yet (no
``seen`` marker): their first read, which is on its way, is the check; the next sweep compares
with what it found. After this many sweeps without a marker it is woken anyway."""


_UNREAD_KEPT = 1000
"""Entries of streams still waiting for their followers' first read kept before the sweep
drops those no longer followed (followers that ended before reading)."""


_REST_FROM = 0.0002
"""Seconds a sweep must take for the sweep to rest as long again before the next one. A probe
costs O(followed streams) (SQLite's reads a row per stream: about 0.6 ms for 1,000), and a
change watcher pokes on every write of another process, so without a rest a sweep could run
back to back and take a core; resting as long as it took keeps sweeps to half the time at
most, and delays a wake-up by at most one sweep's duration. The interval is unaffected (the
rest is counted in the pause). Shorter sweeps do not rest (the timer would cost more than it
saves)."""


class _Known(dict[str, object]):
    """Marker per followed stream from the last sweep (or :meth:`Sweeper.saw`); a stream not in
    it reads as unseen."""

    def __missing__(self, key: str) -> object:
        return _UNSEEN


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
            from it, so 10,000 followers starting together do not all read again; one whose
            followers have not read yet is compared with their first read at a later sweep
            (woken anyway after two sweeps without a marker, unless ``reads_recorded``).
        reads_recorded: every read of a follower records its marker in ``seen``, so a stream
            without one has not been read yet: it is left alone until its followers' first
            read (which is on its way) has recorded what it found, however long that takes.

    The sweep runs in one task started by :meth:`ensure_running` (each follower calls it) and
    ending by itself once no stream is followed (stopping the watcher too); :meth:`aclose`
    stops it for good. A stream seen for the first time without ``seen`` is woken once (its
    follower may have read just before a silent write). A failing probe is logged and retried
    next interval; followers meet the error in their own reads. Pokes while a probe runs are
    coalesced into one more probe right after it; after a sweep that took a while (see
    :data:`_REST_FROM`) a poke is swept no sooner than as long after it.
    """

    def __init__(
        self,
        notifier: Notifier,
        probe: Probe,
        streams: Callable[[], Iterable[str]],
        interval: float,
        watch: Watch | None = None,
        seen: Callable[[str], Hashable | None] | None = None,
        *,
        reads_recorded: bool = False,
    ) -> None:
        self._notifier = notifier
        self._probe = probe
        self._streams = streams
        self.interval = interval
        self._watch = watch
        self._seen = seen
        self._reads_recorded = reads_recorded
        self._known = _Known()
        self._unread: dict[str, tuple[int, object]] = {}  # sweeps waited, marker found
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

    def saw(self, stream_id: str, marker: Hashable | None) -> None:
        """Record that every follower of ``stream_id`` has been woken since the stream reached
        the state whose marker is ``marker`` (``None``: the stream is gone), e.g. by a push
        that carried that state: the sweep then does not wake them again for it (a later
        change still does). Call it from the sweep's event loop, before or after the wake-up
        of the same loop step."""
        self._known[stream_id] = marker
        if self._unread:
            self._unread.pop(stream_id, None)

    async def _pause(self, rest: float) -> None:
        """Wait for a poke or the interval; a poke within ``rest`` seconds (the last sweep's
        duration, see :data:`_REST_FROM`) is swept only once they have passed."""
        poked = self._poked
        assert poked is not None
        loop = asyncio.get_running_loop()
        start = loop.time()
        if not poked.is_set():
            try:
                await asyncio.wait_for(poked.wait(), self.interval)
            except asyncio.TimeoutError:
                pass
        if rest:
            left = start + rest - loop.time()
            if left > 0:
                await asyncio.sleep(left)
        poked.clear()

    def ensure_running(self) -> None:
        """Start the sweep task if it is not running (call when a follower starts)."""
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="aibind-sweeper")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
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
            rest = 0.0
            while not self._closed:
                await self._pause(rest)
                ids = list(self._streams())
                if not ids:
                    self._known.clear()
                    self._unread.clear()
                    return
                started = loop.time()
                try:
                    await self._sweep(ids)
                except Exception as exc:
                    _log.debug("aibind sweep failed (followers will see it): %r", exc)
                    continue
                self.sweeps += 1
                self._forget(ids)
                took = loop.time() - started
                # at most the interval, so a sweep slower than that never delays the next
                rest = min(took, self.interval) if took >= _REST_FROM else 0.0
        finally:
            self._poked = None
            if stop is not None:
                stop()
            if self._task is asyncio.current_task():
                self._task = None

    async def _sweep(self, ids: list[str]) -> None:
        found = await self._probe(ids)
        if found is None:
            self._compare(ids, None)
        elif isinstance(found, list):
            if len(found) != len(ids):
                raise ValueError(f"the probe gave {len(found)} markers for {len(ids)} streams")
            self._compare(ids, found)
        elif isinstance(found, Mapping):
            self._compare(ids, list(map(found.get, ids)))
        else:
            await self._compare_slices(ids, found)

    async def _compare_slices(
        self, ids: list[str], slices: AsyncIterator[Sequence[Hashable | None]]
    ) -> None:
        start = 0
        try:
            async for values in slices:
                end = start + len(values)
                self._compare(ids[start:end], values)
                start = end
                await asyncio.sleep(0)  # let the followers run between slices
        finally:
            close = getattr(slices, "aclose", None)
            if close is not None:
                await close()

    def _compare(self, ids: list[str], values: Sequence[Hashable | None] | None) -> None:
        """Wake the followers of each of ``ids`` whose marker differs from the last sweep's
        (``values``: the probe's markers in order; ``None``: nothing changed)."""
        before = list(map(self._known.__getitem__, ids))
        if values is None:
            if _UNSEEN not in before:
                return  # nothing changed and nothing new
            values = before  # each stream's marker is what it was (unseen: see _first_sight)
        else:
            if not isinstance(values, list):
                values = list(values)
            if before == values:
                return  # the usual slice: one comparison in C
        known = self._known
        notify = self._notifier.notify
        for stream_id, old, new in zip(ids, before, values, strict=False):
            if old is _UNSEEN:
                self._first_sight(stream_id, new)
            elif old is not new and old != new:
                known[stream_id] = new
                notify(stream_id)

    def _first_sight(self, stream_id: str, new: object) -> None:
        """A stream the sweep compares for the first time, whose marker is ``new`` now
        (``_UNSEEN`` if the probe said "nothing changed")."""
        waiting = self._unread.get(stream_id)
        if new is _UNSEEN and waiting is not None:
            new = waiting[1]  # nothing changed since the probe that found it so
        seen = self._seen
        last = seen(stream_id) if seen is not None else None
        if last is None and seen is not None:
            # Its followers' first read is on its way: compare with what it finds.
            waited = 0 if waiting is None else waiting[0]
            if self._reads_recorded or waited < _DEFER:
                self._unread[stream_id] = (waited + 1, new)
                return
        if waiting is not None:
            del self._unread[stream_id]
        if new is _UNSEEN:
            self._known[stream_id] = _UNKNOWN if last is None else last
            if last is None:
                self._notifier.notify(stream_id)
            return
        self._known[stream_id] = new
        if last is None or last != new:
            self._notifier.notify(stream_id)

    def _forget(self, ids: list[str]) -> None:
        """Drop the markers of streams no longer followed."""
        known = self._known
        if len(known) > len(ids):
            kept = _Known()
            for stream_id in ids:
                marker = known[stream_id]
                if marker is not _UNSEEN:
                    kept[stream_id] = marker
            self._known = kept
        if len(self._unread) > _UNREAD_KEPT or (self._unread and len(known) > len(ids)):
            followed = set(ids)
            self._unread = {k: n for k, n in self._unread.items() if k in followed}

    async def aclose(self) -> None:
        """Stop the sweep for good. Idempotent."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
