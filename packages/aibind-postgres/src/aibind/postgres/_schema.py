"""The DDL of the PostgreSQL stores: one source for ``setup()``, ``aibind schema postgres`` and
the repository's ``schema/postgres.sql`` (a test keeps that file identical to
:func:`schema_sql`).

The tables are the npm ``@aibind/postgres`` package's (seed "Required Schema"), so a Node
service and a Python service can share them; ``expires_at`` is epoch milliseconds. We add an
index on ``expires_at`` so ``cleanup()`` does not scan the whole table.
"""

from __future__ import annotations

from aibind.postgres._idents import TableName, table_name

__all__ = [
    "DEFAULT_CHUNKS_TABLE",
    "DEFAULT_CONVERSATIONS_TABLE",
    "DEFAULT_STATUS_TABLE",
    "conversation_ddl",
    "schema_sql",
    "setup_statement",
    "stream_ddl",
]

DEFAULT_CHUNKS_TABLE = "aibind_stream_chunks"
DEFAULT_STATUS_TABLE = "aibind_stream_status"
DEFAULT_CONVERSATIONS_TABLE = "aibind_conversations"

_HEADER = """\
-- Tables of aibind-postgres (the same as the npm @aibind/postgres package's).
-- Print this with `aibind schema postgres`, or let the stores create it: `await store.setup()`.
-- Custom table names (options chunks_table, status_table, table) are quoted identifiers.
-- expires_at is in epoch milliseconds.
"""


def stream_ddl(chunks: TableName, status: TableName) -> list[str]:
    """The statements creating :class:`~aibind.postgres.PostgresStreamStore`'s tables.

    Args:
        chunks: the chunks table (one row per chunk: ``id``, ``seq``, ``data``).
        status: the status table (one row per stream).

    Returns:
        ``CREATE TABLE IF NOT EXISTS`` / ``CREATE INDEX IF NOT EXISTS`` statements, each
        without a trailing semicolon, safe to run again.
    """
    return [
        f"""CREATE TABLE IF NOT EXISTS {chunks.sql} (
  id   TEXT    NOT NULL,
  seq  INTEGER NOT NULL,
  data TEXT    NOT NULL,
  PRIMARY KEY (id, seq)
)""",
        f"""CREATE TABLE IF NOT EXISTS {status.sql} (
  id           TEXT    PRIMARY KEY,
  state        TEXT    NOT NULL DEFAULT 'active',
  error        TEXT,
  total_chunks INTEGER NOT NULL DEFAULT 0,
  expires_at   BIGINT  NOT NULL
)""",
        f"CREATE INDEX IF NOT EXISTS {status.derived('_expires_at_idx')} "
        f"ON {status.sql} (expires_at)",
    ]


def conversation_ddl(table: TableName) -> list[str]:
    """The statements creating :class:`~aibind.postgres.PostgresConversationStore`'s table.

    Args:
        table: the conversations table (``session_id``, ``data`` JSON text, ``expires_at``).

    Returns:
        idempotent statements, each without a trailing semicolon.
    """
    return [
        f"""CREATE TABLE IF NOT EXISTS {table.sql} (
  session_id TEXT   PRIMARY KEY,
  data       TEXT   NOT NULL,
  expires_at BIGINT NOT NULL
)""",
        f"CREATE INDEX IF NOT EXISTS {table.derived('_expires_at_idx')} "
        f"ON {table.sql} (expires_at)",
    ]


def schema_sql() -> str:
    """The full DDL with the default table names, as ``aibind schema postgres`` prints it
    (registered under the entry-point group ``aibind.schemas`` as ``postgres``).

    Returns:
        SQL text: a comment header, then every statement ending in ``;``.
    """
    stream = stream_ddl(
        table_name(DEFAULT_CHUNKS_TABLE, "chunks_table"),
        table_name(DEFAULT_STATUS_TABLE, "status_table"),
    )
    conversations = conversation_ddl(
        table_name(DEFAULT_CONVERSATIONS_TABLE, "table"),
    )
    parts = [_HEADER, "-- PostgresStreamStore"]
    parts += [s + ";\n" for s in stream]
    parts += ["-- PostgresConversationStore"]
    parts += [s + ";\n" for s in conversations]
    return "\n".join(parts).rstrip("\n") + "\n"


_SETUP_TAG = "$aibind_setup$"
_SETUP_LOCK = 0x616962696E64  # "aibind": serialises concurrent setup() calls


def setup_statement(statements: list[str]) -> str:
    """One ``DO`` block running ``statements`` in one transaction, serialised against other
    ``setup()`` calls by a transaction-level advisory lock (several app instances starting at
    once must not race on ``CREATE TABLE IF NOT EXISTS``).

    Raises:
        ValueError: a table name contains the block's dollar-quote tag.
    """
    body = ";\n".join(statements)
    if _SETUP_TAG in body:
        raise ValueError(f"table names must not contain {_SETUP_TAG!r}")
    return (
        f"DO {_SETUP_TAG} BEGIN\nPERFORM pg_advisory_xact_lock({_SETUP_LOCK});\n"
        f"{body};\nEND {_SETUP_TAG}"
    )
