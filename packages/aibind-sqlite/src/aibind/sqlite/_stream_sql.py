"""The SQL of :class:`~aibind.sqlite.streams.SqliteStreamStore`, rendered once per store with its
(checked, quoted) table names. Every state change is one ``batch()`` (one transaction) whose
statements carry the conditions themselves, so it also works on clients without interactive
transactions (D1). ``?`` values: times are epoch milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from aibind.sqlite.schema import quote_identifier

__all__ = ["StreamSql"]


@dataclass(frozen=True, slots=True)
class StreamSql:
    """Rendered statements; the comment on each field gives its ``?`` arguments."""

    clear_dead_chunks: str  # id, id, now: chunks of a stream that is absent or expired
    drop_expired: str  # id, now
    insert_status: str  # id, expires_at -> RETURNING id (empty when the id is taken)
    append_one: str  # data, id, now
    append_json: str  # json array of chunks, id, now
    bump: str  # n, expires_at, id, now -> RETURNING total_chunks (empty: not appended)
    probe: str  # now, id -> (state, live)
    finish: str  # state, error, expires_at, id, now
    status: str  # id, now -> (state, error, total_chunks)
    fetch: str  # id, now, id, after, limit -> status row, then chunk rows (see render)
    delete_chunks: str  # id
    delete_status: str  # id
    cleanup_chunks: str  # now
    cleanup_status: str  # now -> RETURNING id

    @classmethod
    def render(cls, chunks_table: str, status_table: str) -> StreamSql:
        """Render every statement for the given (already checked) table names."""
        c, s = quote_identifier(chunks_table), quote_identifier(status_table)
        live = "state = 'active' AND expires_at > ?"
        return cls(
            clear_dead_chunks=(
                f"DELETE FROM {c} WHERE id = ? AND NOT EXISTS "
                f"(SELECT 1 FROM {s} WHERE id = ? AND expires_at > ?)"
            ),
            drop_expired=f"DELETE FROM {s} WHERE id = ? AND expires_at <= ?",
            insert_status=(
                f"INSERT INTO {s} (id, state, error, total_chunks, expires_at) "
                "VALUES (?, 'active', NULL, 0, ?) ON CONFLICT (id) DO NOTHING RETURNING id"
            ),
            append_one=(
                f"INSERT INTO {c} (id, seq, data) SELECT id, total_chunks + 1, ? FROM {s} "
                f"WHERE id = ? AND {live}"
            ),
            append_json=(
                f"INSERT INTO {c} (id, seq, data) "
                "SELECT s.id, s.total_chunks + j.key + 1, j.value "
                f"FROM {s} AS s, json_each(?) AS j "
                "WHERE s.id = ? AND s.state = 'active' AND s.expires_at > ?"
            ),
            bump=(
                f"UPDATE {s} SET total_chunks = total_chunks + ?, expires_at = ? "
                f"WHERE id = ? AND {live} RETURNING total_chunks"
            ),
            probe=f"SELECT state, expires_at > ? AS live, total_chunks FROM {s} WHERE id = ?",
            finish=(f"UPDATE {s} SET state = ?, error = ?, expires_at = ? WHERE id = ? AND {live}"),
            status=f"SELECT state, error, total_chunks FROM {s} WHERE id = ? AND expires_at > ?",
            # One statement (one read snapshot) returning (seq, data) rows: first the status
            # row, whose seq is NULL and whose data is the JSON array [state, error,
            # total_chunks], then up to limit - 1 chunk rows. ORDER BY 1 sorts NULL first and
            # merges the two index-ordered parts; the status is not repeated on every row.
            fetch=(
                "SELECT NULL AS seq, json_array(state, error, total_chunks) AS data "
                f"FROM {s} WHERE id = ? AND expires_at > ? "
                f"UNION ALL SELECT seq, data FROM {c} WHERE id = ? AND seq > ? "
                "ORDER BY 1 LIMIT ?"
            ),
            delete_chunks=f"DELETE FROM {c} WHERE id = ?",
            delete_status=f"DELETE FROM {s} WHERE id = ?",
            cleanup_chunks=(
                f"DELETE FROM {c} WHERE id IN (SELECT id FROM {s} WHERE expires_at <= ?)"
            ),
            cleanup_status=f"DELETE FROM {s} WHERE expires_at <= ? RETURNING id",
        )
