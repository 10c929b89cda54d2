"""``SqliteStreamStore``: durable streams in a SQLite file (or any :class:`SqliteClient`), in the
tables of the npm ``@aibind/sqlite`` package, with atomic appends and push wake-ups."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, ClassVar

from aibind.core.errors import (
    CorruptDataError,
    StreamNotActiveError,
    StreamNotFoundError,
)
from aibind.core.kit import (
    ClientOpener,
    Parser,
    StreamStoreBase,
    chunks_from_rows,
    make_status,
    now_ms,
    parse_float,
    parse_optional_float,
    parse_str,
    ttl_ms,
)
from aibind.core.types import StreamChunk, StreamState, StreamStatus
from aibind.sqlite._notifiers import database_key, database_path, notifier_for
from aibind.sqlite._protocol import Row, column
from aibind.sqlite._schema import DEFAULT_CHUNKS_TABLE, DEFAULT_STATUS_TABLE, stream_statements
from aibind.sqlite._store import SqliteStore
from aibind.sqlite._stream_sql import StreamSql
from aibind.sqlite._url import SQLITE_CLIENT
from aibind.sqlite._walwatch import watch_database

__all__ = ["SqliteStreamStore"]


class SqliteStreamStore(SqliteStore, StreamStoreBase):
    """A :class:`~aibind.core.protocols.StreamStore` on SQLite (npm ``SqliteStreamStore``), with
    ``append_many``, ``delete``, ``cleanup`` and ``setup``.

    Every state change is one transaction (``batch()``: ``BEGIN IMMEDIATE`` on a file), so any
    number of appenders, in any number of store instances, connections and processes on one
    file, get seqs exactly 1..N. Every write restarts the stream's ``expires_at`` (epoch
    milliseconds, as npm writes it); a stream past it stays readable until :meth:`cleanup`
    removes it (npm writes it once, at create, so a Node writer may still be appending).
    Followers in this process are woken after each write of any store on the same file; writes
    of other processes (and of the npm package) are found by the store's sweep: one ``PRAGMA
    data_version`` check (then one query of the followed streams' counters) per
    ``poll_interval``, and at once when inotify reports a write to the file or its WAL (Linux),
    so a follower in another process sees a chunk well within a millisecond or two. Tables are
    never created implicitly: call :meth:`setup`.

    Args:
        client: a :class:`~aibind.sqlite.SqliteClient`, or a sqlite3 / aiosqlite / libsql
            connection (wrapped; never closed by the store). ``from_url`` opens a file itself.
        chunks_table: chunks table name (a plain identifier; quoted in SQL).
        status_table: status table name.
        ttl: seconds a stream lives after its last write (``expires_at``, for ``cleanup()``),
            and the longest a follower waits on an active stream with no new chunk (default
            300, the npm default).
        poll_interval: seconds between the store's checks for other processes' writes (default
            0.05, the npm default); ``None`` turns them off (in-process pushes only).

    Raises:
        TypeError, ValueError: a bad option (the message names it) or client.
    """

    _client_opener: ClassVar[ClientOpener] = SQLITE_CLIENT
    _url_options: ClassVar[Mapping[str, Parser]] = {
        "chunks_table": parse_str,
        "status_table": parse_str,
        "ttl": parse_float,
        "poll_interval": parse_optional_float,
    }

    def __init__(
        self,
        client: object,
        *,
        chunks_table: str = DEFAULT_CHUNKS_TABLE,
        status_table: str = DEFAULT_STATUS_TABLE,
        ttl: float = 300.0,
        poll_interval: float | None = 0.05,
    ) -> None:
        super().__init__(ttl=ttl, poll_interval=poll_interval)
        self._ddl = stream_statements(chunks_table, status_table)
        self.chunks_table = chunks_table
        self.status_table = status_table
        self._sql = StreamSql.render(chunks_table, status_table)
        self._tables = (chunks_table, status_table)
        self._use_client(client)
        self._data_version: object = None
        self._probed: tuple[list[str], str] = ([], "[]")  # ids last probed, and their JSON
        self._path = ""

    async def _open(self) -> None:
        # One notifier per database file in this process, so every store on the file wakes
        # the followers of the others.
        self._path = await database_path(self._client)
        self._notifier = notifier_for(database_key(self._client, self._path))

    def _watch_changes(self, poke: Callable[[], None]) -> Callable[[], None] | None:
        # Other processes' commits, seen at once by inotify (Linux); else every poll_interval.
        return watch_database(self._path, poke)

    # ---- storage hooks (see aibind.core.kit.StreamStoreBase) --------------------------------

    async def _create(self, stream_id: str) -> bool:
        sql = self._sql
        results = await self._client.batch(
            [
                (sql.clear_orphans, (stream_id, stream_id)),
                (sql.insert_status, (stream_id, now_ms() + ttl_ms(self.ttl))),
            ]
        )
        return bool(results[1])

    async def _append(self, stream_id: str, chunks: list[str]) -> int:
        sql = self._sql
        if len(chunks) == 1:
            insert, value = sql.append_one, chunks[0]
        else:
            insert, value = sql.append_json, json.dumps(chunks, ensure_ascii=False)
        bump = (sql.bump, (len(chunks), now_ms() + ttl_ms(self.ttl), stream_id))
        results = await self._client.batch([(insert, (value, stream_id)), bump])
        if not results[1]:
            # Not appended (no active stream): say why from one snapshot, in a transaction
            # that appends after all if the stream became appendable in between.
            results = await self._client.batch(
                [(insert, (value, stream_id)), bump, (sql.probe, (stream_id,))]
            )
            if not results[1]:
                probe = results[2]
                if not probe:
                    raise StreamNotFoundError(stream_id)
                raise StreamNotActiveError(stream_id, str(column(probe[0], 0, "state")))
        return int(column(results[1][0], 0, "total_chunks"))

    async def _get_status(self, stream_id: str) -> StreamStatus | None:
        rows = await self._client.execute(self._sql.status, (stream_id,))
        if not rows:
            return None
        row = rows[0]
        return _status(
            stream_id,
            column(row, 0, "state"),
            column(row, 2, "total_chunks"),
            column(row, 1, "error"),
        )

    async def _finish(self, stream_id: str, state: StreamState, error: str | None) -> None:
        sql = self._sql
        results = await self._client.batch(
            [
                (sql.finish, (state, error, now_ms() + ttl_ms(self.ttl), stream_id)),
                (sql.probe, (stream_id,)),
            ]
        )
        if not results[1]:
            raise StreamNotFoundError(stream_id)

    async def _fetch(
        self, stream_id: str, after: int, limit: int
    ) -> tuple[StreamStatus | None, Sequence[StreamChunk]]:
        rows = await self._client.execute(self._sql.fetch, (stream_id, stream_id, after, limit + 1))
        if not rows:
            return None, []
        if isinstance(rows[0], Mapping):  # e.g. D1: rows keyed by the first SELECT's names
            rows = [_pair(row) for row in rows]
        head = rows[0]
        if head[0] is not None:  # no status row
            return None, []
        try:
            state, error, total_chunks = json.loads(head[1])
        except (TypeError, ValueError) as exc:
            raise CorruptDataError(f"stream {stream_id!r} has an unreadable status") from exc
        status = _status(stream_id, state, total_chunks, error)
        return status, chunks_from_rows(rows, 1)

    async def _delete(self, stream_id: str) -> None:
        sql = self._sql
        await self._client.batch(
            [(sql.delete_chunks, (stream_id,)), (sql.delete_status, (stream_id,))]
        )

    def _can_sweep(self) -> bool:
        return True

    def _marker(self, status: StreamStatus) -> Hashable:
        return (status.state, status.total_chunks)

    async def _probe(self, stream_ids: list[str]) -> list[Hashable | None] | None:
        # Cheap first: data_version moves only when another connection commits to the file.
        try:
            rows = await self._client.execute("PRAGMA data_version")
            version = column(rows[0], 0, "data_version") if rows else None
        except Exception:
            version = None  # a client without it (D1): always read the markers
        if version is not None and version == self._data_version:
            return None
        if stream_ids != self._probed[0]:  # the followed set rarely changes: its JSON is kept
            self._probed = (list(stream_ids), json.dumps(stream_ids))
        rows = await self._client.execute(self._sql.markers, (self._probed[1],))
        self._data_version = version
        return _markers(rows)

    async def _expired(self) -> list[str]:
        now = now_ms()
        sql = self._sql
        results = await self._client.batch(
            [(sql.cleanup_chunks, (now,)), (sql.cleanup_status, (now,))]
        )
        return [str(column(row, 0, "id")) for row in results[1]]

    async def cleanup(self) -> int:
        """Delete every stream past its ``expires_at`` (any state: our writes restart it, so
        such a stream was abandoned, or finished long ago) with its chunks, in one transaction,
        as npm's ``cleanup()`` does. Returns how many streams were removed."""
        return await self._run_cleanup(self._expired())


def _markers(rows: Sequence[Row]) -> list[Hashable | None]:
    """A probe's rows as markers, one per followed stream in order: ``(state, total_chunks)``
    (as :meth:`SqliteStreamStore._marker` makes them) or ``None`` for a stream not found (the
    ``LEFT JOIN`` gave NULLs). Tuple rows (stdlib sqlite3) are taken as they are: the sweep
    then compares them with what it keeps in one C-level list comparison."""
    if rows and type(rows[0]) is tuple:
        markers: list[Hashable | None] = list(rows)
    else:  # mapping rows (D1, a row factory)
        markers = [(column(r, 0, "state"), column(r, 1, "total_chunks")) for r in rows]
    if (None, None) in markers:
        markers = [None if marker == (None, None) else marker for marker in markers]
    return markers


def _pair(row: Mapping[str, Any]) -> tuple[Any, Any]:
    seq, data = row["seq"], row["data"]
    return (None, data) if seq is None else (int(seq), str(data))


def _status(stream_id: str, state: Any, total_chunks: Any, error: Any) -> StreamStatus:
    return make_status(f"stream {stream_id!r}", state, total_chunks, error)
