"""The per-store safety sweep (aibind.core.kit.Sweeper): one probe per interval however many
streams are followed; followers of changed streams (and of newly seen ones) are woken."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from itertools import pairwise

from aibind.core.kit import Sweeper
from aibind.core.notify import Notifier


class _Backend:
    """Version markers as a backend would report them; counts the probes."""

    def __init__(self) -> None:
        self.markers: dict[str, int] = {}
        self.probes = 0
        self.unchanged = False

    async def probe(self, ids: list[str]) -> Mapping[str, Hashable] | None:
        self.probes += 1
        if self.unchanged:
            return None
        return {i: self.markers[i] for i in ids if i in self.markers}


async def test_one_probe_per_interval_wakes_only_changed_streams() -> None:
    notifier = Notifier()
    backend = _Backend()
    ids = [f"s{i}" for i in range(500)]
    backend.markers = dict.fromkeys(ids, 0)
    subs = {i: await notifier.subscribe(i) for i in ids}
    sweeper = Sweeper(notifier, backend.probe, lambda: list(subs), 0.02)
    sweeper.ensure_running()
    await asyncio.sleep(0.05)
    # first sighting: everyone woken once
    assert all([await subs[i].wait(0) for i in ids])
    probes = backend.probes
    backend.markers["s7"] = 1
    await asyncio.sleep(0.05)
    assert await subs["s7"].wait(0)
    assert not any([await subs[i].wait(0) for i in ids if i != "s7"])
    assert backend.probes - probes <= 4  # one probe per interval, not one per follower
    backend.unchanged = True  # e.g. SQLite's data_version did not move
    backend.markers["s8"] = 5
    await asyncio.sleep(0.05)
    assert not await subs["s8"].wait(0)
    await sweeper.aclose()
    for sub in subs.values():
        await sub.close()


async def test_sweep_ends_when_nothing_is_followed_and_restarts() -> None:
    notifier = Notifier()
    backend = _Backend()
    followed: list[str] = []
    sweeper = Sweeper(notifier, backend.probe, lambda: followed, 0.01)
    sweeper.ensure_running()
    await asyncio.sleep(0.05)
    assert sweeper._task is None
    assert backend.probes == 0
    followed.append("a")
    sweeper.ensure_running()
    await asyncio.sleep(0.05)
    assert backend.probes >= 2
    await sweeper.aclose()
    sweeper.ensure_running()
    assert sweeper._task is None


async def test_a_failing_probe_keeps_the_sweep_alive() -> None:
    notifier = Notifier()
    calls = 0

    async def probe(ids: list[str]) -> Mapping[str, Hashable]:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionResetError("gone")
        return {"a": 1}

    sub = await notifier.subscribe("a")
    sweeper = Sweeper(notifier, probe, lambda: ["a"], 0.01)
    sweeper.ensure_running()
    await asyncio.sleep(0.1)
    assert calls >= 3
    assert await sub.wait(0)
    await sweeper.aclose()
    await sub.close()


async def test_a_watcher_poke_sweeps_at_once_and_stops_with_the_sweep() -> None:
    notifier = Notifier()
    backend = _Backend()
    backend.markers = {"a": 0}
    followed = ["a"]
    pokes: list[Callable[[], None]] = []
    stopped: list[bool] = []

    def watch(poke: Callable[[], None]) -> Callable[[], None] | None:
        pokes.append(poke)
        return lambda: stopped.append(True)

    sub = await notifier.subscribe("a")
    sweeper = Sweeper(notifier, backend.probe, lambda: followed, 60.0, watch)
    sweeper.ensure_running()
    await asyncio.sleep(0.01)
    assert len(pokes) == 1
    poke = pokes[0]
    poke()  # a write seen by the watcher: probe now, not in 60 s
    await asyncio.wait_for(sub.wait(None), 5)  # first sighting wakes the follower
    backend.markers["a"] = 1
    poke()
    poke()  # pokes during one pause are one sweep
    assert await sub.wait(5)
    assert backend.probes <= 3
    followed.clear()
    poke()
    await asyncio.sleep(0.05)
    assert stopped == [True]  # nothing followed: the sweep ended and stopped its watcher
    await sweeper.aclose()
    await sub.close()


async def test_a_watcher_that_cannot_start_leaves_the_interval() -> None:
    notifier = Notifier()
    backend = _Backend()
    backend.markers = {"a": 0}

    def broken(poke: Callable[[], None]) -> Callable[[], None] | None:
        raise OSError("no inotify here")

    sub = await notifier.subscribe("a")
    sweeper = Sweeper(notifier, backend.probe, lambda: ["a"], 0.01, broken)
    sweeper.ensure_running()
    assert await sub.wait(5)
    assert backend.probes >= 1
    await sweeper.aclose()
    await sub.close()


async def test_aclose_ends_the_sweep_even_if_a_probe_swallows_the_cancellation() -> None:
    # asyncio.wait_for (Python < 3.12) returns its result when the awaiting task is cancelled
    # just as the result lands; drivers using it (redis-py 8 with its socket timeout) then
    # lose the cancellation, and a sweep looping "while True" never ended: aclose() hung.
    notifier = Notifier()
    entered = asyncio.Event()

    async def swallowing_probe(ids: list[str]) -> Mapping[str, Hashable] | None:
        entered.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return {}  # what the buggy wait_for does
        return {}

    sweeper = Sweeper(notifier, swallowing_probe, lambda: ["s"], 0.01)
    sweeper.ensure_running()
    await asyncio.wait_for(entered.wait(), 5)
    closing = asyncio.ensure_future(sweeper.aclose())
    done, _ = await asyncio.wait({closing}, timeout=5)
    assert done, "aclose() hung: the sweep went on after its cancellation was swallowed"


async def test_a_first_sighting_is_woken_only_if_it_changed_since_the_followers_read() -> None:
    notifier = Notifier()
    backend = _Backend()
    backend.markers = {"same": 3, "moved": 4, "unknown": 1}
    seen = {"same": 3, "moved": 2}  # what their followers last read; "unknown": nothing
    subs = {sid: await notifier.subscribe(sid) for sid in backend.markers}
    sweeper = Sweeper(notifier, backend.probe, lambda: list(subs), 0.01, None, seen.get)
    sweeper.ensure_running()
    await asyncio.sleep(0.05)
    assert not await subs["same"].wait(0)
    assert await subs["moved"].wait(0)
    assert await subs["unknown"].wait(1)  # after two sweeps without a read
    await sweeper.aclose()
    for sub in subs.values():
        await sub.close()


async def test_a_sliced_probe_is_compared_slice_by_slice_and_closed() -> None:
    notifier = Notifier()
    markers = {f"s{i}": 0 for i in range(1200)}
    closed: list[bool] = []

    async def slices(ids: list[str]) -> AsyncIterator[list[Hashable | None]]:
        try:
            for start in range(0, len(ids), 500):
                yield [markers.get(i) for i in ids[start : start + 500]]
        finally:
            closed.append(True)

    async def probe(ids: list[str]) -> AsyncIterator[list[Hashable | None]]:
        return slices(ids)

    subs = {i: await notifier.subscribe(i) for i in markers}
    sweeper = Sweeper(notifier, probe, lambda: list(subs), 0.01)
    sweeper.ensure_running()
    await asyncio.sleep(0.05)
    assert all([await subs[i].wait(0) for i in markers])  # first sighting, no `seen`
    markers["s1100"] = 1  # in the third slice
    del markers["s3"]  # gone: woken too
    await asyncio.sleep(0.05)
    woken = [i for i in markers if await subs[i].wait(0)] + (
        ["s3"] if await subs["s3"].wait(0) else []
    )
    assert sorted(woken) == ["s1100", "s3"]
    assert closed
    assert all(closed)
    await sweeper.aclose()
    for sub in subs.values():
        await sub.close()


async def test_a_positional_probe_is_compared_as_one_list() -> None:
    notifier = Notifier()
    markers: dict[str, Hashable] = {f"s{i}": ("active", 0) for i in range(300)}
    lengths: list[int] = []
    short = False

    async def probe(ids: list[str]) -> list[Hashable | None]:
        found = [markers.get(i) for i in ids]
        lengths.append(len(found))
        return found[:-1] if short else found

    subs = {i: await notifier.subscribe(i) for i in markers}
    sweeper = Sweeper(notifier, probe, lambda: list(subs), 0.01)
    sweeper.ensure_running()
    await asyncio.sleep(0.05)
    assert all([await subs[i].wait(0) for i in markers])  # first sighting, no `seen`
    markers["s250"] = ("done", 3)
    del markers["s4"]  # gone (the SQLite probe's LEFT JOIN gives None): woken too
    await asyncio.sleep(0.05)
    woken = [i for i in subs if await subs[i].wait(0)]
    assert sorted(woken) == ["s250", "s4"]
    assert set(lengths) == {300}
    short = True  # a probe that loses a marker is an error the sweep survives, not a guess
    await asyncio.sleep(0.05)
    assert not any([await subs[i].wait(0) for i in subs])
    await sweeper.aclose()
    for sub in subs.values():
        await sub.close()


async def test_a_state_a_push_already_woke_for_is_not_woken_again() -> None:
    notifier = Notifier()
    backend = _Backend()
    backend.markers = {"a": 0}
    sub = await notifier.subscribe("a")
    sweeper = Sweeper(notifier, backend.probe, lambda: ["a"], 0.01, None, {"a": 0}.get)
    sweeper.ensure_running()
    await asyncio.sleep(0.03)
    assert not await sub.wait(0)
    backend.markers["a"] = 1
    sweeper.saw("a", 1)  # the push that wrote 1 woke the followers itself
    await asyncio.sleep(0.05)
    assert not await sub.wait(0)
    backend.markers["a"] = 2  # a write that did not notify
    assert await sub.wait(1)
    await sweeper.aclose()
    await sub.close()


async def test_streams_not_read_yet_are_compared_with_their_first_read() -> None:
    notifier = Notifier()
    backend = _Backend()
    backend.markers = {"same": 5, "behind": 5, "later": 5}
    seen: dict[str, int] = {}
    subs = {sid: await notifier.subscribe(sid) for sid in backend.markers}
    sweeper = Sweeper(
        notifier, backend.probe, lambda: list(subs), 0.01, None, seen.get, reads_recorded=True
    )
    sweeper.ensure_running()
    await asyncio.sleep(0.05)
    assert not any([await s.wait(0) for s in subs.values()])  # nobody read yet: left alone
    backend.unchanged = True  # "nothing changed" from now on (SQLite's data_version)
    seen.update({"same": 5, "behind": 4})  # their first reads: one before the last write
    await asyncio.sleep(0.05)
    assert not await subs["same"].wait(0)
    assert await subs["behind"].wait(0)
    assert not await subs["later"].wait(0)  # still not read
    await sweeper.aclose()
    for sub in subs.values():
        await sub.close()


async def test_a_slow_sweep_rests_as_long_before_the_next_poke_is_swept() -> None:
    """A probe that takes a while (many followed streams) is not run back to back however
    often a watcher pokes: pokes during the rest after it are coalesced into one sweep that
    starts no sooner than the probe's duration after it ended. Bounds only (no timing race):
    the rest is a sleep, which never ends early."""
    notifier = Notifier()
    pokes: list[Callable[[], None]] = []
    spans: list[tuple[float, float]] = []
    loop = asyncio.get_running_loop()

    async def slow_probe(ids: list[str]) -> Mapping[str, Hashable]:
        start = loop.time()
        await asyncio.sleep(0.05)
        spans.append((start, loop.time()))
        return {"a": len(spans)}

    def watch(poke: Callable[[], None]) -> Callable[[], None] | None:
        pokes.append(poke)
        return None

    sweeper = Sweeper(notifier, slow_probe, lambda: ["a"], 60.0, watch)
    sweeper.ensure_running()
    await asyncio.sleep(0.01)
    for _ in range(40):  # a watcher poking every 5 ms for 0.2 s
        pokes[0]()
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.2)
    await sweeper.aclose()
    assert len(spans) >= 2
    for (_, end), (start, _) in pairwise(spans):
        assert start - end >= 0.045  # rested about as long as the 50 ms probe took
    assert len(spans) <= 4  # 0.2 s of pokes: sweeps at most every ~0.1 s, not back to back
