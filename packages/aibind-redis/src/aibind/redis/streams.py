"""``RedisStreamStore``: durable streams in Redis, readable and writable by ``@aibind/redis``.

Every write is one Lua script (:mod:`aibind.redis.scripts`): atomic, one round trip, and it
publishes a wake-up on the stream's channel. Followers listen through one shared driver ``PubSub``
connection per store (:mod:`aibind.redis.subscriber`); clients without pub/sub are polled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aibind.core.errors import (
    AibindError,
    CorruptDataError,
    StoreClosedError,
    StreamExistsError,
    StreamNotActiveError,
    StreamNotFoundError,
)
from aibind.core.follow import follow
from aibind.core.jsjson import dumps as js_dumps
from aibind.core.notify import Notifier
from aibind.core.types import StreamChunk, StreamStatus
from aibind.core.validation import (
    check_after_seq,
    check_chunk,
    check_chunks,
    check_error_message,
    check_id,
    check_interval,
    check_ttl,
)
from aibind.redis import scripts
from aibind.redis.client import RedisBackendError, RedisClient
from aibind.redis.codec import is_connection_error, parse_status, text
from aibind.redis.connect import close_client, open_client
from aibind.redis.keys import StreamKeys, check_prefix, ttl_args
from aibind.redis.pubsub_route import pubsub_route
from aibind.redis.subscriber import Subscriber

__all__ = ["RedisStreamStore"]

PAGE = 1000
"""Chunks fetched per round trip while replaying."""

READ_RETRIES = 5
"""How often a follower retries a read after a lost connection (reads are idempotent)."""


class RedisStreamStore:
    """A :class:`~aibind.core.protocols.StreamStore` on Redis (or Valkey), with the optional
    ``append_many`` and ``delete``. Key schema of the npm ``@aibind/redis`` package.

    Args:
        client: an asyncio client (``redis.asyncio.Redis``, ``RedisCluster``,
            ``valkey.asyncio.Valkey``, Upstash, or anything satisfying
            :class:`~aibind.redis.client.RedisClient`). Never closed by the store.
        prefix: key prefix (default ``"aibind:stream"``, as npm).
        ttl: seconds a stream's keys live after their last write (default 300, as npm);
            whole seconds are written with ``EX``, fractions with ``PX`` in milliseconds.
            Followers of a stream idle this long end with ``StreamExpiredError``.
        poll_interval: seconds between polls for clients without pub/sub (default 0.05, the
            npm ``pollIntervalMs: 50``). With pub/sub, followers are woken by messages and do
            not poll. ``None`` never polls (refused for a client that cannot subscribe).
        cluster: put each stream's keys in one hash slot (``{prefix}:{{id}}:status``) and use
            sharded pub/sub (``SPUBLISH``/``SSUBSCRIBE``, Redis 7+) for Redis Cluster.

    Raises:
        TypeError, ValueError: a malformed option, or ``poll_interval=None`` with a client
            that has no pub/sub.
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "aibind:stream",
        ttl: float = 300.0,
        poll_interval: float | None = 0.05,
        cluster: bool = False,
    ) -> None:
        self.prefix = check_prefix(prefix, cluster=cluster)
        self.ttl = check_ttl(ttl)
        self.poll_interval = None if poll_interval is None else check_interval(poll_interval)
        self.cluster = bool(cluster)
        self._client = client
        self._keys = StreamKeys(self.prefix, self.cluster)
        self._ttl_args = ttl_args(self.ttl)
        self._publish = "SPUBLISH" if self.cluster else "PUBLISH"
        self._closed = False
        self._owned = False
        route = pubsub_route(client, sharded=self.cluster)
        if route is None and self.poll_interval is None:
            raise ValueError(
                "poll_interval=None needs a client with pub/sub (this one has none; "
                "cluster=True needs redis-py>=8 for asyncio sharded pub/sub)"
            )
        self._notifier = Notifier(on_first=self._on_first, on_last=self._on_last)
        self._subscriber = (
            Subscriber(route, self._notifier, sharded=self.cluster) if route else None
        )

    @property
    def push(self) -> bool:
        """``True`` if followers are woken through pub/sub, ``False`` if they poll."""
        return self._subscriber is not None

    @property
    def client(self) -> RedisClient:
        """The client the store sends its commands through."""
        return self._client

    @property
    def subscriber(self) -> Subscriber | None:
        """The shared pub/sub subscriber, or ``None`` when polling."""
        return self._subscriber

    async def _on_first(self, stream_id: str) -> None:
        if self._subscriber is not None:
            await self._subscriber.subscribe(stream_id, self._keys.channel(stream_id))

    async def _on_last(self, stream_id: str) -> None:
        if self._subscriber is not None:
            await self._subscriber.unsubscribe(self._keys.channel(stream_id))

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the RedisStreamStore is closed")

    async def _script(self, script: scripts.Script, stream_id: str, *args: Any) -> Any:
        self._check_open()
        keys = [self._keys.status(stream_id), self._keys.chunks(stream_id)]
        unit, amount = self._ttl_args
        argv = [unit, amount, self._keys.channel(stream_id), self._publish, *args]
        try:
            result = await script.run(self._client, keys, argv)
        except AibindError:
            raise
        except Exception as exc:
            raise RedisBackendError(f"Redis script failed for {stream_id!r}: {exc}") from exc
        self._notifier.notify(stream_id)
        return result

    def _check_code(self, stream_id: str, reply: Any) -> int:
        code = int(reply[0])
        if code == -1:
            raise StreamNotFoundError(stream_id)
        if code == -2:
            raise StreamNotActiveError(stream_id, text(reply[1]))
        if code == -3:
            raise CorruptDataError(f"{self._keys.status(stream_id)}: corrupt stream status")
        return code

    async def create(self, stream_id: str) -> None:
        """Create an empty active stream (``SET status ... EX ttl`` if absent, atomically).

        Raises:
            StreamExistsError: the id is taken (whatever its state).
            RedisBackendError: the command failed.
        """
        check_id(stream_id)
        if not await self._script(scripts.CREATE, stream_id):
            raise StreamExistsError(stream_id)

    async def append(self, stream_id: str, chunk: str) -> int:
        """Append one chunk and return its 1-based seq (``RPUSH``, ``totalChunks`` update, TTL
        refresh of both keys and a notification, in one script).

        Raises:
            StreamNotFoundError: no such stream (or it expired).
            StreamNotActiveError: the stream is already terminal.
            CorruptDataError: the stored status is not what this package writes.
            RedisBackendError: the server or the connection failed.
        """
        check_id(stream_id)
        check_chunk(chunk)
        return self._check_code(stream_id, await self._script(scripts.APPEND, stream_id, chunk))

    async def append_many(self, stream_id: str, chunks: Sequence[str]) -> int:
        """Append ``chunks`` in order in one script call; returns the last seq (the current
        ``total_chunks`` for an empty sequence). Raises as :meth:`append`."""
        check_id(stream_id)
        items = check_chunks(chunks)
        reply = await self._script(scripts.APPEND, stream_id, *items)
        return self._check_code(stream_id, reply)

    async def get_status(self, stream_id: str) -> StreamStatus | None:
        """The stream's status (``GET {prefix}:{id}:status``), or ``None`` if absent/expired.

        Raises:
            CorruptDataError: the stored status is not the npm JSON shape.
            RedisBackendError: the command failed.
        """
        check_id(stream_id)
        self._check_open()
        key = self._keys.status(stream_id)
        try:
            raw = await self._client.get(key)
        except Exception as exc:
            raise RedisBackendError(f"GET {key!r} failed: {exc}") from exc
        return None if raw is None else parse_status(raw, key)

    async def _finish(self, stream_id: str, state: str, error: str | None) -> None:
        err = js_dumps(error) if error is not None else ""
        self._check_code(stream_id, await self._script(scripts.FINISH, stream_id, state, err))

    async def stop(self, stream_id: str) -> None:
        """Mark an active stream ``stopped``; a no-op if terminal. Raises
        :class:`StreamNotFoundError` for an unknown stream."""
        await self._finish(check_id(stream_id), "stopped", None)

    async def complete(self, stream_id: str) -> None:
        """Mark an active stream ``done``; a no-op if terminal. Raises
        :class:`StreamNotFoundError` for an unknown stream."""
        await self._finish(check_id(stream_id), "done", None)

    async def fail(self, stream_id: str, error: str) -> None:
        """Mark an active stream ``error`` with message ``error`` (stored as the status's
        ``"error"`` field); a no-op if terminal. Raises :class:`StreamNotFoundError`."""
        check_id(stream_id)
        await self._finish(stream_id, "error", check_error_message(error))

    async def delete(self, stream_id: str) -> None:
        """Delete the stream's keys (``DEL``); a no-op if absent. Followers end with
        :class:`~aibind.core.errors.StreamExpiredError`."""
        check_id(stream_id)
        await self._script(scripts.DELETE, stream_id)

    async def _fetch(self, stream_id: str, after: int) -> tuple[StreamStatus | None, list[Any]]:
        self._check_open()
        keys = [self._keys.status(stream_id), self._keys.chunks(stream_id)]
        for attempt in range(READ_RETRIES + 1):
            try:
                reply = await scripts.READ.run(self._client, keys, [after, PAGE])
                break
            except Exception as exc:
                if attempt == READ_RETRIES or not is_connection_error(exc):
                    raise RedisBackendError(f"reading {stream_id!r} failed: {exc}") from exc
                await asyncio.sleep(0.05 * 2**attempt)
        if not reply or reply[0] is None:
            return None, []
        status = parse_status(reply[0], keys[0])
        data = reply[1] if len(reply) > 1 else []
        return status, [StreamChunk(after + i + 1, text(d)) for i, d in enumerate(data)]

    async def read_from(self, stream_id: str, after_seq: int = 0) -> AsyncIterator[StreamChunk]:
        """Yield chunks with ``seq > after_seq`` (pages of :data:`PAGE`, status and chunks read
        atomically by one script), then follow live until the stream is terminal.

        Raises:
            StreamNotFoundError: unknown stream.
            StreamExpiredError: no chunk for ``ttl`` seconds while active, or deleted/expired.
            RedisBackendError: the server stayed unreachable through :data:`READ_RETRIES`.
        """
        check_id(stream_id)
        check_after_seq(after_seq)
        self._keys.status(stream_id)  # cluster-mode id check before any I/O
        self._check_open()
        poll = None if self._subscriber is not None else self.poll_interval

        async def fetch(after: int) -> tuple[StreamStatus | None, list[StreamChunk]]:
            return await self._fetch(stream_id, after)

        async with await self._notifier.subscribe(stream_id) as sub:
            if self._subscriber is not None:  # a later follower: wait for the first's SUBSCRIBE
                await self._subscriber.confirmed(self._keys.channel(stream_id))
            async for chunk in follow(
                stream_id, after_seq, fetch=fetch, wait=sub.wait, ttl=self.ttl, poll_interval=poll
            ):
                yield chunk

    async def aclose(self) -> None:
        """Close the subscriber connection(s), and the client if the store opened it
        (:meth:`from_url`). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._subscriber is not None:
            await self._subscriber.close()
        if self._owned:
            await close_client(self._client)

    async def __aenter__(self) -> RedisStreamStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @classmethod
    @asynccontextmanager
    async def from_url(
        cls, url: str, *, cluster: bool = False, **options: Any
    ) -> AsyncIterator[RedisStreamStore]:
        """Open a client for ``url`` (``redis://``, ``rediss://``, ``unix://``; with
        ``cluster=True`` a ``RedisCluster``) and yield a store on it; both are closed on exit.

        Args:
            url: the server URL.
            cluster: as in the constructor.
            options: ``prefix``, ``ttl``, ``poll_interval``.
        """
        client = open_client(url, cluster=cluster)
        try:
            store = cls(client, cluster=cluster, **options)
        except BaseException:
            await close_client(client)
            raise
        store._owned = True
        try:
            yield store
        finally:
            await store.aclose()
