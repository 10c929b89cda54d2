"""The shared pub/sub subscriber of a :class:`~aibind.redis.streams.RedisStreamStore`.

One connection per store (per master node in cluster mode, where sharded channels live on the
node owning their slot), however many followers there are. The store's
:class:`~aibind.core.notify.Notifier` calls :meth:`Subscriber.subscribe` for a stream's first
follower and :meth:`Subscriber.unsubscribe` after its last; a message on a stream's channel wakes
its followers. ``subscribe`` returns only once the server confirmed the subscription, so a
follower that subscribes before reading misses nothing.

After a dropped connection the subscriber reconnects (backoff 0.05 s doubling to 1 s),
re-subscribes every channel and wakes each stream's followers once the server confirms, so they
re-read and pick up whatever was published while it was away.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aibind.core.notify import Notifier
from aibind.redis.client import RedisBackendError
from aibind.redis.resp import Endpoint, RespConnection, RespError

__all__ = ["Subscriber"]

CONFIRM_TIMEOUT = 10.0
"""Seconds to wait for the server to confirm a subscription."""

Route = Callable[[str], Awaitable[Endpoint]]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Link:
    """One subscriber connection to one server, with its own reconnect loop."""

    def __init__(self, owner: Subscriber, endpoint: Endpoint) -> None:
        self.owner = owner
        self.endpoint = endpoint
        self.channels: set[str] = set()
        self.pending: dict[str, asyncio.Future[None]] = {}
        self.resubscribing: set[str] = set()
        self.conn: RespConnection | None = None
        self.ready = asyncio.Event()
        self.lock = asyncio.Lock()
        self.closed = False
        self.task = asyncio.create_task(self._run(), name=f"aibind-redis-sub-{endpoint.port}")

    async def _run(self) -> None:
        backoff = 0.05
        reconnected = False
        while not self.closed:
            try:
                conn = await RespConnection.open(self.endpoint)
            except (OSError, asyncio.TimeoutError, RespError, ConnectionError):
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            backoff = 0.05
            try:
                if self.channels:
                    wanted = sorted(self.channels)
                    if reconnected:
                        self.resubscribing = set(wanted)
                    await conn.send(self.owner.sub_cmd, *wanted)
                self.conn = conn
                self.ready.set()
                while True:
                    self._handle(await conn.read())
            except (OSError, ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                self.ready.clear()
                self.conn = None
                conn.close()
            reconnected = True
            if self.resubscribing or self.channels:
                # Messages may have been lost while away: every follower re-reads.
                self.owner.notifier.notify_all()

    def _handle(self, msg: object) -> None:
        if isinstance(msg, RespError):
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(RedisBackendError(f"subscribe failed: {msg}"))
            self.pending.clear()
            return
        if not isinstance(msg, list) or len(msg) < 3:
            return
        kind, channel = _text(msg[0]), _text(msg[1])
        if kind in ("message", "smessage"):
            self.owner.wake(channel)
        elif kind in ("subscribe", "ssubscribe"):
            waiter = self.pending.pop(channel) if channel in self.pending else None
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            if channel in self.resubscribing:
                self.resubscribing.discard(channel)
                self.owner.wake(channel)
        elif kind == "sunsubscribe" and channel in self.channels:
            # The server dropped a sharded channel (its slot moved): route it again.
            self.channels.discard(channel)
            self.owner.moved(channel)

    async def subscribe(self, channel: str) -> None:
        loop = asyncio.get_running_loop()
        fut = self.pending.get(channel) or loop.create_future()
        self.pending[channel] = fut
        self.channels.add(channel)

        async def confirm() -> None:
            await self.ready.wait()
            async with self.lock:
                if self.conn is not None:
                    with contextlib.suppress(OSError, ConnectionError):
                        await self.conn.send(self.owner.sub_cmd, channel)
            await asyncio.shield(fut)

        try:
            await asyncio.wait_for(confirm(), CONFIRM_TIMEOUT)
        except (asyncio.TimeoutError, TimeoutError) as exc:
            self.channels.discard(channel)
            self.pending.pop(channel, None)
            raise RedisBackendError(
                f"the server did not confirm the subscription to {channel!r} "
                f"within {CONFIRM_TIMEOUT:g} s"
            ) from exc

    async def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)
        self.resubscribing.discard(channel)
        async with self.lock:
            if self.conn is not None:
                with contextlib.suppress(OSError, ConnectionError):
                    await self.conn.send(self.owner.unsub_cmd, channel)

    async def close(self) -> None:
        self.closed = True
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        for fut in self.pending.values():
            if not fut.done():
                fut.cancel()


class Subscriber:
    """Pub/sub wake-ups for one store.

    Args:
        route: ``await route(channel)`` gives the :class:`Endpoint` serving ``channel``.
        notifier: the store's notifier; messages wake its followers.
        sharded: use ``SSUBSCRIBE``/``SUNSUBSCRIBE`` (Redis 7+ sharded pub/sub, cluster mode).
    """

    def __init__(self, route: Route, notifier: Notifier, *, sharded: bool = False) -> None:
        self._route = route
        self.notifier = notifier
        self.sub_cmd = "SSUBSCRIBE" if sharded else "SUBSCRIBE"
        self.unsub_cmd = "SUNSUBSCRIBE" if sharded else "UNSUBSCRIBE"
        self._links: dict[Endpoint, _Link] = {}
        self._where: dict[str, _Link] = {}
        self._streams: dict[str, str] = {}
        self._closed = False

    def connections(self) -> int:
        """How many server connections the subscriber holds (one per server used)."""
        return len(self._links)

    def wake(self, channel: str) -> None:
        """Wake the followers of the stream published on ``channel``."""
        stream_id = self._streams.get(channel)
        if stream_id is not None:
            self.notifier.notify(stream_id)

    def moved(self, channel: str) -> None:
        """Re-route ``channel`` after the server dropped it; wakes its followers."""
        stream_id = self._streams.get(channel)
        self._where.pop(channel, None)
        if stream_id is not None:
            self.notifier.notify(stream_id)
            task = asyncio.ensure_future(self.subscribe(stream_id, channel))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def subscribe(self, stream_id: str, channel: str) -> None:
        """Subscribe to ``channel`` (the channel of ``stream_id``); returns once the server has
        confirmed. Raises :class:`RedisBackendError` on failure or after
        :data:`CONFIRM_TIMEOUT` seconds, and ``StoreClosedError`` once closed."""
        if self._closed:
            from aibind.core.errors import StoreClosedError

            raise StoreClosedError("the store's subscriber is closed")
        try:
            endpoint = await self._route(channel)
        except Exception as exc:
            raise RedisBackendError(f"cannot find the server for {channel!r}: {exc}") from exc
        link = self._links.get(endpoint)
        if link is None:
            link = self._links[endpoint] = _Link(self, endpoint)
        self._streams[channel] = stream_id
        self._where[channel] = link
        await link.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        """Stop listening on ``channel`` (no confirmation awaited)."""
        self._streams.pop(channel, None)
        link = self._where.pop(channel, None)
        if link is not None:
            await link.unsubscribe(channel)

    async def close(self) -> None:
        """Close every connection; idempotent."""
        self._closed = True
        links, self._links = list(self._links.values()), {}
        for link in links:
            await link.close()
