"""``RedisStreamStore``: durable streams in Redis, readable and writable by ``@aibind/redis``.

Every write is one Lua script (:mod:`aibind.redis._scripts`): atomic, one round trip, sent
exactly once, and it publishes a wake-up on the stream's channel. Followers listen through one
shared driver ``PubSub`` connection per store (per master node in cluster mode;
:mod:`aibind.redis._subscriber`); behind it one sweep per store reads the status keys of every
followed stream each ``poll_interval`` (:mod:`aibind.redis._probe`), for writers that do not
publish (the npm package). Every public method comes from :class:`aibind.core.kit.StreamStoreBase`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from aibind.core.errors import CorruptDataError, StreamNotActiveError, StreamNotFoundError
from aibind.core.jsjson import dumps as js_dumps
from aibind.core.kit import (
    ClientOpener,
    Coalescer,
    Outcome,
    Parser,
    StreamStoreBase,
    Sweeper,
    as_text,
    keep_cancellation,
    parse_float,
    parse_optional_float,
    parse_str,
)
from aibind.core.notify import Notifier
from aibind.core.types import StreamChunk, StreamState, StreamStatus
from aibind.redis import _scripts as scripts
from aibind.redis._codec import parse_chunks, parse_status
from aibind.redis._connect import REDIS_CLIENT
from aibind.redis._errors import translate
from aibind.redis._keys import StreamKeys, check_prefix, check_redis_ttl, ttl_args
from aibind.redis._lane import WriteLane
from aibind.redis._once import (
    is_cluster_client,
    prepare_cluster,
)
from aibind.redis._probe import StatusProbe
from aibind.redis._pubsub_route import pubsub_route
from aibind.redis._reads import Read, can_read_raw, read_group
from aibind.redis._subscriber import Subscriber
from aibind.redis.client import RedisClient

__all__ = ["RedisStreamStore"]

T = TypeVar("T")

_HEADS_KEPT = 4096
"""Streams whose packed ``EVALSHA`` head a store keeps for single appends (then it starts
over; a head is about 200 bytes)."""

_ACTIVE = b'{"state":"active","totalChunks":%d}'
"""The status value of an active stream holding ``%d`` chunks, as our scripts write it."""


async def _outcome(call: Awaitable[T]) -> Outcome:
    try:
        return await call, None
    except Exception as exc:
        return None, exc


def _checked(check: Callable[[str, Any], int], stream_id: str, reply: Any) -> Outcome:
    try:
        return check(stream_id, reply), None
    except Exception as exc:
        return None, exc


class RedisStreamStore(StreamStoreBase):
    """A :class:`~aibind.core.protocols.StreamStore` on Redis (or Valkey), with the optional
    ``append_many`` and ``delete``. Key schema of the npm ``@aibind/redis`` package.

    Open it on your client, or with :meth:`from_url` (``redis://``, ``rediss://``,
    ``unix://``; query options ``prefix``, ``ttl``, ``poll_interval``, ``cluster``,
    ``max_connections``, ``pool_timeout`` and redis-py's own), which opens a client on a
    bounded blocking pool that the store closes in :meth:`aclose`.

    Args:
        client: an asyncio client (``redis.asyncio.Redis``, ``RedisCluster``,
            ``valkey.asyncio.Valkey``, Upstash, or anything satisfying
            :class:`~aibind.redis.RedisClient`). Never closed by the store.
        prefix: key prefix (default ``"aibind:stream"``, as npm).
        ttl: seconds a stream's keys live after their last write (default 300, as npm), at
            most :data:`~aibind.redis._keys.MAX_TTL`; whole seconds are written with ``EX``,
            fractions with ``PX`` in milliseconds. Followers of a stream idle this long end
            with ``StreamExpiredError``.
        poll_interval: seconds between the store's sweeps (default 0.05, the npm
            ``pollIntervalMs: 50``): the status keys of every followed stream, in pipelined
            ``MGET`` slices of 500 keys (a pipeline of ``GET`` commands per slice in cluster mode;
            :mod:`aibind.redis._probe`), waking the followers of a stream written by a process
            that does not publish. A client without ``mget`` makes each follower
            poll at this interval instead. ``None`` turns the sweep off (push only; refused for
            a client without pub/sub).
        cluster: put each stream's keys in one hash slot (``{prefix}:{{id}}:status``) and use
            sharded pub/sub (``SPUBLISH``/``SSUBSCRIBE``, Redis 7+). ``None`` (default): on
            for a cluster client, off otherwise.

    Raises:
        TypeError, ValueError: a malformed option; ``cluster=False`` with a cluster client;
            ``poll_interval=None`` with a client that has no pub/sub.
    """

    _client_opener: ClassVar[ClientOpener] = REDIS_CLIENT
    _url_options: ClassVar[Mapping[str, Parser]] = {
        "prefix": parse_str,
        "ttl": parse_float,
        "poll_interval": parse_optional_float,
    }

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "aibind:stream",
        ttl: float = 300.0,
        poll_interval: float | None = 0.05,
        cluster: bool | None = None,
    ) -> None:
        ttl = check_redis_ttl(ttl)
        cluster_client = is_cluster_client(client)
        if cluster is None:
            cluster = cluster_client
        elif not isinstance(cluster, bool):
            raise TypeError(f"cluster must be a bool or None, not {type(cluster).__name__}")
        elif cluster_client and not cluster:
            raise ValueError("a Redis Cluster client needs cluster=True (or None)")
        self.prefix = check_prefix(prefix, cluster=cluster)
        self.cluster = cluster
        super().__init__(
            ttl=ttl,
            poll_interval=poll_interval,
            notifier=Notifier(on_first=self._on_first, on_last=self._on_last),
        )
        self._client: Any = client
        self._keys = StreamKeys(self.prefix, cluster)
        self._ttl_args = ttl_args(self.ttl)
        self._publish = "SPUBLISH" if cluster else "PUBLISH"
        route = pubsub_route(client, sharded=cluster)
        if route is None and self.poll_interval is None:
            raise ValueError(
                "poll_interval=None needs a client with pub/sub (this one has none; "
                "cluster mode needs redis-py>=8 for asyncio sharded pub/sub)"
            )
        self._subscriber = (
            Subscriber(
                route,
                self._notifier,
                sharded=cluster,
                announce=self._announced,
                pushed=self._pushed,
            )
            if route
            else None
        )
        # Reads as MULTI/EXEC where the client is a standalone redis-py / valkey client (its
        # transactions are real ones); the READ script elsewhere (cluster, HTTP clients).
        self._multi = not cluster and can_read_raw(client)
        # Concurrent reads as one MULTI/EXEC, concurrent single appends as one pipeline
        # (standalone clients that send exactly once).
        self._reads: Coalescer[Read, list[Any]] | None = None
        if self._multi:
            self._reads = Coalescer(self._read_multi, self._read_group, limit=200)
        # ... on a connection of their own (the coalescer has one call in flight at a time).
        self._appends: Coalescer[tuple[str, str], int] | None = None
        self._lane: WriteLane | None = None
        self._heads: dict[str, bytes] = {}
        if not cluster and WriteLane.usable(client):
            self._appends = Coalescer(self._append_one, self._append_group)
            self._lane = WriteLane(client)
        # The sweep (one per store), made here with a probe that reads the status values in
        # slices (:mod:`aibind.redis._probe`); read_from starts it with the first follower.
        self._status_probe = StatusProbe(client, self._keys, cluster)
        if self.poll_interval is not None and self._can_sweep():
            self._sweeper = Sweeper(
                self._notifier,
                self._status_probe,
                self._following.keys,
                self.poll_interval,
                None,
                self._markers.get,
                reads_recorded=True,  # every fetch records its marker (StreamStoreBase)
            )

    @property
    def push(self) -> bool:
        """``True`` if followers are woken through pub/sub (else only by the sweep/polling)."""
        return self._subscriber is not None

    @property
    def client(self) -> RedisClient:
        """The client the store sends its commands through."""
        return self._client  # type: ignore[no-any-return]

    # ---- lifecycle -----------------------------------------------------------------------

    async def _open(self) -> None:
        await prepare_cluster(self._client)

    def _announced(self, stream_id: str, seq: int, chunk: str) -> None:
        self._announce(stream_id, (StreamChunk(seq, chunk),))

    async def _close(self) -> None:
        if self._appends is not None:
            await self._appends.aclose()
        if self._lane is not None:
            await self._lane.aclose()
        if self._reads is not None:
            await self._reads.aclose()
        await super()._close()
        if self._subscriber is not None:
            await self._subscriber.close()

    def _translate(self, exc: Exception) -> Any:
        return translate(exc)

    async def _call(self, awaitable: Awaitable[T]) -> T:
        return await keep_cancellation(super()._call(awaitable))

    def _on_first(self, stream_id: str) -> Awaitable[None]:
        # A future completed by the subscriber (no task per follower: 10,000 followers
        # starting together are subscribed in a few batched commands).
        if self._subscriber is None:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        self._check_open()
        return self._subscriber.subscribe_soon(stream_id, self._keys.channel(stream_id))

    async def _on_last(self, stream_id: str) -> None:
        if self._notifier.subscriber_count(stream_id):
            # Followed again since its last follower left: the new one's _on_first (which
            # runs at once, unlike this task) wants the channel kept.
            return
        self._status_probe.forget(stream_id)
        if self._subscriber is not None:
            await self._subscriber.unsubscribe(self._keys.channel(stream_id))

    # ---- storage hooks -------------------------------------------------------------------

    async def _script(
        self,
        script: scripts.Script,
        verb: str,
        stream_id: str,
        *args: Any,
        lane: WriteLane | None = None,
    ) -> Any:
        keys = [self._keys.status(stream_id), self._keys.chunks(stream_id)]
        unit, amount = self._ttl_args
        argv = [unit, amount, self._keys.channel(stream_id), self._publish, *args]
        try:
            return await script.run(self._client, keys, argv, lane)
        except Exception as exc:
            raise translate(exc, f"{verb} {stream_id!r}") from exc

    def _check_code(self, stream_id: str, reply: Any) -> int:
        code = int(reply[0])
        if code == -1:
            raise StreamNotFoundError(stream_id)
        if code == -2:
            raise StreamNotActiveError(stream_id, as_text(reply[1], "state"))
        if code == -3:
            raise CorruptDataError(f"{self._keys.status(stream_id)}: corrupt stream status")
        if code == -4:
            raise CorruptDataError(
                f"stream {stream_id!r}: {self._keys.chunks(stream_id)} holds {int(reply[2])} "
                f"chunks but its status counts totalChunks={int(reply[1])} (the list was "
                "evicted or deleted); nothing is renumbered"
            )
        return code

    async def _create(self, stream_id: str) -> bool:
        return bool(int(await self._script(scripts.CREATE, "create", stream_id)))

    async def _append(self, stream_id: str, chunks: list[str]) -> int:
        if len(chunks) == 1 and self._appends is not None:
            return await self._appends((stream_id, chunks[0]))
        return await self._append_now(stream_id, chunks)

    async def _append_now(
        self, stream_id: str, chunks: list[str], lane: WriteLane | None = None
    ) -> int:
        reply = await self._script(scripts.APPEND, "append to", stream_id, *chunks, lane=lane)
        return self._check_code(stream_id, reply)

    async def _append_one(self, item: tuple[str, str]) -> int:
        """One append on the store's lane: its ``EVALSHA`` is the stream's kept head
        (:meth:`_head`) and the chunk; a ``NOSCRIPT`` reply (the script did not run) sends it
        again through :meth:`Script.run` (which falls back to ``EVAL``)."""
        stream_id, chunk = item
        lane = self._lane
        assert lane is not None  # made with the coalescer
        try:
            reply = await lane.send(self._head(lane, stream_id) + lane.tail(chunk), "EVALSHA")
        except Exception as exc:
            if scripts.is_noscript(exc):
                return await self._append_now(stream_id, [chunk], lane)
            raise translate(exc, f"append to {stream_id!r}") from exc
        return self._check_code(stream_id, reply)

    async def _append_group(self, items: list[tuple[str, str]]) -> list[Outcome]:
        """Appends that arrived while another was in flight, as one pipeline of ``EVALSHA``
        on the store's lane (each still its own atomic script, sent exactly once). One
        refused with ``NOSCRIPT`` (the server lost its script cache) did not run and runs
        again alone, loading the script."""
        lane = self._lane
        assert lane is not None  # made with the coalescer
        head, tail = self._head, lane.tail
        packed = b"".join([head(lane, sid) + tail(chunk) for sid, chunk in items])
        names = ["EVALSHA"] * len(items)
        replies = await keep_cancellation(lane.send_many(packed, names))
        outcomes: list[Outcome] = []
        for (sid, chunk), (reply, error) in zip(items, replies, strict=True):
            if error is not None and scripts.is_noscript(error):
                outcomes.append(await _outcome(self._append_now(sid, [chunk], lane)))
            elif error is not None:
                failure = translate(error, f"append to {sid!r}")
                failure.__cause__ = error
                outcomes.append((None, failure))
            else:
                outcomes.append(_checked(self._check_code, sid, reply))
        return outcomes

    def _head(self, lane: WriteLane, stream_id: str) -> bytes:
        """The packed ``EVALSHA`` of the append script for ``stream_id`` up to the chunk (the
        same nine arguments every time), kept for the last :data:`_HEADS_KEPT` streams."""
        head = self._heads.get(stream_id)
        if head is None:
            unit, amount = self._ttl_args
            keys = (self._keys.status(stream_id), self._keys.chunks(stream_id))
            argv = (unit, amount, self._keys.channel(stream_id), self._publish)
            head = lane.head(("EVALSHA", scripts.APPEND.sha, 2, *keys, *argv))
            if len(self._heads) >= _HEADS_KEPT:
                self._heads.clear()
            self._heads[stream_id] = head
        return head

    async def _get_status(self, stream_id: str) -> StreamStatus | None:
        key = self._keys.status(stream_id)
        try:
            raw = await self._client.get(key)
        except Exception as exc:
            raise translate(exc, f"GET {key!r}") from exc
        return None if raw is None else parse_status(raw, key)

    async def _finish(self, stream_id: str, state: StreamState, error: str | None) -> None:
        err = js_dumps(error) if error is not None else ""
        reply = await self._script(scripts.FINISH, f"mark {state}", stream_id, state, err)
        self._check_code(stream_id, reply)

    async def _fetch(
        self, stream_id: str, after: int, limit: int
    ) -> tuple[StreamStatus | None, Sequence[StreamChunk]]:
        keys = [self._keys.status(stream_id), self._keys.chunks(stream_id)]
        try:
            if self._reads is not None:
                reply = await self._reads((keys, after, limit))
            else:
                reply = await scripts.READ.run(self._client, keys, [after, limit])
        except Exception as exc:
            raise translate(exc, f"read {stream_id!r}") from exc
        if not reply or reply[0] is None:
            return None, []
        status = parse_status(reply[0], keys[0])
        length = int(reply[2]) if len(reply) > 2 else None
        if length is not None and length < status.total_chunks:
            raise CorruptDataError(
                f"stream {stream_id!r}: {keys[1]} holds {length} chunks but its status counts "
                f"totalChunks={status.total_chunks} (the list was evicted or deleted)"
            )
        return status, parse_chunks(reply[1] if len(reply) > 1 else [], after, keys[1])

    async def _read_multi(self, item: Read) -> list[Any]:
        """``GET`` status, ``LRANGE`` the page and ``LLEN`` in one ``MULTI``/``EXEC`` (one
        round trip, one atomic snapshot, like the ``READ`` script, without copying every
        chunk through Lua: 500 chunks of 64 KB read in a quarter of the time)."""
        reply, error = (await self._read_group([item]))[0]
        if error is not None:
            raise error
        return reply  # type: ignore[no-any-return]

    async def _read_group(self, items: list[Read]) -> list[Outcome]:
        """The reads of several followers (10,000 starting together, or woken together) in
        one ``MULTI``/``EXEC``: one round trip, one snapshot of them all
        (:mod:`aibind.redis._reads`)."""
        return await read_group(self._client, items)

    async def _delete(self, stream_id: str) -> None:
        await self._script(scripts.DELETE, "delete", stream_id)

    def _can_sweep(self) -> bool:
        return callable(getattr(self._client, "mget", None)) or (
            self.cluster and callable(getattr(self._client, "pipeline", None))
        )

    def _marker(self, status: StreamStatus) -> Hashable:
        # The status value as our scripts (and npm's JSON.stringify) write it, as the sweep's
        # probe reports it: a stream whose stored value is spelled otherwise is woken once.
        if status.state == "active":
            return _ACTIVE % status.total_chunks
        body = f'{{"state":"{status.state}","totalChunks":{status.total_chunks}'
        if status.state == "error" and status.error is not None:
            body += f',"error":{js_dumps(status.error)}'
        return (body + "}").encode()

    def _pushed(self, stream_id: str, total: int) -> None:
        """A message of one of our writes said the stream is active with ``total`` chunks:
        its followers are being woken for that state, so the sweep need not wake them again
        for it (the status value our scripts write with it is exactly :data:`_ACTIVE`)."""
        sweeper = self._sweeper
        if sweeper is not None:
            sweeper.saw(stream_id, _ACTIVE % total)
