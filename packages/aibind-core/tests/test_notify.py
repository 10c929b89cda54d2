"""Tests of the in-process notifier behind push delivery."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from aibind.core.notify import Notifier, Subscription


async def test_notification_before_wait_is_not_lost() -> None:
    notifier = Notifier()
    async with await notifier.subscribe("s") as sub:
        notifier.notify("s")
        assert await sub.wait(0) is True
        assert await sub.wait(0.01) is False


async def test_only_the_notified_stream_wakes() -> None:
    notifier = Notifier()
    a = await notifier.subscribe("a")
    b = await notifier.subscribe("b")
    notifier.notify("a")
    assert await a.wait(0.01) is True
    assert await b.wait(0.01) is False
    notifier.notify_all()
    assert await a.wait(0) is True
    assert await b.wait(0) is True
    await a.close()
    await b.close()


async def test_hooks_run_once_per_stream_and_in_order() -> None:
    calls: list[tuple[str, str]] = []

    async def first(stream_id: str) -> None:
        calls.append(("first", stream_id))

    async def last(stream_id: str) -> None:
        calls.append(("last", stream_id))

    notifier = Notifier(on_first=first, on_last=last)
    subs = [await notifier.subscribe("s") for _ in range(3)]
    assert notifier.subscriber_count("s") == 3
    assert notifier.streams() == ["s"]
    for sub in subs:
        await sub.close()
        await sub.close()  # idempotent
    assert calls == [("first", "s"), ("last", "s")]
    assert notifier.subscriber_count() == 0


async def test_failing_on_first_hook_leaves_nothing_registered() -> None:
    async def broken(stream_id: str) -> None:
        raise ConnectionError("subscribe failed")

    notifier = Notifier(on_first=broken)
    try:
        await notifier.subscribe("s")
    except ConnectionError:
        pass
    else:
        raise AssertionError("the hook's error must propagate")
    assert notifier.subscriber_count() == 0


async def test_notify_from_another_thread_wakes_the_loop() -> None:
    notifier = Notifier()
    sub = await notifier.subscribe("s")
    thread = threading.Thread(target=notifier.notify, args=("s",))
    thread.start()
    assert await sub.wait(5) is True
    thread.join()
    await sub.close()


async def test_many_subscribers_all_wake() -> None:
    notifier = Notifier()
    subs = [await notifier.subscribe("s") for _ in range(1000)]
    waits = [asyncio.create_task(s.wait(5)) for s in subs]
    await asyncio.sleep(0)
    notifier.notify("s")
    assert all(await asyncio.gather(*waits))
    for s in subs:
        await s.close()


async def test_later_subscribers_wait_for_the_first_hook() -> None:
    gate = asyncio.Event()
    done: list[str] = []

    async def slow_first(stream_id: str) -> None:
        await gate.wait()
        done.append(stream_id)

    notifier = Notifier(on_first=slow_first)
    first = asyncio.create_task(notifier.subscribe("s"))
    await asyncio.sleep(0)
    second = asyncio.create_task(notifier.subscribe("s"))
    await asyncio.sleep(0.01)
    assert not first.done()
    assert not second.done(), "a later subscriber must not return before the server subscribed"
    gate.set()
    subs = await asyncio.gather(first, second)
    assert done == ["s"]
    for sub in subs:
        await sub.close()


async def test_later_subscribers_get_the_first_hooks_error() -> None:
    gate = asyncio.Event()

    async def failing_first(stream_id: str) -> None:
        await gate.wait()
        raise ConnectionError("no server")

    notifier = Notifier(on_first=failing_first)
    first = asyncio.create_task(notifier.subscribe("s"))
    await asyncio.sleep(0)
    second = asyncio.create_task(notifier.subscribe("s"))
    await asyncio.sleep(0.01)
    gate.set()
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert notifier.subscriber_count() == 0


class _Server:
    """The server side of a notifier's hooks: which streams are subscribed there."""

    def __init__(self, delay: float = 0.05, fail: bool = False) -> None:
        self.subscribed: set[str] = set()
        self.calls: list[str] = []
        self.delay = delay
        self.fail = fail

    async def on_first(self, stream_id: str) -> None:
        self.calls.append(f"+{stream_id}")
        await asyncio.sleep(self.delay)
        if self.fail:
            raise ConnectionRefusedError("no server")
        self.subscribed.add(stream_id)

    async def on_last(self, stream_id: str) -> None:
        self.calls.append(f"-{stream_id}")
        await asyncio.sleep(self.delay / 5)
        self.subscribed.discard(stream_id)


