"""The SQL text of the PostgreSQL stores, built once per store from quoted table names.

Every state change is ONE statement (so one round trip and one implicit transaction in
autocommit mode), following DESIGN.md "Atomic":

* ``create`` is an ``INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE <expired>``: a live stream
  keeps its row (no row returned -> :class:`StreamExistsError`); an expired one is replaced in
  place under its row lock and its old chunks are deleted by the same statement.
* ``append`` is a CTE: bump ``total_chunks`` of an active, unexpired stream (the row lock
  serialises concurrent appenders), insert the chunk with the new count as its seq, refresh
  ``expires_at`` and ``pg_notify`` the channel, all committed together (the seed's append CTE,
  plus expiry and notification).
* reads take status and chunks in one statement, hence one snapshot.

Time is the server's clock (``statement_timestamp()``) in epoch milliseconds, so app servers
with skewed clocks agree on expiry. Parameters are PostgreSQL's native ``$n`` with explicit
casts, so both psycopg and asyncpg bind them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from aibind.postgres.idents import TableName

__all__ = ["NOW_MS", "ConversationSQL", "StreamSQL"]

NOW_MS = "(extract(epoch FROM statement_timestamp()) * 1000)::bigint"
"""The server's current time in epoch milliseconds, fixed for the whole statement."""


@dataclass(frozen=True, slots=True)
class StreamSQL:
    """The statements of :class:`~aibind.postgres.PostgresStreamStore`.

    Parameters common to the writes: ``$1`` stream id (text), the TTL in milliseconds
    (bigint) and the notification channel (text) where noted.
    """

    create: str
    append: str
    append_many: str
    finish: str
    status: str
    fetch: str
    delete: str
    cleanup_status: str
    cleanup_chunks: str

    @classmethod
    def build(cls, chunks: TableName, status: TableName) -> StreamSQL:
        """Build the statements for the quoted tables ``chunks`` and ``status``."""
        c, s = chunks.sql, status.sql
        live = f"expires_at > {NOW_MS}"
        return cls(
            # $1 id, $2 ttl ms. Returns one row when created (or an expired stream replaced).
            create=f"""WITH up AS (
  INSERT INTO {s} AS st (id, state, error, total_chunks, expires_at)
  VALUES ($1::text, 'active', NULL, 0, {NOW_MS} + $2::bigint)
  ON CONFLICT (id) DO UPDATE
    SET state = 'active', error = NULL, total_chunks = 0, expires_at = EXCLUDED.expires_at
    WHERE st.expires_at <= {NOW_MS}
  RETURNING st.id
), gone AS (
  DELETE FROM {c} WHERE id = $1::text AND EXISTS (SELECT 1 FROM up)
)
SELECT id FROM up""",
            # $1 id, $2 chunk, $3 ttl ms, $4 channel. Returns the new seq, or no row.
            append=f"""WITH upd AS (
  UPDATE {s} SET total_chunks = total_chunks + 1, expires_at = {NOW_MS} + $3::bigint
  WHERE id = $1::text AND state = 'active' AND {live}
  RETURNING total_chunks
), ins AS (
  INSERT INTO {c} (id, seq, data) SELECT $1::text, total_chunks, $2::text FROM upd
  RETURNING seq
)
SELECT seq, pg_notify($4::text, $1::text)::text AS notified FROM ins""",
            # $1 id, $2 chunks text[], $3 ttl ms, $4 channel. Returns the last seq, or no row.
            append_many=f"""WITH upd AS (
  UPDATE {s}
  SET total_chunks = total_chunks + cardinality($2::text[]),
      expires_at = {NOW_MS} + $3::bigint
  WHERE id = $1::text AND state = 'active' AND {live}
  RETURNING total_chunks
), ins AS (
  INSERT INTO {c} (id, seq, data)
  SELECT $1::text, upd.total_chunks - cardinality($2::text[]) + t.ord::integer, t.data
  FROM upd, unnest($2::text[]) WITH ORDINALITY AS t(data, ord)
)
SELECT total_chunks AS seq, pg_notify($4::text, $1::text)::text AS notified FROM upd""",
            # $1 id, $2 new state, $3 error, $4 ttl ms, $5 channel.
            # Returns one row: changed (bool) and the state seen (NULL: absent or expired).
            finish=f"""WITH cur AS (
  SELECT state FROM {s} WHERE id = $1::text AND {live}
), upd AS (
  UPDATE {s} SET state = $2::text, error = $3::text, expires_at = {NOW_MS} + $4::bigint
  WHERE id = $1::text AND state = 'active' AND {live}
  RETURNING id
)
SELECT EXISTS (SELECT 1 FROM upd) AS changed, (SELECT state FROM cur) AS state,
  CASE WHEN EXISTS (SELECT 1 FROM upd) THEN pg_notify($5::text, $1::text)::text END
    AS notified""",
            # $1 id.
            status=f"SELECT state, error, total_chunks FROM {s} WHERE id = $1::text AND {live}",
            # $1 id, $2 after seq, $3 page size. One snapshot: status and chunks agree.
            fetch=f"""SELECT st.state, st.error, st.total_chunks, ch.seq, ch.data
FROM {s} AS st
LEFT JOIN LATERAL (
  SELECT seq, data FROM {c}
  WHERE id = st.id AND seq > $2::integer ORDER BY seq LIMIT $3::integer
) AS ch ON true
WHERE st.id = $1::text AND st.{live}
ORDER BY ch.seq""",
            # $1 id, $2 channel.
            delete=f"""WITH gone AS (
  DELETE FROM {s} WHERE id = $1::text RETURNING id
), chunks AS (
  DELETE FROM {c} WHERE id = $1::text
)
SELECT pg_notify($2::text, id)::text AS notified FROM gone""",
            # $1 channel. Expired streams, active (abandoned) ones included; their followers
            # are woken to find them gone.
            cleanup_status=f"""WITH gone AS (
  DELETE FROM {s} WHERE expires_at <= {NOW_MS} RETURNING id
)
SELECT id, pg_notify($1::text, id)::text AS notified FROM gone""",
            # $1 ids text[]. Keeps the chunks of a stream re-created since the first statement.
            cleanup_chunks=f"""DELETE FROM {c} AS ch WHERE ch.id = ANY($1::text[])
AND NOT EXISTS (SELECT 1 FROM {s} AS st WHERE st.id = ch.id)""",
        )


@dataclass(frozen=True, slots=True)
class ConversationSQL:
    """The statements of :class:`~aibind.postgres.PostgresConversationStore` (the seed's, plus
    expiry on read and a count from cleanup)."""

    load: str
    save: str
    delete: str
    cleanup: str

    @classmethod
    def build(cls, table: TableName) -> ConversationSQL:
        """Build the statements for the quoted ``table``."""
        t = table.sql
        return cls(
            # $1 session id.
            load=f"SELECT data FROM {t} WHERE session_id = $1::text AND expires_at > {NOW_MS}",
            # $1 session id, $2 JSON text, $3 ttl ms.
            save=f"""INSERT INTO {t} (session_id, data, expires_at)
VALUES ($1::text, $2::text, {NOW_MS} + $3::bigint)
ON CONFLICT (session_id)
DO UPDATE SET data = EXCLUDED.data, expires_at = EXCLUDED.expires_at""",
            # $1 session id.
            delete=f"DELETE FROM {t} WHERE session_id = $1::text",
            cleanup=f"""WITH gone AS (
  DELETE FROM {t} WHERE expires_at <= {NOW_MS} RETURNING 1
)
SELECT count(*)::integer AS n FROM gone""",
        )
