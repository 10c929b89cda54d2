"""``PostgresStreamStore``: durable streams in PostgreSQL with LISTEN/NOTIFY push.

The npm ``@aibind/postgres`` ``PostgresStreamStore`` (same tables, ``$n`` SQL, cleanup by
``expires_at``) on the backend kit (:class:`aibind.core.kit.StreamStoreBase`): every public
method, argument check and error rule comes from the kit; this module supplies the storage
hooks, the LISTEN connection and the sweep probe.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Hashable, Mapping, Sequence
from operator import attrgetter
from typing import Any, ClassVar, TypeVar

from aibind.core.errors import (
    AibindError,
    CorruptDataError,
    StreamNotActiveError,
    StreamNotFoundError,
)
from aibind.core.kit import (
    ClientOpener,
    Coalescer,
    Outcome,
    Parser,
    StreamStoreBase,
    as_text,
    chunks_from_rows,
    make_status,
    parse_float,
    parse_optional_float,
    parse_str,
    ttl_ms,
)
from aibind.core.notify import Notifier
from aibind.core.types import StreamChunk, StreamState, StreamStatus
from aibind.postgres._errors import sqlstate_of, translate
from aibind.postgres._idents import TableName, fit_identifier, table_name
from aibind.postgres._listener import Listener
from aibind.postgres._pool import POSTGRES_CLIENT
from aibind.postgres._schema import (
    DEFAULT_CHUNKS_TABLE,
    DEFAULT_STATUS_TABLE,
    setup_statement,
    stream_ddl,
)
from aibind.postgres._sql import StreamSQL
from aibind.postgres.client import SupportsListen, as_client

__all__ = ["PostgresStreamStore", "channel_for"]

T = TypeVar("T")

_DATA = attrgetter("data")


def _status_first(row: Sequence[Any]) -> bool:
    return row[0] is not None


async def _outcome(call: Awaitable[T]) -> Outcome:
    try:
        return await call, None
    except Exception as exc:
        return None, exc


def channel_for(status: TableName) -> str:
    """The notification channel of the stores on ``status``: ``aibind:<table>`` (shortened
    with a hash of the name when that would pass PostgreSQL's 63-byte identifier limit)."""
    return fit_identifier(status.display, "", prefix="aibind:")


class PostgresStreamStore(StreamStoreBase):
    """A :class:`~aibind.core.protocols.StreamStore` on two PostgreSQL tables, with
    ``append_many``, ``delete``, ``cleanup`` and ``setup``.

    Push: while the store has followers it keeps one dedicated connection (never a pool's)
    ``LISTEN``ing on its channel; each write ``pg_notify``s in the same statement. Behind it
    one sweep per store (one ``WHERE id = ANY($1)`` query per ``poll_interval``, however many
    followers) wakes followers of streams written by a process that does not notify (the npm
    package). A client without ``listen()`` relies on the sweep alone.

    Expiry: a stream's ``expires_at`` (epoch ms) moves forward with each write of ours, but a
    stream past it stays readable and appendable until :meth:`cleanup` removes it (the npm
    package writes ``expires_at`` only at create, while its writer may still be appending);
    ``create()`` of a taken id raises whatever the row's age.

    Args:
        client: a :class:`~aibind.postgres.PostgresClient`, a psycopg ``AsyncConnection`` /
            ``AsyncConnectionPool`` or an asyncpg ``Connection`` / ``Pool`` (wrapped with
            :func:`~aibind.postgres.wrap_psycopg` / :func:`~aibind.postgres.wrap_asyncpg`).
            Never closed by the store (``from_url`` gives the store a pool it owns).
        chunks_table: chunks table, ``"name"``, ``"schema.name"`` or ``(schema, name)``;
            quoted as an identifier (case-sensitive). Default ``"aibind_stream_chunks"``.
        status_table: status table, same forms; must differ from ``chunks_table``. Default
            ``"aibind_stream_status"``.
        ttl: seconds a stream lives after its last write (default 300, the seed's 300_000 ms)
            before ``cleanup()`` may remove it; also the longest a follower waits on an active
            stream with no new chunk before :class:`~aibind.core.errors.StreamExpiredError`.
        poll_interval: seconds between the store's sweeps (default 0.1, the seed's
            ``pollIntervalMs``); ``None``: no sweep, LISTEN/NOTIFY only (needs a listening
            client, and misses writers that do not notify).

    Raises:
        TypeError, ValueError: a malformed option, ``chunks_table == status_table``, or
            ``poll_interval=None`` with a client that cannot LISTEN.
    """

    _client_opener: ClassVar[ClientOpener] = POSTGRES_CLIENT
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
        chunks_table: str | tuple[str, str] = DEFAULT_CHUNKS_TABLE,
        status_table: str | tuple[str, str] = DEFAULT_STATUS_TABLE,
        ttl: float = 300.0,
        poll_interval: float | None = 0.1,
    ) -> None:
        self.chunks_table = table_name(chunks_table, "chunks_table")
        self.status_table = table_name(status_table, "status_table")
        if self.chunks_table == self.status_table:
            raise ValueError(
                "chunks_table and status_table must name two different tables, "
                f"both are {self.status_table.display!r}"
            )
        self.client: Any = as_client(client)
        # our adapters (and the from_url client) return the drivers' own rows
        self._driver_rows = bool(getattr(type(self.client), "_aibind_positional", False))
        listens = isinstance(self.client, SupportsListen)
        hook = self._listeners_changed
        notifier = Notifier(on_first=hook, on_last=hook) if listens else None
        super().__init__(ttl=ttl, poll_interval=poll_interval, notifier=notifier)
        if not listens and self.poll_interval is None:
            raise ValueError(
                "poll_interval=None needs a client that can LISTEN "
                "(psycopg, asyncpg or a client with listen()); give a number of seconds"
            )
        self.channel = channel_for(self.status_table)
        self._listener = (
            Listener(self.client, self.channel, self._notifier, on_payload=self._notified)
            if listens
            else None
        )
        self._sql = StreamSQL.build(self.chunks_table, self.status_table)
        self._ttl_ms = ttl_ms(self.ttl)
        self._appends: Coalescer[tuple[str, str], int] = Coalescer(
            self._append_one, self._append_group
        )
        self._tables = [self.chunks_table.display, self.status_table.display]

    # ---- kit hooks ---------------------------------------------------------------------

    async def _listeners_changed(self, _stream_id: str) -> None:
        if self._listener is not None:
            self._listener.kick()

    def _notified(self, payload: str) -> None:
        """A notification: a stream id, or ``id \x1f seq \x1f chunk`` from an append (the
        chunk is handed to the followers, who deliver it before their read confirms it)."""
        stream_id, sep, rest = payload.partition("\x1f")
        if sep:
            seq, _, chunk = rest.partition("\x1f")
            if seq.isdigit():
                self._announce(stream_id, (StreamChunk(int(seq), chunk),))
        self._notifier.notify(stream_id)

    def _translate(self, exc: Exception) -> AibindError:
        return translate(exc, self._tables)

    def _written(self, stream_id: str) -> None:
        # While LISTEN is active our own NOTIFY wakes this process's followers too.
        listener = self._listener
        if listener is None or not listener.active:
            self._notifier.notify(stream_id)

    async def _close(self) -> None:
        await self._appends.aclose()
        await super()._close()
        if self._listener is not None:
            await self._listener.close()

    def _status(self, stream_id: str, state: Any, total: Any, error: Any) -> StreamStatus:
        where = f"stream {stream_id!r} in {self.status_table.display}"
        if state is not None and type(state) is not str:
            state = as_text(state, where)
        if error is not None and type(error) is not str:
            error = as_text(error, where)
        return make_status(where, state, total, error)

    async def _create(self, stream_id: str) -> bool:
        return bool(await self.client.query(self._sql.create, (stream_id, self._ttl_ms)))

    async def _append(self, stream_id: str, chunks: list[str]) -> int:
        if len(chunks) == 1:  # concurrent single appends share statements (see _append_group)
            return await self._appends((stream_id, chunks[0]))
        return await self._append_rows(stream_id, chunks)

    async def _append_one(self, item: tuple[str, str]) -> int:
        return await self._append_rows(item[0], [item[1]])

    async def _append_group(self, items: list[tuple[str, str]]) -> list[Outcome]:
        """Appends that arrived while another was in flight, in ONE statement (one commit):
        each gets its seq from its stream's new count and its place among that stream's
        appends in the group. One whose stream did not take it (not found, not active) is run
        alone, which says why. If the statement fails on the server (rolled back), each runs
        alone; if it fails otherwise (it may have committed), each gets the error."""
        ids = [sid for sid, _ in items]
        texts = [chunk for _, chunk in items]
        params = (ids, texts, self._ttl_ms, self.channel)
        try:
            rows = await self.client.query(self._sql.append_group, params)
        except Exception as exc:
            if sqlstate_of(exc) is None:
                return [(None, exc)] * len(items)
            return [await _outcome(self._append_one(item)) for item in items]
        appended = {row[0]: (int(row[1]), int(row[2])) for row in rows}
        taken: dict[str, int] = {}
        outcomes: list[Outcome] = []
        for sid, chunk in items:
            found = appended.get(sid)
            if found is None:
                outcomes.append(await _outcome(self._append_one((sid, chunk))))
                continue
            total, count = found
            taken[sid] = place = taken.get(sid, 0) + 1
            outcomes.append((total - count + place, None))
        return outcomes

    async def _append_rows(self, stream_id: str, chunks: list[str]) -> int:
        one = len(chunks) == 1
        sql = self._sql.append if one else self._sql.append_many
        params = (stream_id, chunks[0] if one else chunks, self._ttl_ms, self.channel)
        for _ in range(3):
            try:
                rows = await self.client.query(sql, params)
            except Exception as exc:
                if sqlstate_of(exc) == "23505":  # unique_violation on (id, seq)
                    raise CorruptDataError(
                        f"stream {stream_id!r}: its stored total_chunks is behind the chunks "
                        f"stored in {self.chunks_table.display}"
                    ) from exc
                raise
            if rows:
                return int(rows[0][0])
            status = await self._get_status(stream_id)
            if status is None:
                raise StreamNotFoundError(stream_id)
            if status.state != "active":
                raise StreamNotActiveError(stream_id, status.state)
            # active again: removed by cleanup() and created anew meanwhile; try again
        raise StreamNotFoundError(stream_id)

    async def _get_status(self, stream_id: str) -> StreamStatus | None:
        rows = await self.client.query(self._sql.status, (stream_id,))
        return self._status(stream_id, *rows[0]) if rows else None

    async def _finish(self, stream_id: str, state: StreamState, error: str | None) -> None:
        params = (stream_id, state, error, self._ttl_ms, self.channel)
        before, total, old_error, changed, _ = (await self.client.query(self._sql.finish, params))[
            0
        ]
        if changed:
            return
        if before is None:
            raise StreamNotFoundError(stream_id)
        self._status(stream_id, before, total, old_error)  # a corrupt row raises here

    async def _fetch(
        self, stream_id: str, after: int, limit: int
    ) -> tuple[StreamStatus | None, Sequence[StreamChunk]]:
        rows = await self.client.query(self._sql.fetch, (stream_id, after, limit))
        if not rows or rows[0][0] is not None:  # the status row comes first, or no stream
            rows = sorted(rows, key=_status_first)
            if not rows or rows[0][0] is not None:
                return None, ()
        status = self._status_of(stream_id, rows[0][1])
        chunks: Sequence[StreamChunk] = chunks_from_rows(rows, 1)
        # Text comes back as str unless the connection decodes none (SQL_ASCII: bytes) or a
        # caller's client does something else. Our driver adapters decode a column of a result
        # with one loader (psycopg) or codec (asyncpg), so its first value tells its type.
        if chunks and (
            type(chunks[0].data) is not str
            or (not self._driver_rows and set(map(type, map(_DATA, chunks))) != {str})
        ):
            chunks = [self._decoded(stream_id, chunk) for chunk in chunks]
        return status, chunks

    def _status_of(self, stream_id: str, packed: Any) -> StreamStatus:
        where = f"stream {stream_id!r} in {self.status_table.display}"
        try:
            state, total, error = json.loads(as_text(packed, where))
        except (TypeError, ValueError) as exc:
            raise CorruptDataError(f"{where}: unreadable status {packed!r}") from exc
        return self._status(stream_id, state, total, error)

    def _decoded(self, stream_id: str, chunk: StreamChunk) -> StreamChunk:
        if type(chunk.data) is str:
            return chunk
        where = f"chunk {chunk.seq} of stream {stream_id!r} in {self.chunks_table.display}"
        return StreamChunk(chunk.seq, as_text(chunk.data, where))

    async def _delete(self, stream_id: str) -> None:
        await self.client.query(self._sql.delete, (stream_id, self.channel))

    def _can_sweep(self) -> bool:
        return True

    def _marker(self, status: StreamStatus) -> Hashable:
        return (status.state, status.total_chunks)

    async def _probe(self, stream_ids: list[str]) -> Mapping[str, Hashable]:
        rows = await self.client.query(self._sql.probe, (stream_ids,))
        return {row[0]: (row[1], row[2]) for row in rows}

    async def _expired(self) -> list[str]:
        return [str(row[0]) for row in await self.client.query(self._sql.cleanup, (self.channel,))]

    # ---- SQL extras ----------------------------------------------------------------------

    async def setup(self) -> None:
        """Create the two tables and the ``expires_at`` index if missing (the DDL of
        ``schema/postgres.sql`` with this store's names), in one transaction serialised
        against concurrent ``setup()`` calls. The schema of a qualified name must exist.

        Raises:
            SchemaError: the schema does not exist.
            BackendError: the server failed (permission denied...).
        """
        await self._ready()
        ddl = setup_statement(stream_ddl(self.chunks_table, self.status_table))
        await self._call(self.client.query(ddl))

    async def cleanup(self) -> int:
        """Remove every stream past its ``expires_at`` (finished ones, abandoned active ones,
        and npm-written ones past their create-time expiry) with its chunks, in one statement,
        waking their followers (they end with
        :class:`~aibind.core.errors.StreamExpiredError`). Call it periodically (a cron job,
        ``aibind cleanup URL``).

        Returns:
            how many streams were removed.

        Raises:
            SchemaError: the tables are missing (create them with :meth:`setup`).
            BackendError: the server failed.
        """
        return await self._run_cleanup(self._expired())
