"""Cross-process wake-ups for SQLite followers: one cheap ``PRAGMA data_version`` per
``poll_interval`` per store (while it has followers), instead of one query per follower.

``data_version`` changes when *another* connection commits to the file (another process, or
another connection of this process). On a change the poller wakes every follower on the file's
notifier; each re-reads its stream and finds what it missed. Writes through the same connection
are already pushed by the store itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from aibind.core.notify import Notifier
from aibind.sqlite.client import Row, column

__all__ = ["DataVersionPoller"]

Execute = Callable[[str], Awaitable[Sequence[Row]]]


class DataVersionPoller:
    """Runs while :attr:`followers` > 0; started by :meth:`ensure_running` before a follower's
    first read, so a commit after that read is always seen as a change.

    Args:
        execute: runs one statement on the store's client.
        notifier: the file's notifier to wake.
        interval: seconds between two checks.
    """

    def __init__(self, execute: Execute, notifier: Notifier, interval: float) -> None:
        self._execute = execute
        self._notifier = notifier
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.followers = 0
        self.supported = True

    async def _version(self) -> object:
        rows = await self._execute("PRAGMA data_version")
        return column(rows[0], 0, "data_version") if rows else None

    async def ensure_running(self) -> bool:
        """Start the poller if it is not running (reading the baseline version first).

        Returns:
            ``False`` if the client cannot answer ``PRAGMA data_version``: the follower must
            then poll by re-reading its stream.
        """
        if not self.supported:
            return False
        if self._task is not None:
            return True
        try:
            baseline = await self._version()
        except Exception:
            self.supported = False
            return False
        if self._task is None and self.followers > 0:
            self._task = asyncio.get_running_loop().create_task(self._run(baseline))
        return True

    async def _run(self, last: object) -> None:
        try:
            while True:
                await asyncio.sleep(self._interval)
                if self.followers <= 0:
                    return
                try:
                    current = await self._version()
                except Exception:
                    self._notifier.notify_all()  # let followers re-read (and hit the error)
                    continue
                if current != last:
                    last = current
                    self._notifier.notify_all()
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def aclose(self) -> None:
        """Stop the poller task."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
