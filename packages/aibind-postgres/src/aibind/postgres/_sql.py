"""The SQL text of the PostgreSQL stores, built once per store from quoted table names.

Every state change is ONE statement (so one round trip and one implicit transaction in
autocommit mode), following DESIGN.md "Atomic":

* ``create`` is ``INSERT ... ON CONFLICT (id) DO NOTHING``: an existing row, whatever its state
  or ``expires_at``, makes it return nothing (:class:`StreamExistsError`), so it never touches
  another writer's stream. Chunks left under the id without a status row (a crash between the
  npm package's two cleanup statements) are removed by the same statement when it creates.
* ``append`` is a CTE: bump ``total_chunks`` of an active stream (the row lock serialises
  concurrent appenders), insert the chunk with the new count as its seq, refresh ``expires_at``
  and ``pg_notify`` the channel, all committed together (the seed's append CTE, plus the TTL
  refresh and the notification).
* a read takes status and chunks in one statement, hence one snapshot: the status row
  ``UNION ALL`` an ordered, limited chunk subquery (no join, no outer sort).
* ``cleanup`` removes expired status rows and their chunks in one statement.

Streams do not expire on read: a row past ``expires_at`` stays readable and appendable until
``cleanup()`` removes it (the npm package writes ``expires_at`` once, at create, while its
writer may still be appending; DESIGN.md "Expiry never destroys a live writer's stream").
Conversations do expire on load, as the npm package's do.

Time is the server's clock (``statement_timestamp()``) in epoch milliseconds, so app servers
with skewed clocks agree on expiry. Parameters are PostgreSQL's native ``$n`` with explicit
casts, so psycopg and asyncpg bind them alike. Result columns are read by position.
"""

from __future__ import annotations

from dataclasses import dataclass

from aibind.postgres._idents import TableName

__all__ = ["HINT_BYTES", "NOW_MS", "ConversationSQL", "StreamSQL"]

HINT_BYTES = 7900
"""An append's notification payload is ``id \x1f seq \x1f chunk`` (followers in other processes
deliver the chunk without reading it) when id and chunk take fewer bytes than this (NOTIFY
payloads must stay under 8000 bytes); else, as every other write's, just the stream id."""

NOW_MS = "(extract(epoch FROM statement_timestamp()) * 1000)::bigint"
"""The server's current time in epoch milliseconds, fixed for the whole statement."""


