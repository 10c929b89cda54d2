"""The SQL of :class:`~aibind.sqlite.SqliteStreamStore`, rendered once per store with its
(checked, quoted) table names. Every state change is one ``batch()`` (one transaction) whose
statements carry their conditions themselves, so it also works on clients without interactive
transactions (D1). ``?`` values: times are epoch milliseconds.

Expiry: ``expires_at`` is only ever acted on by ``cleanup()``. A stream past it stays readable,
appendable and un-creatable until cleanup removes it, because the npm package writes
``expires_at`` once, at create, and a Node writer may still be appending (DESIGN.md "Expiry never
destroys a live writer's stream"). Every write of ours restarts it.
"""

from __future__ import annotations

from dataclasses import dataclass

from aibind.sqlite._schema import quote_identifier

__all__ = ["StreamSql"]


@dataclass(frozen=True, slots=True)
class StreamSql:
    """Rendered statements; the comment on each field gives its ``?`` arguments."""

    clear_orphans: str  # id, id: chunks of an id that has no status row (left by a cleanup race)
    insert_status: str  # id, expires_at -> RETURNING id (empty when the id is taken)
    append_one: str  # data, id
    append_json: str  # json array of chunks, id
    bump: str  # n, expires_at, id -> RETURNING total_chunks (empty: not appended)
    probe: str  # id -> (state, total_chunks)
    finish: str  # state, error, expires_at, id
    status: str  # id -> (state, error, total_chunks)
    fetch: str  # id, id, after, limit -> status row, then chunk rows (see render)
    markers: str  # json array of ids -> (state, total_chunks) per id, in order; NULLs if absent
    delete_chunks: str  # id
    delete_status: str  # id
    cleanup_chunks: str  # now
    cleanup_status: str  # now -> RETURNING id

    @classmethod
    def render(cls, chunks_table: str, status_table: str) -> StreamSql:
        """Render every statement for the given (already checked) table names."""
        c, s = quote_identifier(chunks_table), quote_identifier(status_table)
        return cls(
            clear_orphans=(
                f"DELETE FROM {c} WHERE id = ? AND NOT EXISTS (SELECT 1 FROM {s} WHERE id = ?)"
            ),
            insert_status=(
                f"INSERT INTO {s} (id, state, error, total_chunks, expires_at) "
                "VALUES (?, 'active', NULL, 0, ?) ON CONFLICT (id) DO NOTHING RETURNING id"
            ),
            append_one=(
                f"INSERT INTO {c} (id, seq, data) SELECT id, total_chunks + 1, ? FROM {s} "
                "WHERE id = ? AND state = 'active'"
            ),
            append_json=(
                f"INSERT INTO {c} (id, seq, data) "
                "SELECT s.id, s.total_chunks + j.key + 1, j.value "
                f"FROM {s} AS s, json_each(?) AS j WHERE s.id = ? AND s.state = 'active'"
            ),
            bump=(
                f"UPDATE {s} SET total_chunks = total_chunks + ?, expires_at = ? "
                "WHERE id = ? AND state = 'active' RETURNING total_chunks"
            ),
            probe=f"SELECT state, total_chunks FROM {s} WHERE id = ?",
            finish=(
                f"UPDATE {s} SET state = ?, error = ?, expires_at = ? "
                "WHERE id = ? AND state = 'active'"
            ),
            status=f"SELECT state, error, total_chunks FROM {s} WHERE id = ?",
            # One statement (one read snapshot) returning (seq, data) rows: first the status
            # row, whose seq is NULL and whose data is the JSON array [state, error,
            # total_chunks], then up to limit - 1 chunk rows. ORDER BY 1 sorts NULL first and
            # merges the two index-ordered parts; the status is not repeated on every row.
            fetch=(
                "SELECT NULL AS seq, json_array(state, error, total_chunks) AS data "
                f"FROM {s} WHERE id = ? "
                f"UNION ALL SELECT seq, data FROM {c} WHERE id = ? AND seq > ? "
                "ORDER BY 1 LIMIT ?"
            ),
            markers=(
                "SELECT s.state, s.total_chunks FROM json_each(?) AS j "
                f"LEFT JOIN {s} AS s ON s.id = j.value ORDER BY j.key"
            ),
            delete_chunks=f"DELETE FROM {c} WHERE id = ?",
            delete_status=f"DELETE FROM {s} WHERE id = ?",
            cleanup_chunks=(
                f"DELETE FROM {c} WHERE id IN (SELECT id FROM {s} WHERE expires_at <= ?)"
            ),
            cleanup_status=f"DELETE FROM {s} WHERE expires_at <= ? RETURNING id",
        )