async def test_followers_cancelled_while_subscribing_leave_nothing_behind() -> None:
    server = _Server()
    notifier = Notifier(on_first=server.on_first, on_last=server.on_last)
    tasks = [asyncio.create_task(notifier.subscribe("s")) for _ in range(100)]
    await asyncio.sleep(0.01)  # the first one's server subscribe is in flight
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    await asyncio.sleep(0.2)
    assert notifier.subscriber_count() == 0
    assert server.subscribed == set()
    assert server.calls == ["+s", "-s"]


async def test_first_follower_cancelled_does_not_cancel_the_others() -> None:
    server = _Server()
    notifier = Notifier(on_first=server.on_first, on_last=server.on_last)
    first = asyncio.create_task(notifier.subscribe("s"))
    await asyncio.sleep(0.01)
    others = [asyncio.create_task(notifier.subscribe("s")) for _ in range(5)]
    await asyncio.sleep(0.01)
    first.cancel()
    subs = await asyncio.gather(*others)
    assert server.subscribed == {"s"}
    assert notifier.subscriber_count("s") == 5
    for sub in subs:
        await sub.close()
    assert server.subscribed == set()
    assert notifier.subscriber_count() == 0


async def test_a_failed_server_subscribe_reaches_every_waiter_and_registers_nothing() -> None:
    server = _Server(fail=True)
    notifier = Notifier(on_first=server.on_first, on_last=server.on_last)
    results = await asyncio.gather(
        *(notifier.subscribe("s") for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionRefusedError) for r in results)
    assert notifier.subscriber_count() == 0
    assert server.calls == ["+s"]  # never unsubscribed what was never subscribed
    server.fail = False
    sub = await notifier.subscribe("s")  # a later follower tries again
    assert server.subscribed == {"s"}
    await sub.close()


async def test_follower_cancelled_while_leaving_still_unsubscribes() -> None:
    server = _Server(delay=0.1)
    notifier = Notifier(on_first=server.on_first, on_last=server.on_last)
    sub = await notifier.subscribe("s")
    closing = asyncio.create_task(sub.close())
    await asyncio.sleep(0.001)
    closing.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await closing
    await asyncio.sleep(0.1)
    assert server.subscribed == set()


async def test_cancelling_a_follower_as_it_is_woken_is_not_lost() -> None:
    # Issue #7 item 17: with asyncio.wait_for (Python < 3.12) a follower cancelled in the loop
    # iteration that woke it returned from wait() as if woken, and waited on (200 of 200 here).
    notifier = Notifier()
    subs = [await notifier.subscribe("s") for _ in range(200)]

    async def follow(sub: Subscription) -> None:
        while True:
            await sub.wait(100)

    tasks = [asyncio.create_task(follow(sub)) for sub in subs]
    await asyncio.sleep(0.01)
    notifier.notify("s")
    await asyncio.sleep(0)  # the wake-ups are under way...
    for task in tasks:
        task.cancel()  # ...and the cancellations land in the same iteration
    done, pending = await asyncio.wait(tasks, timeout=2)
    for task in pending:
        task.cancel()
    assert not pending, f"{len(pending)} cancelled followers still waiting"
    assert all(task.cancelled() for task in done)
    for sub in subs:
        await sub.close()


async def test_wait_times_out_and_still_sees_a_later_notification() -> None:
    notifier = Notifier()
    async with await notifier.subscribe("s") as sub:
        assert await sub.wait(0.01) is False
        notifier.notify("s")
        assert await sub.wait(0.01) is True
        assert await sub.wait(0) is False


async def test_long_waits_time_out_on_the_loops_clock_and_still_wake() -> None:
    notifier = Notifier()
    subs = [await notifier.subscribe(f"s{i}") for i in range(20)]
    loop = asyncio.get_running_loop()
    started = loop.time()
    # one timer per loop for waits of a second or more: each ends within a tenth of a second
    results = await asyncio.gather(*(s.wait(1.0 + i * 0.02) for i, s in enumerate(subs)))
    assert results == [False] * 20
    assert 1.38 <= loop.time() - started < 1.6
    waiting = asyncio.ensure_future(subs[0].wait(60))
    await asyncio.sleep(0.05)
    notifier.notify("s0")
    assert await asyncio.wait_for(waiting, 1) is True
    for sub in subs:
        await sub.close()


async def test_two_waits_on_one_subscription_both_wake_or_time_out() -> None:
    notifier = Notifier()
    async with await notifier.subscribe("s") as sub:
        both = asyncio.gather(sub.wait(5), sub.wait(5))
        await asyncio.sleep(0.01)
        notifier.notify("s")
        assert list(await asyncio.wait_for(both, 1)) == [True, True]
        assert list(await asyncio.gather(sub.wait(0.02), sub.wait(0.02))) == [False, False]