@dataclass(frozen=True, slots=True)
class StreamSQL:
    """The statements of :class:`~aibind.postgres.PostgresStreamStore` (parameters and result
    columns are noted on each)."""

    create: str
    append: str
    append_group: str
    append_many: str
    finish: str
    status: str
    fetch: str
    probe: str
    delete: str
    cleanup: str

    @classmethod
    def build(cls, chunks: TableName, status: TableName) -> StreamSQL:
        """Build the statements for the quoted tables ``chunks`` and ``status``."""
        c, s = chunks.sql, status.sql
        return cls(
            # $1 id, $2 ttl ms -> one row (id) when created, none when the id is taken.
            create=f"""WITH up AS (
  INSERT INTO {s} (id, state, error, total_chunks, expires_at)
  VALUES ($1::text, 'active', NULL, 0, {NOW_MS} + $2::bigint)
  ON CONFLICT (id) DO NOTHING
  RETURNING id
), orphans AS (
  DELETE FROM {c} WHERE id = $1::text AND EXISTS (SELECT 1 FROM up)
)
SELECT id FROM up""",
            # $1 id, $2 chunk, $3 ttl ms, $4 channel -> (seq) or no row. A negative stored
            # count is not appended to (get_status then reports it as corrupt). The
            # notification carries the chunk when it fits (see HINT_BYTES).
            append=f"""WITH upd AS (
  UPDATE {s} SET total_chunks = total_chunks + 1, expires_at = {NOW_MS} + $3::bigint
  WHERE id = $1::text AND state = 'active' AND total_chunks >= 0
  RETURNING total_chunks
), ins AS (
  INSERT INTO {c} (id, seq, data) SELECT $1::text, total_chunks, $2::text FROM upd
)
SELECT total_chunks, pg_notify($4::text, CASE
  WHEN octet_length($1::text) + octet_length($2::text) < {HINT_BYTES}
  THEN $1::text || chr(31) || total_chunks::text || chr(31) || $2::text
  ELSE $1::text END)::text
FROM upd""",
            # $1 ids text[], $2 chunks text[] (chunk i to stream i, in order), $3 ttl ms,
            # $4 channel -> (id, total_chunks, n appended) per active stream: several
            # concurrent appends (to one stream or many) in one statement, one commit. Rows
            # are locked in id order first, so two such statements never deadlock each other.
            append_group=f"""WITH input AS (
  SELECT t.id, t.data, t.ord
  FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(id, data, ord)
), counts AS (
  SELECT id, count(*)::integer AS n FROM input GROUP BY id
), locked AS MATERIALIZED (
  SELECT s.id FROM {s} AS s
  WHERE s.id IN (SELECT id FROM counts) AND s.state = 'active' AND s.total_chunks >= 0
  ORDER BY s.id FOR UPDATE
), upd AS (
  UPDATE {s} AS s
  SET total_chunks = s.total_chunks + c.n, expires_at = {NOW_MS} + $3::bigint
  FROM counts AS c
  WHERE s.id = c.id AND s.id IN (SELECT id FROM locked)
    AND s.state = 'active' AND s.total_chunks >= 0
  RETURNING s.id, s.total_chunks, c.n
), ins AS (
  INSERT INTO {c} (id, seq, data)
  SELECT i.id, u.total_chunks - u.n
    + (row_number() OVER (PARTITION BY i.id ORDER BY i.ord))::integer, i.data
  FROM input AS i JOIN upd AS u ON u.id = i.id
)
SELECT id, total_chunks, n, pg_notify($4::text, id)::text FROM upd""",
            # $1 id, $2 chunks text[], $3 ttl ms, $4 channel -> (last seq) or no row.
            append_many=f"""WITH upd AS (
  UPDATE {s}
  SET total_chunks = total_chunks + cardinality($2::text[]),
      expires_at = {NOW_MS} + $3::bigint
  WHERE id = $1::text AND state = 'active' AND total_chunks >= 0
  RETURNING total_chunks
), ins AS (
  INSERT INTO {c} (id, seq, data)
  SELECT $1::text, upd.total_chunks - cardinality($2::text[]) + t.ord::integer, t.data
  FROM upd, unnest($2::text[]) WITH ORDINALITY AS t(data, ord)
)
SELECT total_chunks, pg_notify($4::text, $1::text)::text FROM upd""",
            # $1 id, $2 new state, $3 error, $4 ttl ms, $5 channel -> one row: the state,
            # count and error seen before the change (NULLs: absent) and whether it changed.
            finish=f"""WITH upd AS (
  UPDATE {s} SET state = $2::text, error = $3::text, expires_at = {NOW_MS} + $4::bigint
  WHERE id = $1::text AND state = 'active'
  RETURNING id
)
SELECT st.state, st.total_chunks, st.error, EXISTS (SELECT 1 FROM upd),
  CASE WHEN EXISTS (SELECT 1 FROM upd) THEN pg_notify($5::text, $1::text)::text END
FROM (SELECT 1) AS one LEFT JOIN {s} AS st ON st.id = $1::text""",
            # $1 id -> (state, total_chunks, error) or no row.
            status=f"SELECT state, total_chunks, error FROM {s} WHERE id = $1::text",
            # $1 id, $2 after seq, $3 page size -> the status row (NULL, JSON text [state,
            # total_chunks, error]) and up to $3 chunk rows (seq, data), one snapshot: two
            # columns, so the chunk rows become chunks as they come. Seqs are gap-free, so the
            # page is the seq range ($2, $2 + $3]: bounding it keeps any plan (a bitmap scan on
            # a fresh, unanalysed table) to the page's rows instead of every row after $2.
            fetch=f"""SELECT NULL::integer, json_build_array(state, total_chunks, error)::text
FROM {s} WHERE id = $1::text
UNION ALL
(SELECT seq, data FROM {c}
 WHERE id = $1::text AND seq > $2::integer AND seq <= $2::bigint + $3::bigint
 ORDER BY seq LIMIT $3::integer)""",
            # $1 ids text[] -> (id, state, total_chunks) of those that exist: the sweep.
            probe=f"SELECT id, state, total_chunks FROM {s} WHERE id = ANY($1::text[])",
            # $1 id, $2 channel.
            delete=f"""WITH gone AS (
  DELETE FROM {s} WHERE id = $1::text RETURNING id
), chunks AS (
  DELETE FROM {c} WHERE id = $1::text
)
SELECT pg_notify($2::text, id)::text FROM gone""",
            # $1 channel -> (id) of each stream removed: every one past expires_at (active
            # ones included: abandoned, or an npm writer's past its create-time expiry), with
            # its chunks, atomically; their followers are woken to find them gone.
            cleanup=f"""WITH gone AS (
  DELETE FROM {s} WHERE expires_at <= {NOW_MS} RETURNING id
), chunks AS (
  DELETE FROM {c} WHERE id IN (SELECT id FROM gone)
)
SELECT id, pg_notify($1::text, id)::text FROM gone""",
        )


@dataclass(frozen=True, slots=True)
class ConversationSQL:
    """The statements of :class:`~aibind.postgres.PostgresConversationStore` (the seed's, plus
    expiry on load and a count from cleanup)."""

    load: str
    save: str
    delete: str
    cleanup: str

    @classmethod
    def build(cls, table: TableName) -> ConversationSQL:
        """Build the statements for the quoted ``table``."""
        t = table.sql
        return cls(
            # $1 session id -> (data) unless absent or expired.
            load=f"SELECT data FROM {t} WHERE session_id = $1::text AND expires_at > {NOW_MS}",
            # $1 session id, $2 JSON text, $3 ttl ms.
            save=f"""INSERT INTO {t} (session_id, data, expires_at)
VALUES ($1::text, $2::text, {NOW_MS} + $3::bigint)
ON CONFLICT (session_id)
DO UPDATE SET data = EXCLUDED.data, expires_at = EXCLUDED.expires_at""",
            # $1 session id.
            delete=f"DELETE FROM {t} WHERE session_id = $1::text",
            # -> (count removed).
            cleanup=f"""WITH gone AS (
  DELETE FROM {t} WHERE expires_at <= {NOW_MS} RETURNING 1
)
SELECT count(*)::integer FROM gone""",
        )
