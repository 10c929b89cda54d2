"""The generations a handler runs in this process: start them, stop them, save their turns,
and wait for all of it at shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from aibind.core.durable import DurableStream, SourceItem
from aibind.core.protocols import StreamStore
from aibind.core.types import StreamStatus
from aibind.starlette._turns import KeyedLock, Turn, save_turn, stream_text

__all__ = ["Generations"]

logger = logging.getLogger("aibind.starlette")


class Generations:
    """The running :class:`DurableStream` s of one handler, keyed by stream id, and the
    background work their endings need (saving a conversation turn)."""

    def __init__(self) -> None:
        self._streams: dict[str, DurableStream] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.locks = KeyedLock()

    def __contains__(self, stream_id: object) -> bool:
        return stream_id in self._streams

    def __len__(self) -> int:
        return len(self._streams)

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``work`` in a task that :meth:`drain` waits for; its errors are logged."""
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s failed", task.get_name(), exc_info=task.exception())

    async def start(
        self,
        store: StreamStore,
        source: AsyncIterator[SourceItem],
        stream_id: str,
        turn: Turn | None,
    ) -> DurableStream:
        """Create the stream and start piping ``source`` into it; once it ends, save ``turn``
        (if any) with the stream's text: as is when ``done``, marked stopped when ``stopped``,
        not at all when it failed.

        Raises:
            as :meth:`DurableStream.start` (nothing runs then).
        """
        durable = await DurableStream.start(store, source, stream_id=stream_id)
        self._streams[stream_id] = durable
        self.spawn(self._finish(durable, turn), f"aibind-starlette finish {stream_id}")
        return durable

    async def _finish(self, durable: DurableStream, turn: Turn | None) -> None:
        try:
            status = await durable.wait()
        finally:
            self._streams.pop(durable.id, None)
        if turn is None or status.state not in ("done", "stopped"):
            return
        answer = await stream_text(durable.store, durable.id)
        await save_turn(turn, answer, stopped=status.state == "stopped", locks=self.locks)

    async def stop(self, stream_id: str) -> StreamStatus | None:
        """Stop a generation running here; ``None`` if none runs under that id.

        Raises:
            as :meth:`DurableStream.stop`.
        """
        durable = self._streams.get(stream_id)
        return None if durable is None else await durable.stop()

    async def stop_all(self) -> None:
        """Stop every generation running here (each records ``stopped``, in parallel); store
        errors are logged, not raised."""
        streams = list(self._streams.values())
        outcomes = await asyncio.gather(*(s.stop() for s in streams), return_exceptions=True)
        for durable, outcome in zip(streams, outcomes, strict=True):
            if isinstance(outcome, Exception):
                logger.error("could not stop stream %r", durable.id, exc_info=outcome)

    async def drain(self) -> None:
        """Wait for every background task (turns being saved) to end."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
