"""``SqliteStreamStore``: durable streams in a SQLite file (or any :class:`SqliteClient`), in the
tables of the npm ``@aibind/sqlite`` package, with atomic appends and push wake-ups."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from itertools import islice
from typing import Any

from aibind.core.errors import (
    CorruptDataError,
    StreamExistsError,
    StreamNotActiveError,
    StreamNotFoundError,
)
from aibind.core.follow import follow_pages
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
from aibind.sqlite._base import LazyFileClient, OpenedStore, SqliteStoreBase, now_ms, ttl_ms
from aibind.sqlite._chunks import chunks_from_rows
from aibind.sqlite._poller import DataVersionPoller
from aibind.sqlite._stream_sql import StreamSql
from aibind.sqlite.client import Row, column
from aibind.sqlite.notifiers import database_key, notifier_for
from aibind.sqlite.schema import DEFAULT_CHUNKS_TABLE, DEFAULT_STATUS_TABLE, stream_statements

__all__ = ["SqliteStreamStore"]

PAGE = 2000
"""Chunks read per round trip by a follower."""

_STATES = TERMINAL_STATES | {"active"}


class SqliteStreamStore(SqliteStoreBase):
    """A :class:`~aibind.core.protocols.StreamStore` on SQLite (npm ``SqliteStreamStore``).

    Every state change is one transaction (``batch()``: ``BEGIN IMMEDIATE`` on a file), so any
    number of appenders, in any number of store instances, connections and processes on one
    file, get seqs exactly 1..N. Every write restarts the stream's TTL (``expires_at``, epoch
    milliseconds, as npm writes it); an expired stream reads as absent and ``create()`` over it
    starts afresh. Followers in this process are woken by a per-file notifier after each write;
    writes of other processes are noticed by a ``PRAGMA data_version`` check every
    ``poll_interval`` seconds. Tables are never created implicitly: call :meth:`setup`.

    Args:
        client: a :class:`~aibind.sqlite.client.SqliteClient`, or an aiosqlite / sqlite3 /
            libsql connection (wrapped; never closed by the store).
        chunks_table: chunks table name (a plain identifier; quoted in SQL).
        status_table: status table name.
        ttl: seconds a stream lives after its last write, and the longest a follower waits on
            an active stream with no new chunk (default 300, the npm default).
        poll_interval: seconds between cross-process checks (default 0.05, the npm default of
            50 ms); ``None`` disables polling (only in-process pushes wake followers).

    Raises:
        TypeError, ValueError: a bad option (the message names it) or client.
    """

    def __init__(
        self,
        client: object,
        *,
        chunks_table: str = DEFAULT_CHUNKS_TABLE,
        status_table: str = DEFAULT_STATUS_TABLE,
        ttl: float = 300.0,
        poll_interval: float | None = 0.05,
    ) -> None:
        self._ddl = stream_statements(chunks_table, status_table)
        self.chunks_table = chunks_table
        self.status_table = status_table
        self.ttl = check_ttl(ttl)
        self.poll_interval = check_interval(poll_interval)
        self._sql = StreamSql.render(chunks_table, status_table)
        self._tables = (chunks_table, status_table)
        self._notifier: Notifier | None = None
        self._poller: DataVersionPoller | None = None
        super().__init__(client)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        busy_timeout: float = 5.0,
        chunks_table: str = DEFAULT_CHUNKS_TABLE,
        status_table: str = DEFAULT_STATUS_TABLE,
        ttl: float = 300.0,
        poll_interval: float | None = 0.05,
    ) -> OpenedStore[SqliteStreamStore]:
        """Open a store on the file a ``sqlite:`` URL names (see :mod:`aibind.sqlite.url`)::

            async with SqliteStreamStore.from_url("sqlite:///app.db") as store:
                await store.setup()

        The file is opened with aiosqlite on entry (WAL, ``synchronous=NORMAL``,
        ``busy_timeout``) and closed on exit. Other options as the constructor.

        Raises:
            TypeError, ValueError: malformed URL or option (at once, before opening anything).
        """
        lazy = LazyFileClient(url, check_ttl(busy_timeout, "busy_timeout"))
        store = cls(
            lazy,
            chunks_table=chunks_table,
            status_table=status_table,
            ttl=ttl,
            poll_interval=poll_interval,
        )
        return OpenedStore(store, lazy)

    async def _wake(self, stream_id: str) -> None:
        (self._notifier or await self._resolve_notifier()).notify(stream_id)

    async def _resolve_notifier(self) -> Notifier:
        if self._notifier is None:
            self._check_open()
            self._notifier = notifier_for(await database_key(self.client))
        return self._notifier

    async def setup(self) -> None:
        """Create the chunks and status tables if they do not exist (idempotent); never run
        implicitly. The DDL is ``aibind schema sqlite`` with this store's names."""
        await self._batch([(sql, ()) for sql in self._ddl])

    async def create(self, stream_id: str) -> None:
        """Create an empty active stream; an expired stream with this id (and its chunks) is
        replaced. Race-free: of concurrent creators exactly one succeeds.

        Raises:
            StreamExistsError: a live stream (any state) has this id.
            SchemaError: the tables are missing.
        """
        check_id(stream_id)
        now = now_ms()
        sql = self._sql
        results = await self._batch(
            [
                (sql.clear_dead_chunks, (stream_id, stream_id, now)),
                (sql.drop_expired, (stream_id, now)),
                (sql.insert_status, (stream_id, now + ttl_ms(self.ttl))),
            ]
        )
        if not results[2]:
            raise StreamExistsError(stream_id)
        await self._wake(stream_id)

    def _refuse(self, stream_id: str, probe: Sequence[Row]) -> Exception:
        if not probe or not column(probe[0], 1, "live"):
            return StreamNotFoundError(stream_id)
        return StreamNotActiveError(stream_id, str(column(probe[0], 0, "state")))

    async def append(self, stream_id: str, chunk: str) -> int:
        """Append ``chunk`` in one transaction and return its 1-based seq; restarts the TTL.

        Raises:
            StreamNotFoundError: no live stream with this id.
            StreamNotActiveError: the stream is done, stopped or failed.
        """
        check_id(stream_id)
        check_chunk(chunk)
        return await self._append(stream_id, self._sql.append_one, chunk, 1)

    async def append_many(self, stream_id: str, chunks: Sequence[str]) -> int:
        """Append ``chunks`` in order in one transaction and return the last seq (for an empty
        sequence: the current ``total_chunks``). Raises as :meth:`append`."""
        check_id(stream_id)
        items = check_chunks(chunks)
        if not items:
            probe = await self._execute(self._sql.probe, (now_ms(), stream_id))
            if probe and column(probe[0], 1, "live") and column(probe[0], 0, "state") == "active":
                return int(column(probe[0], 2, "total_chunks"))
            raise self._refuse(stream_id, probe)
        payload = json.dumps(items, ensure_ascii=False)
        return await self._append(stream_id, self._sql.append_json, payload, len(items))

    async def _append(self, stream_id: str, insert: str, value: str, count: int) -> int:
        now = now_ms()
        sql = self._sql
        expires_at = now + ttl_ms(self.ttl)
        results = await self._batch(
            [(insert, (value, stream_id, now)), (sql.bump, (count, expires_at, stream_id, now))]
        )
        if not results[1]:
            # Not appended (no live active stream): say why from one snapshot, in a transaction
            # that appends after all if the stream became appendable in between.
            results = await self._batch(
                [
                    (insert, (value, stream_id, now)),
                    (sql.bump, (count, expires_at, stream_id, now)),
                    (sql.probe, (now, stream_id)),
                ]
            )
            if not results[1]:
                raise self._refuse(stream_id, results[2])
        await self._wake(stream_id)
        return int(column(results[1][0], 0, "total_chunks"))

    async def get_status(self, stream_id: str) -> StreamStatus | None:
        """Return the stream's status, or ``None`` if it does not exist or has expired."""
        check_id(stream_id)
        rows = await self._execute(self._sql.status, (stream_id, now_ms()))
        return _status(stream_id, rows[0]) if rows else None

    async def _finish(self, stream_id: str, state: StreamState, error: str | None) -> None:
        now = now_ms()
        sql = self._sql
        results = await self._batch(
            [
                (sql.finish, (state, error, now + ttl_ms(self.ttl), stream_id, now)),
                (sql.probe, (now, stream_id)),
            ]
        )
        probe = results[1]
        if not probe or not column(probe[0], 1, "live"):
            raise StreamNotFoundError(stream_id)
        await self._wake(stream_id)

    async def stop(self, stream_id: str) -> None:
        """Mark an active stream ``stopped``; a no-op if it is already terminal.
        Raises :class:`StreamNotFoundError` for an unknown or expired stream."""
        await self._finish(check_id(stream_id), "stopped", None)

    async def complete(self, stream_id: str) -> None:
        """Mark an active stream ``done``; a no-op if it is already terminal.
        Raises :class:`StreamNotFoundError` for an unknown or expired stream."""
        await self._finish(check_id(stream_id), "done", None)

    async def fail(self, stream_id: str, error: str) -> None:
        """Mark an active stream ``error`` with message ``error``; a no-op if already terminal.
        Raises :class:`StreamNotFoundError` for an unknown or expired stream."""
        await self._finish(check_id(stream_id), "error", check_error_message(error))

    async def delete(self, stream_id: str) -> None:
        """Delete the stream and its chunks in one transaction; a no-op if absent. Its followers
        end with :class:`~aibind.core.errors.StreamExpiredError`."""
        check_id(stream_id)
        sql = self._sql
        await self._batch([(sql.delete_chunks, (stream_id,)), (sql.delete_status, (stream_id,))])
        await self._wake(stream_id)

    async def cleanup(self) -> int:
        """Delete every expired stream (any state: writes refresh the TTL, so an expired active
        stream was abandoned) with its chunks, in one transaction.

        Returns:
            how many streams were removed.
        """
        now = now_ms()
        sql = self._sql
        results = await self._batch([(sql.cleanup_chunks, (now,)), (sql.cleanup_status, (now,))])
        removed = [str(column(row, 0, "id")) for row in results[1]]
        if removed:
            notifier = self._notifier or await self._resolve_notifier()
            for stream_id in removed:
                notifier.notify(stream_id)
        return len(removed)

    async def read_from(self, stream_id: str, after_seq: int = 0) -> AsyncIterator[StreamChunk]:
        """Yield chunks with ``seq > after_seq`` (replay in pages of :data:`PAGE`, one query
        each), then follow live until the stream is terminal and drained.

        Raises:
            StreamNotFoundError: no live stream with this id.
            StreamExpiredError: the stream stayed active with no new chunk for ``ttl`` seconds,
                or it expired / was deleted while followed.
            SchemaError: the tables are missing.
        """
        check_id(stream_id)
        check_after_seq(after_seq)
        notifier = await self._resolve_notifier()
        poller = self._get_poller(notifier)
        async with await notifier.subscribe(stream_id) as sub:
            interval = None
            if poller is not None:
                poller.followers += 1
            try:
                if poller is not None and not await poller.ensure_running():
                    interval = self.poll_interval
                async for page in follow_pages(
                    stream_id,
                    after_seq,
                    fetch=lambda after: self._fetch(stream_id, after),
                    wait=sub.wait,
                    ttl=self.ttl,
                    poll_interval=interval,
                ):
                    for chunk in page:
                        yield chunk
            finally:
                if poller is not None:
                    poller.followers -= 1

    def _get_poller(self, notifier: Notifier) -> DataVersionPoller | None:
        if self.poll_interval is None:
            return None
        if self._poller is None:

            async def execute(sql: str) -> Sequence[Row]:
                return await self._execute(sql)

            self._poller = DataVersionPoller(execute, notifier, self.poll_interval)
        return self._poller

    async def _fetch(
        self, stream_id: str, after: int
    ) -> tuple[StreamStatus | None, list[StreamChunk]]:
        rows = await self._execute(
            self._sql.fetch, (stream_id, now_ms(), stream_id, after, PAGE + 1)
        )
        if not rows:
            return None, []
        if isinstance(rows[0], Mapping):  # e.g. D1: rows keyed by the first SELECT's names
            rows = [_pair(row) for row in rows]
        head = rows[0]
        if head[0] is not None:  # no status row: absent or expired
            return None, []
        try:
            state, error, total_chunks = json.loads(head[1])
        except (TypeError, ValueError) as exc:
            raise CorruptDataError(f"stream {stream_id!r} has an unreadable status") from exc
        status = _make_status(stream_id, state, error, total_chunks)
        return status, chunks_from_rows(islice(rows, 1, None))

    async def aclose(self) -> None:
        """Stop the poller and release what the store opened (see the class docs); a client
        passed in stays open. Idempotent."""
        if self._poller is not None:
            await self._poller.aclose()
        await super().aclose()


def _status(stream_id: str, row: Row) -> StreamStatus:
    return _make_status(
        stream_id, column(row, 0, "state"), column(row, 1, "error"), column(row, 2, "total_chunks")
    )


def _pair(row: Mapping[str, Any]) -> tuple[Any, Any]:
    seq, data = row["seq"], row["data"]
    return (None, data) if seq is None else (int(seq), str(data))


def _make_status(stream_id: str, state: Any, error: Any, total_chunks: Any) -> StreamStatus:
    if state not in _STATES:
        raise CorruptDataError(f"stream {stream_id!r} has an unknown state {state!r}")
    return StreamStatus(state, int(total_chunks), None if error is None else str(error))
