"""``PostgresStreamStore``: durable streams in PostgreSQL with LISTEN/NOTIFY push.

Behaviour follows the npm ``@aibind/postgres`` ``PostgresStreamStore`` (tables, ``$n`` SQL,
cleanup with ``= ANY($1::text[])``), plus what DESIGN.md asks beyond it: single-statement
atomic writes, expiry on read, idle-reader expiry, push delivery and clear errors.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aibind.core.errors import (
    CorruptDataError,
    StreamExistsError,
    StreamNotActiveError,
    StreamNotFoundError,
)
from aibind.core.follow import follow
from aibind.core.notify import Notifier
from aibind.core.types import TERMINAL_STATES, StreamChunk, StreamState, StreamStatus
from aibind.core.validation import (
    check_after_seq,
    check_chunk,
    check_chunks,
    check_error_message,
    check_id,
    check_interval,
    check_ttl,
)
from aibind.postgres.base import StoreBase
from aibind.postgres.client import Row, SupportsListen
from aibind.postgres.connect import PostgresPool
from aibind.postgres.idents import MAX_IDENTIFIER_BYTES, TableName, table_name
from aibind.postgres.listener import Listener
from aibind.postgres.schema import DEFAULT_CHUNKS_TABLE, DEFAULT_STATUS_TABLE, stream_ddl
from aibind.postgres.statements import StreamSQL

__all__ = ["PostgresStreamStore", "channel_for"]

PAGE_SIZE = 2000
"""Most chunks one read round trip returns (a replay of 10,000 chunks takes 5)."""


def channel_for(status: TableName) -> str:
    """The notification channel of the stores on ``status``: ``aibind:<table>``, or a hash of
    it when that would pass PostgreSQL's 63-byte identifier limit."""
    channel = f"aibind:{status.display}"
    if len(channel.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        channel = "aibind:" + hashlib.sha256(status.display.encode("utf-8")).hexdigest()[:40]
    return channel


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class PostgresStreamStore:
    """A :class:`~aibind.core.protocols.StreamStore` on two PostgreSQL tables, with
    ``append_many``, ``delete``, ``cleanup`` and ``setup``.

    Args:
        client: a :class:`~aibind.postgres.PostgresClient`, a psycopg ``AsyncConnection`` /
            ``AsyncConnectionPool`` or an asyncpg ``Connection`` / ``Pool`` (wrapped with
            :func:`wrap_psycopg` / :func:`wrap_asyncpg`). Never closed by the store.
        chunks_table: chunks table, ``"name"`` or ``"schema.name"`` or ``(schema, name)``;
            quoted as an identifier (case-sensitive). Default ``"aibind_stream_chunks"``.
        status_table: status table, same forms. Default ``"aibind_stream_status"``.
        ttl: seconds a stream lives after its last write (default 300, the seed's 300_000 ms);
            an active stream idle that long is abandoned: its followers end with
            :class:`~aibind.core.errors.StreamExpiredError` and it reads as absent.
        poll_interval: longest wait in seconds between a follower's reads (default 0.1, the
            seed's ``pollIntervalMs``). With a listening client it is only a safety net;
            ``None`` relies on LISTEN/NOTIFY alone (requires a listening client).

    Raises:
        TypeError, ValueError: a malformed option; ``poll_interval=None`` with a client that
            cannot LISTEN.
    """

    def __init__(
        self,
        client: object,
        *,
        chunks_table: str | tuple[str, str] = DEFAULT_CHUNKS_TABLE,
        status_table: str | tuple[str, str] = DEFAULT_STATUS_TABLE,
        ttl: float = 300.0,
        poll_interval: float | None = 0.1,
    ) -> None:
        self.chunks_table = table_name(chunks_table, "chunks_table")
        self.status_table = table_name(status_table, "status_table")
        self.ttl = check_ttl(ttl)
        self.poll_interval = check_interval(poll_interval)
        self._base = StoreBase(client, [self.chunks_table.display, self.status_table.display])
        self._ttl_ms = _ms(self.ttl)
        self._sql = StreamSQL.build(self.chunks_table, self.status_table)
        self.channel = channel_for(self.status_table)
        self.listener: Listener | None = None
        """The store's LISTEN connection manager (``None`` when the client cannot listen)."""
        if isinstance(self._base.client, SupportsListen):
            self._notifier = Notifier(on_first=self._ensure_listening)
            self.listener = Listener(self._base.client, self.channel, self._notifier)
        else:
            if self.poll_interval is None:
                raise ValueError(
                    "poll_interval=None needs a client that can LISTEN "
                    "(psycopg, asyncpg or a client with listen()); give a number of seconds"
                )
            self._notifier = Notifier()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        driver: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        listen_url: str | None = None,
        **options: Any,
    ) -> PostgresStreamStore:
        """A store on a pool it opens from ``url`` and closes in :meth:`aclose` (use
        ``async with PostgresStreamStore.from_url(url) as store:``). ``options`` are the
        constructor's; the rest are :func:`~aibind.postgres.from_url`'s.

        Raises:
            MissingDriverError: the driver is not installed (names the extra).
        """
        pool = PostgresPool(
            url, driver=driver, min_size=min_size, max_size=max_size, listen_url=listen_url
        )
        store = cls(pool, **options)
        store._base._owned = pool
        return store

    @property
    def client(self) -> Any:
        """The :class:`~aibind.postgres.PostgresClient` the store uses."""
        return self._base.client

    async def _ensure_listening(self, stream_id: str) -> None:
        if self.listener is not None:
            await self.listener.ensure_started(stream_id)

    def _local_wake(self, stream_id: str) -> None:
        # With a listener, the NOTIFY wakes followers; without one, wake local followers now.
        if self.listener is None:
            self._notifier.notify(stream_id)

    @staticmethod
    def _status(stream_id: str, row: Row) -> StreamStatus:
        state = row["state"]
        if state != "active" and state not in TERMINAL_STATES:
            raise CorruptDataError(f"stream {stream_id!r} has an unknown state {state!r}")
        return StreamStatus(state, int(row["total_chunks"]), row["error"])

    async def setup(self) -> None:
        """Create the two tables and the ``expires_at`` index if missing (the DDL of
        ``schema/postgres.sql`` with this store's names), in one transaction serialised
        against concurrent ``setup()`` calls. The schema of a qualified name must exist.

        Raises:
            SchemaError: the schema does not exist.
        """
        await self._base._setup(stream_ddl(self.chunks_table, self.status_table))

    async def create(self, stream_id: str) -> None:
        """Create an empty active stream in one statement (``INSERT ... ON CONFLICT``); an
        expired stream with the same id is replaced and its chunks removed.

        Raises:
            StreamExistsError: a live stream (any state) has this id.
            SchemaError: the tables are missing.
        """
        check_id(stream_id)
        rows = await self._base._q(self._sql.create, (stream_id, self._ttl_ms))
        if not rows:
            raise StreamExistsError(stream_id)
        self._local_wake(stream_id)

    async def _why_not_appended(self, stream_id: str) -> None:
        status = await self.get_status(stream_id)
        if status is None:
            raise StreamNotFoundError(stream_id)
        if status.state != "active":
            raise StreamNotActiveError(stream_id, status.state)

    async def append(self, stream_id: str, chunk: str) -> int:
        """Append ``chunk`` in one statement and return its 1-based seq; refreshes the TTL and
        notifies followers in the same transaction.

        Raises:
            StreamNotFoundError: unknown or expired stream.
            StreamNotActiveError: the stream is done, stopped or failed.
        """
        check_id(stream_id)
        check_chunk(chunk)
        for _ in range(3):
            rows = await self._base._q(
                self._sql.append, (stream_id, chunk, self._ttl_ms, self.channel)
            )
            if rows:
                self._local_wake(stream_id)
                return int(rows[0]["seq"])
            await self._why_not_appended(stream_id)  # raises unless it raced back to active
        raise StreamNotFoundError(stream_id)

    async def append_many(self, stream_id: str, chunks: Sequence[str]) -> int:
        """Append ``chunks`` in order in one statement and return the last seq (an empty
        sequence appends nothing and returns ``total_chunks``). Raises as :meth:`append`."""
        check_id(stream_id)
        items = check_chunks(chunks)
        if not items:
            await self._why_not_appended(stream_id)
            status = await self.get_status(stream_id)
            if status is None:
                raise StreamNotFoundError(stream_id)
            return status.total_chunks
        for _ in range(3):
            rows = await self._base._q(
                self._sql.append_many, (stream_id, items, self._ttl_ms, self.channel)
            )
            if rows:
                self._local_wake(stream_id)
                return int(rows[0]["seq"])
            await self._why_not_appended(stream_id)
        raise StreamNotFoundError(stream_id)

    async def get_status(self, stream_id: str) -> StreamStatus | None:
        """The stream's status, or ``None`` if it does not exist or has expired (even before
        :meth:`cleanup` removes it)."""
        check_id(stream_id)
        rows = await self._base._q(self._sql.status, (stream_id,))
        return self._status(stream_id, rows[0]) if rows else None

    async def _finish(self, stream_id: str, state: StreamState, error: str | None) -> None:
        rows = await self._base._q(
            self._sql.finish, (stream_id, state, error, self._ttl_ms, self.channel)
        )
        row = rows[0]
        if row["changed"]:
            self._local_wake(stream_id)
        elif row["state"] is None:
            raise StreamNotFoundError(stream_id)

    async def stop(self, stream_id: str) -> None:
        """Mark the stream ``stopped``; a no-op if already terminal.
        Raises :class:`StreamNotFoundError` for an unknown or expired stream."""
        await self._finish(check_id(stream_id), "stopped", None)

    async def complete(self, stream_id: str) -> None:
        """Mark the stream ``done``; a no-op if already terminal.
        Raises :class:`StreamNotFoundError` for an unknown or expired stream."""
        await self._finish(check_id(stream_id), "done", None)

    async def fail(self, stream_id: str, error: str) -> None:
        """Mark the stream ``error`` with the message ``error``; a no-op if already terminal.
        Raises :class:`StreamNotFoundError` for an unknown or expired stream."""
        await self._finish(check_id(stream_id), "error", check_error_message(error))

    async def delete(self, stream_id: str) -> None:
        """Remove the stream and its chunks in one statement; a no-op if absent. Its
        followers end with :class:`~aibind.core.errors.StreamExpiredError`."""
        check_id(stream_id)
        await self._base._q(self._sql.delete, (stream_id, self.channel))
        self._local_wake(stream_id)

    async def cleanup(self) -> int:
        """Remove expired streams (finished ones and abandoned active ones) and their chunks,
        in two statements however many expired (the seed's ``DELETE ... RETURNING id`` then
        ``= ANY($1::text[])``). Returns how many streams were removed."""
        rows = await self._base._q(self._sql.cleanup_status, (self.channel,))
        ids = [str(r["id"]) for r in rows]
        if ids:
            await self._base._q(self._sql.cleanup_chunks, (ids,))
            for stream_id in ids:
                self._local_wake(stream_id)
        return len(ids)

    async def read_from(self, stream_id: str, after_seq: int = 0) -> AsyncIterator[StreamChunk]:
        """Yield chunks with ``seq > after_seq``, then follow live until the stream is
        terminal. Status and a page of chunks come from one statement (one snapshot); the
        follower subscribes (LISTEN is active) before its first read.

        Raises:
            StreamNotFoundError: unknown or expired stream.
            StreamExpiredError: no chunk for ``ttl`` seconds while active, or the stream was
                deleted or cleaned up while followed.
        """
        check_id(stream_id)
        check_after_seq(after_seq)
        sql = self._sql.fetch

        async def fetch(after: int) -> tuple[StreamStatus | None, list[StreamChunk]]:
            rows = await self._base._q(sql, (stream_id, after, PAGE_SIZE))
            if not rows:
                return None, []
            chunks = [StreamChunk(r["seq"], r["data"]) for r in rows if r["seq"] is not None]
            return self._status(stream_id, rows[0]), chunks

        async with await self._notifier.subscribe(stream_id) as sub:
            async for chunk in follow(
                stream_id,
                after_seq,
                fetch=fetch,
                wait=sub.wait,
                ttl=self.ttl,
                poll_interval=self.poll_interval,
            ):
                yield chunk

    async def aclose(self) -> None:
        """Close the LISTEN connection, and the pool if opened by :meth:`from_url`; a client
        passed in stays open. Idempotent; later calls raise
        :class:`~aibind.core.errors.StoreClosedError`."""
        if self.listener is not None:
            await self.listener.close()
        await self._base.aclose()

    async def __aenter__(self) -> PostgresStreamStore:
        await self._base.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
