"""The store's one ``LISTEN`` connection, fanned out to any number of followers.

DESIGN.md "Push, not poll": every write statement ends with ``pg_notify(channel, stream_id)``;
each store keeps ONE dedicated autocommit connection listening on its channel (however many
followers it has) and wakes the followers of the named stream through an
:class:`~aibind.core.notify.Notifier`.

If that connection drops (server restart, ``pg_terminate_backend``, a network cut), the
listener reconnects with exponential backoff and, once ``LISTEN`` is active again, wakes every
follower (:meth:`Notifier.notify_all`): each re-reads from the last seq it yielded, so chunks
appended while nobody listened are delivered, none twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aibind.core.errors import AibindError
from aibind.core.notify import Notifier
from aibind.postgres.client import ListenHandle, SupportsListen

__all__ = ["Listener", "ListenerError"]

_log = logging.getLogger("aibind.postgres")


class ListenerError(AibindError):
    """The store could not open its ``LISTEN`` connection (the driver error is chained)."""


class Listener:
    """Keeps one ``LISTEN`` on ``channel`` alive while the store is open.

    Args:
        client: opens the dedicated connection (:class:`SupportsListen`).
        channel: the notification channel (the store derives it from its status table).
        notifier: where payloads (stream ids) are delivered.
        min_delay: first reconnect delay in seconds (doubles up to ``max_delay``).
        max_delay: longest reconnect delay in seconds.
    """

    def __init__(
        self,
        client: SupportsListen,
        channel: str,
        notifier: Notifier,
        *,
        min_delay: float = 0.05,
        max_delay: float = 2.0,
    ) -> None:
        self.channel = channel
        self._client = client
        self._notifier = notifier
        self._min_delay = min_delay
        self._max_delay = max_delay
        self._task: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None
        self._handle: ListenHandle | None = None
        self._closed = False
        self.reconnects = 0
        """How many times the connection was re-established after a drop."""

    @property
    def backend_pid(self) -> int | None:
        """Server process id of the current LISTEN connection, ``None`` while disconnected."""
        return None if self._handle is None else self._handle.backend_pid

    @property
    def connected(self) -> bool:
        """``True`` while a LISTEN connection is active."""
        return self._handle is not None

    async def ensure_started(self, _stream_id: str = "") -> None:
        """Start listening if not yet started and wait until the first ``LISTEN`` is active
        (used as the notifier's ``on_first`` hook, so a follower subscribes before it reads).
        Once started, returns at once, even while reconnecting.

        Raises:
            ListenerError: the first connection attempt failed (a later call retries).
            StoreClosedError: never; a closed listener returns without starting.
        """
        if self._closed:
            return
        if self._task is None or self._task.done():
            self._first = asyncio.get_running_loop().create_future()
            self._task = asyncio.ensure_future(self._run(self._first))
        assert self._first is not None
        await asyncio.shield(self._first)

    async def _connect(self) -> ListenHandle:
        return await self._client.listen(self.channel, self._notifier.notify)

    async def _run(self, first: asyncio.Future[None]) -> None:
        try:
            handle = await self._connect()
        except Exception as exc:
            first.set_exception(ListenerError(f"cannot LISTEN on channel {self.channel!r}: {exc}"))
            first.exception()  # mark retrieved: the caller may be gone
            return
        first.set_result(None)
        delay = self._min_delay
        while True:
            self._handle = handle
            try:
                await handle.wait_closed()
            except Exception as exc:
                _log.warning("aibind.postgres: LISTEN connection lost (%s); reconnecting", exc)
            finally:
                self._handle = None
                with contextlib.suppress(Exception):
                    await handle.close()
            if self._closed:
                return
            while True:
                try:
                    handle = await self._connect()
                    break
                except Exception as exc:
                    _log.warning(
                        "aibind.postgres: LISTEN reconnect failed (%s); retrying in %.2fs",
                        exc,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._max_delay)
            delay = self._min_delay
            self.reconnects += 1
            # LISTEN is active again: every follower re-reads, so what was appended while
            # nobody listened is found now, and anything later is notified.
            self._notifier.notify_all()

    async def close(self) -> None:
        """Stop listening and close the connection. Idempotent."""
        self._closed = True
        task, self._task = self._task, None
        handle, self._handle = self._handle, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if handle is not None:
            with contextlib.suppress(Exception):
                await handle.close()
