"""The append coalescer (aibind.core.kit.Coalescer): a lone call runs at once, calls made while
one is in flight run next as one group, in order; a caller cancelled before its group starts is
left out; a failing group gives every caller the error the group runner reports."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from aibind.core.kit import Coalescer, Outcome


class _Log:
    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def one(self, item: int) -> int:
        self.calls.append([item])
        await self.gate.wait()
        if item < 0:
            raise ValueError(f"bad {item}")
        return item * 10

    async def group(self, items: list[int]) -> Sequence[Outcome]:
        self.calls.append(list(items))
        await self.gate.wait()
        return [(None, ValueError(f"bad {i}")) if i < 0 else (i * 10, None) for i in items]


async def test_a_lone_call_runs_at_once_and_later_ones_group_in_order() -> None:
    log = _Log()
    coalesce: Coalescer[int, int] = Coalescer(log.one, log.group)
    assert await coalesce(1) == 10
    log.gate.clear()
    first = asyncio.ensure_future(coalesce(2))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(coalesce(i)) for i in (3, -4, 5)]
    await asyncio.sleep(0)
    log.gate.set()
    assert await first == 20
    results = await asyncio.gather(*rest, return_exceptions=True)
    assert results[0] == 30
    assert isinstance(results[1], ValueError)
    assert results[2] == 50
    assert log.calls == [[1], [2], [3, -4, 5]]
    assert coalesce.groups == 1


async def test_a_caller_cancelled_before_its_group_is_left_out() -> None:
    log = _Log()
    coalesce: Coalescer[int, int] = Coalescer(log.one, log.group)
    log.gate.clear()
    first = asyncio.ensure_future(coalesce(1))
    await asyncio.sleep(0)
    gone = asyncio.ensure_future(coalesce(2))
    kept = asyncio.ensure_future(coalesce(3))
    await asyncio.sleep(0)
    gone.cancel()
    log.gate.set()
    assert await first == 10
    assert await kept == 30
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert log.calls == [[1], [3]]  # a group of one runs as a single call


async def test_a_group_runner_that_raises_fails_every_caller() -> None:
    log = _Log()

    async def broken(items: list[int]) -> Sequence[Outcome]:
        raise RuntimeError("connection lost")

    coalesce: Coalescer[int, int] = Coalescer(log.one, broken)
    log.gate.clear()
    first = asyncio.ensure_future(coalesce(1))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(coalesce(i)) for i in (2, 3)]
    await asyncio.sleep(0)
    log.gate.set()
    assert await first == 10
    for outcome in await asyncio.gather(*rest, return_exceptions=True):
        assert isinstance(outcome, RuntimeError)
    assert await coalesce(4) == 40  # idle again: runs at once


async def test_aclose_waits_for_the_groups_in_flight() -> None:
    log = _Log()
    coalesce: Coalescer[int, int] = Coalescer(log.one, log.group)
    log.gate.clear()
    calls = [asyncio.ensure_future(coalesce(i)) for i in range(4)]
    await asyncio.sleep(0)
    asyncio.get_running_loop().call_later(0.05, log.gate.set)
    await calls[0]
    await coalesce.aclose()
    assert log.calls == [[0], [1, 2, 3]]  # the queued group ran before aclose returned
    assert await asyncio.gather(*calls) == [0, 10, 20, 30]
