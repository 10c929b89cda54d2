"""The shared pub/sub subscriber of a :class:`~aibind.redis.RedisStreamStore`.

It talks to Redis only through the driver's own ``PubSub`` objects
(:mod:`aibind.redis._pubsub_route`): one per store (one per master node in cluster mode, where
sharded channels live on the node owning their slot), however many followers there are. The
store's :class:`~aibind.core.notify.Notifier` calls :meth:`Subscriber.subscribe` for a
stream's first follower and :meth:`Subscriber.unsubscribe` after its last; a message on a
stream's channel wakes its followers. ``subscribe`` returns only once the server confirmed the
subscription, so a follower that reads again after subscribing misses nothing. A ``subscribe`` that
is cancelled (the follower's client went away) or fails leaves the channel unsubscribed.

When the connection drops and the driver cannot restore it by itself, the subscriber closes the
``PubSub``, waits (backoff 0.05 s doubling to 1 s), re-subscribes every channel on a fresh
connection and, once the server confirms, wakes every follower so they re-read and pick up
whatever was published while it was away. A re-subscription the driver makes on its own (its
reconnect retries) is noticed by its unrequested confirmation and wakes that stream's followers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from aibind.core.errors import BackendTimeoutError, StoreClosedError
from aibind.core.kit import as_text
from aibind.core.notify import Notifier
from aibind.redis._errors import driver_types, translate
from aibind.redis._pubsub_route import Route, Server

__all__ = ["CONFIRM_TIMEOUT", "Subscriber"]

CONFIRM_TIMEOUT = 10.0
"""Seconds to wait for the server to confirm a subscription."""

SUBSCRIBE_BATCH = 1000
"""Most channels one ``SUBSCRIBE`` command names."""


def _text(value: Any) -> str:
    return as_text(value, "pub/sub message") if value is not None else ""


def _seq(data: Any) -> int | None:
    """The seq of a write's message ``seq`` (an append whose chunk is too long to carry, or a
    create: ``0``), or ``None``."""
    if isinstance(data, (bytes, bytearray, str)) and data.isdigit() and len(data) < 20:
        return int(data)
    return None


def _hint(data: Any) -> tuple[int, str] | None:
    """``(seq, chunk)`` of an append's message ``seq \\x1f chunk``, or ``None``."""
    if isinstance(data, (bytes, bytearray)):
        head, sep, rest = bytes(data).partition(b"\x1f")
        if not sep or not head.isdigit():
            return None
        try:
            return int(head), rest.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if isinstance(data, str):
        head_s, sep_s, rest_s = data.partition("\x1f")
        if sep_s and head_s.isdigit():
            return int(head_s), rest_s
    return None


class _Link:
    """One driver ``PubSub`` (one connection to one server), read by its own task."""

    def __init__(self, owner: Subscriber, server: Server) -> None:
        self.owner = owner
        self.pubsub, self.close_own = server.open()
        self.channels: set[str] = set()
        self.sent: set[str] = set()  # channels subscribed on the current connection
        self.leaving: set[str] = set()  # unsubscribed, confirmation not read yet
        self.pending: dict[str, asyncio.Future[None]] = {}
        self.outbox: set[str] = set()  # channels waiting to be sent in the next SUBSCRIBE
        self.flusher: asyncio.Task[None] | None = None  # sends the outbox
        self.wanted = asyncio.Event()
        self.ready = asyncio.Event()
        self.lock = asyncio.Lock()
        self.resync = False
        self.closed = False
        self.cleanups: set[asyncio.Task[None]] = set()
        self.task = asyncio.create_task(self._run(), name=f"aibind-redis-sub-{server.name}")

    async def _send(self, *channels: str) -> None:
        verb = "ssubscribe" if self.owner.sharded else "subscribe"
        await getattr(self.pubsub, verb)(*channels)
        self.sent.update(channels)

    async def _connect(self) -> bool:
        """(Re)subscribe every wanted channel on a fresh connection; ``False`` if none."""
        async with self.lock:
            wanted = sorted(self.channels)
            if not wanted:
                self.wanted.clear()
                return False
            self.sent.clear()
            self.leaving.clear()
            await self._send(*wanted)
            self.ready.set()
            return True

    async def _run(self) -> None:
        backoff = 0.05
        reconnected = False
        error_reply = driver_types("ResponseError")
        while not self.closed:
            await self.wanted.wait()
            try:
                if not await self._connect():
                    continue
                self.resync = reconnected
                backoff = 0.05
                while True:
                    try:
                        msg = await self.pubsub.get_message(timeout=None)
                    except error_reply as exc:
                        self._fail_pending(exc)
                        continue
                    if msg is not None:
                        self._handle(msg)
            except asyncio.CancelledError:
                raise
            except Exception:  # connection lost for good: start over on a new connection
                pass
            self.ready.clear()
            with contextlib.suppress(Exception):
                await self.pubsub.aclose()
            reconnected = True
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    def _fail_pending(self, exc: BaseException) -> None:
        for fut in self.pending.values():
            if not fut.done():
                error = translate(exc, "SUBSCRIBE")
                error.__cause__ = exc
                fut.set_exception(error)
        self.pending.clear()

    def _handle(self, msg: dict[str, Any]) -> None:
        kind, channel = _text(msg.get("type")), _text(msg.get("channel"))
        if kind in ("message", "smessage"):
            self.owner.wake(channel, msg.get("data"))
        elif kind in ("subscribe", "ssubscribe"):
            waiter = self.pending.pop(channel, None)
            if waiter is not None:
                if not waiter.done():
                    waiter.set_result(None)
            elif self.resync:
                # Our own reconnect: every channel is back, every follower re-reads.
                self.resync = False
                self.owner.notifier.notify_all()
            else:
                # Re-subscribed by the driver's reconnect: messages may have been missed.
                self.owner.wake(channel)
        elif kind in ("unsubscribe", "sunsubscribe") and channel in self.leaving:
            self.leaving.discard(channel)
        elif kind == "sunsubscribe" and channel in self.channels:
            # The server dropped a sharded channel (its slot moved): route it again.
            self.channels.discard(channel)
            self.sent.discard(channel)
            self.owner.moved(channel)

    def subscribe_soon(self, channel: str) -> asyncio.Future[None]:
        """Subscribe ``channel``: the future is done once the server confirmed (or failed
        with :class:`~aibind.core.errors.BackendTimeoutError` after :data:`CONFIRM_TIMEOUT`
        seconds, or with the server's error). Channels asked for together go out in one
        ``SUBSCRIBE`` per :data:`SUBSCRIBE_BATCH` (10,000 followers starting together: a few
        commands and one task, not 10,000 of each). If the future fails or is cancelled, the
        channel is left unsubscribed, whatever the server already received."""
        loop = asyncio.get_running_loop()
        fut = self.pending.get(channel)
        if (fut is None or fut.done()) and channel in self.sent and self.ready.is_set():
            # Still subscribed on this connection (a follower came back before its last
            # predecessor's unsubscribe ran; that one now keeps the channel).
            self.channels.add(channel)
            fut = loop.create_future()
            fut.set_result(None)
            return fut
        if fut is None or fut.done():
            fut = loop.create_future()
            fut.add_done_callback(lambda done: self._settled(channel, done))
            self.pending[channel] = fut
        self.channels.add(channel)
        self.wanted.set()
        self.outbox.add(channel)
        if self.flusher is None:
            self.flusher = loop.create_task(self._flush())
        return fut

    def _settled(self, channel: str, fut: asyncio.Future[None]) -> None:
        current = self.pending.get(channel)
        if current is fut:
            del self.pending[channel]
        elif current is not None:
            return  # a newer subscription of the channel is under way
        if fut.cancelled() or fut.exception() is not None:
            self.channels.discard(channel)
            self.outbox.discard(channel)
            self._leave_later(channel)
            self.owner.forget(channel, self)

    async def _flush(self) -> None:
        """Send every channel waiting in the outbox once the connection is up (the reader
        sends them itself when it connects), and time out those left unconfirmed."""
        loop = asyncio.get_running_loop()
        try:
            if not self.ready.is_set():
                try:
                    await asyncio.wait_for(self.ready.wait(), CONFIRM_TIMEOUT)
                except (asyncio.TimeoutError, TimeoutError):
                    self._time_out(list(self.outbox))
                    return
            async with self.lock:
                self.flusher = None  # channels asked for from now on go in the next batch
                waiting = list(self.outbox)
                self.outbox.clear()
                batch = [c for c in waiting if c in self.channels and c not in self.sent]
                if self.ready.is_set() and batch:
                    # A lost connection is the reader's business: it re-subscribes everything.
                    with contextlib.suppress(Exception):
                        for start in range(0, len(batch), SUBSCRIBE_BATCH):
                            await self._send(*batch[start : start + SUBSCRIBE_BATCH])
            loop.call_later(CONFIRM_TIMEOUT, self._time_out, waiting)
        finally:
            if self.flusher is asyncio.current_task():
                self.flusher = None

    def _time_out(self, channels: list[str]) -> None:
        for channel in channels:
            fut = self.pending.get(channel)
            if fut is not None and not fut.done():
                fut.set_exception(
                    BackendTimeoutError(
                        f"SUBSCRIBE {channel!r}: the server did not confirm within "
                        f"{CONFIRM_TIMEOUT:g} s"
                    )
                )

    async def subscribe(self, channel: str) -> None:
        """:meth:`subscribe_soon`, awaited (cancelling the caller cancels it)."""
        await self.subscribe_soon(channel)

    def _leave_later(self, channel: str) -> None:
        if self.closed:
            return
        task = asyncio.get_running_loop().create_task(self.unsubscribe(channel))
        self.cleanups.add(task)
        task.add_done_callback(self.cleanups.discard)

    async def unsubscribe(self, channel: str) -> None:
        """Unsubscribe ``channel`` unless it is wanted again meanwhile (no confirmation
        awaited; errors are the reader's business)."""
        self.channels.discard(channel)
        verb = "sunsubscribe" if self.owner.sharded else "unsubscribe"
        async with self.lock:
            if channel in self.channels or self.closed:
                return  # a new follower wants it again
            if self.ready.is_set() and channel in self.sent:
                self.sent.discard(channel)
                self.leaving.add(channel)
                with contextlib.suppress(Exception):
                    await getattr(self.pubsub, verb)(channel)

    async def close(self) -> None:
        self.closed = True
        tasks = [self.task, *self.cleanups]
        if self.flusher is not None:
            tasks.append(self.flusher)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()
        await self.close_own()
        for fut in list(self.pending.values()):
            if not fut.done():
                fut.cancel()


class Subscriber:
    """Pub/sub wake-ups for one store.

    Args:
        route: ``await route(channel)`` gives the :class:`~aibind.redis._pubsub_route.Server`
            whose driver ``PubSub`` carries ``channel``.
        notifier: the store's notifier; messages wake its followers.
        sharded: use ``SSUBSCRIBE``/``SUNSUBSCRIBE`` (Redis 7+ sharded pub/sub, cluster mode).
        announce: ``announce(stream_id, seq, chunk)`` for a message that carries the chunk of
            a one-chunk append, before its followers are woken.
        pushed: ``pushed(stream_id, seq)`` for a message that carries the stream's new count
            (an append's or a create's), before its followers are woken.
    """

    def __init__(
        self,
        route: Route,
        notifier: Notifier,
        *,
        sharded: bool = False,
        announce: Callable[[str, int, str], None] | None = None,
        pushed: Callable[[str, int], None] | None = None,
    ) -> None:
        self._route = route
        self._fixed: Server | None = getattr(route, "server", None)  # standalone: one server
        self.notifier = notifier
        self._announce = announce
        self._pushed = pushed
        self.sharded = sharded
        self._links: dict[str, _Link] = {}
        self._where: dict[str, _Link] = {}
        self._streams: dict[str, str] = {}
        self._moves: set[asyncio.Task[None]] = set()
        self._closed = False

    def connections(self) -> int:
        """How many pub/sub connections the subscriber holds (one per server used)."""
        return len(self._links)

    def channels(self) -> int:
        """How many channels are subscribed or being subscribed."""
        return sum(len(link.channels) for link in self._links.values())

    def wake(self, channel: str, data: Any = None) -> None:
        """Wake the followers of the stream published on ``channel``; a message ``seq \\x1f
        chunk`` (a one-chunk append) hands them the chunk first (``announce``), and one that
        carries a seq tells ``pushed`` the stream's count (its followers are woken for it)."""
        stream_id = self._streams.get(channel)
        if stream_id is None:
            return
        if data:
            hint = _hint(data)
            if hint is not None:
                if self._announce is not None:
                    self._announce(stream_id, *hint)
                seq: int | None = hint[0]
            else:
                seq = _seq(data)
            if seq is not None and self._pushed is not None:
                self._pushed(stream_id, seq)
        self.notifier.notify(stream_id)

    def moved(self, channel: str) -> None:
        """Re-route ``channel`` after the server dropped it; wakes its followers."""
        stream_id = self._streams.get(channel)
        self._where.pop(channel, None)
        if stream_id is not None and not self._closed:
            self.notifier.notify(stream_id)
            task = asyncio.get_running_loop().create_task(self._resubscribe(stream_id, channel))
            self._moves.add(task)
            task.add_done_callback(self._moves.discard)

    async def _resubscribe(self, stream_id: str, channel: str) -> None:
        with contextlib.suppress(Exception):
            await self.subscribe(stream_id, channel)

    def subscribe_soon(self, stream_id: str, channel: str) -> asyncio.Future[None]:
        """:meth:`subscribe` as a future of its own (never cancelled by anyone awaiting it):
        on a standalone client it joins the next batched ``SUBSCRIBE`` without a task of its
        own; elsewhere (a cluster, whose node must be found first) it runs in a task."""
        server = self._fixed
        if server is None or self._closed:
            return asyncio.ensure_future(self.subscribe(stream_id, channel))
        link = self._links.get(server.name)
        if link is None:
            link = self._links[server.name] = _Link(self, server)
        self._streams[channel] = stream_id
        self._where[channel] = link
        return link.subscribe_soon(channel)

    def forget(self, channel: str, link: _Link) -> None:
        """``channel``'s subscription on ``link`` failed or was given up: stop routing its
        messages unless it is wanted there again."""
        if channel not in link.channels and self._where.get(channel) is link:
            self._streams.pop(channel, None)
            self._where.pop(channel, None)

    async def subscribe(self, stream_id: str, channel: str) -> None:
        """Subscribe to ``channel`` (the channel of ``stream_id``); returns once the server has
        confirmed. If cancelled or failed, the channel is left unsubscribed.

        Raises:
            BackendError: the server refused, or did not confirm within
                :data:`CONFIRM_TIMEOUT` seconds, or its node could not be found.
            StoreClosedError: the subscriber is closed.
        """
        if self._closed:
            raise StoreClosedError("the store's subscriber is closed")
        try:
            server = await self._route(channel)
        except Exception as exc:
            raise translate(exc, f"finding the server of {channel!r}") from exc
        link = self._links.get(server.name)
        if link is None:
            link = self._links[server.name] = _Link(self, server)
        self._streams[channel] = stream_id
        self._where[channel] = link
        try:
            await link.subscribe(channel)
        except BaseException:
            if channel not in link.channels:
                self._streams.pop(channel, None)
                self._where.pop(channel, None)
            raise

    async def unsubscribe(self, channel: str) -> None:
        """Stop listening on ``channel`` (no confirmation awaited); a no-op once closed."""
        if self._closed:
            return
        self._streams.pop(channel, None)
        link = self._where.pop(channel, None)
        if link is not None:
            await link.unsubscribe(channel)

    async def close(self) -> None:
        """Close every ``PubSub`` (and the clients opened for them); idempotent."""
        self._closed = True
        for task in list(self._moves):
            task.cancel()
        for task in list(self._moves):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        links, self._links = list(self._links.values()), {}
        for link in links:
            await link.close()
