"""The DDL of the SQLite stores: one source (``schema.sql``, shipped in this package) for what
``setup()`` runs, what ``aibind schema sqlite`` prints and the repository's
``schema/sqlite.sql``.

The tables are those of the npm ``@aibind/sqlite`` package (see its README and the
``@aibind/cloudflare`` D1 schema), with ``IF NOT EXISTS`` so running it twice is harmless.
"""

from __future__ import annotations

import re
from importlib.resources import files

__all__ = [
    "DEFAULT_CHUNKS_TABLE",
    "DEFAULT_CONVERSATIONS_TABLE",
    "DEFAULT_STATUS_TABLE",
    "check_table_name",
    "conversation_statements",
    "quote_identifier",
    "schema_sql",
    "schema_statements",
    "stream_statements",
]

DEFAULT_CHUNKS_TABLE = "aibind_stream_chunks"
"""Default name of the stream chunks table (the npm default)."""
DEFAULT_STATUS_TABLE = "aibind_stream_status"
"""Default name of the stream status table (the npm default)."""
DEFAULT_CONVERSATIONS_TABLE = "aibind_conversations"
"""Default name of the conversations table (the npm default)."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_DEFAULTS = (DEFAULT_CHUNKS_TABLE, DEFAULT_STATUS_TABLE, DEFAULT_CONVERSATIONS_TABLE)


def check_table_name(value: object, name: str) -> str:
    """Check a custom table name: a ``str`` matching ``[A-Za-z_][A-Za-z0-9_]{0,62}`` that does
    not start with ``sqlite_`` (reserved by SQLite). Names are also quoted wherever they are used,
    so nothing a caller passes reaches SQL unchecked.

    Args:
        value: the table name.
        name: the option's name, used in the error message (``"chunks_table"``, ...).

    Returns:
        ``value``, unchanged.

    Raises:
        TypeError: not a ``str``.
        ValueError: not a plain identifier, or reserved.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(
            f"{name} must be a plain SQL identifier (letters, digits, underscores; not starting "
            f"with a digit; at most 63 characters), got {value!r}"
        )
    if value.lower().startswith("sqlite_"):
        raise ValueError(f"{name} must not start with 'sqlite_' (reserved by SQLite): {value!r}")
    return value


def quote_identifier(name: str) -> str:
    """Return ``name`` (already checked by :func:`check_table_name`) as a quoted identifier."""
    return '"' + name.replace('"', '""') + '"'


def _template() -> str:
    return files("aibind.sqlite").joinpath("schema.sql").read_text(encoding="utf-8")


def schema_sql(
    *,
    chunks_table: str = DEFAULT_CHUNKS_TABLE,
    status_table: str = DEFAULT_STATUS_TABLE,
    conversations_table: str = DEFAULT_CONVERSATIONS_TABLE,
) -> str:
    """Return the DDL text creating the three tables.

    With the default names this is ``schema.sql`` byte for byte (registered as the
    ``aibind.schemas`` entry point ``sqlite``, printed by ``aibind schema sqlite``). Custom names
    are validated and substituted quoted.

    Args:
        chunks_table: name of the stream chunks table.
        status_table: name of the stream status table.
        conversations_table: name of the conversations table.

    Returns:
        SQL text: ``CREATE TABLE IF NOT EXISTS`` statements separated by ``;``.

    Raises:
        TypeError, ValueError: a name is not a valid identifier (the message names the option),
            or two names are the same.
    """
    names = {
        DEFAULT_CHUNKS_TABLE: check_table_name(chunks_table, "chunks_table"),
        DEFAULT_STATUS_TABLE: check_table_name(status_table, "status_table"),
        DEFAULT_CONVERSATIONS_TABLE: check_table_name(conversations_table, "conversations_table"),
    }
    if len({n.lower() for n in names.values()}) != len(names):
        raise ValueError(
            "chunks_table, status_table and conversations_table must be distinct, got "
            f"{chunks_table!r}, {status_table!r}, {conversations_table!r}"
        )
    text = _template()
    if all(k == v for k, v in names.items()):
        return text
    pattern = re.compile(r"\b(" + "|".join(_DEFAULTS) + r")\b")
    return pattern.sub(lambda m: quote_identifier(names[m.group(1)]), text)


def _split(text: str) -> list[str]:
    code = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("--"))
    statements = []
    for part in code.split(";"):
        lines = [ln for ln in part.splitlines() if ln.strip()]
        if lines:
            statements.append("\n".join(lines))
    return statements


def schema_statements(
    *,
    chunks_table: str = DEFAULT_CHUNKS_TABLE,
    status_table: str = DEFAULT_STATUS_TABLE,
    conversations_table: str = DEFAULT_CONVERSATIONS_TABLE,
) -> list[str]:
    """Return :func:`schema_sql` split into its statements (comments dropped), in file order:
    the chunks table, the status table, the conversations table.

    Raises:
        TypeError, ValueError: as :func:`schema_sql`.
    """
    return _split(
        schema_sql(
            chunks_table=chunks_table,
            status_table=status_table,
            conversations_table=conversations_table,
        )
    )


def stream_statements(chunks_table: str, status_table: str) -> list[str]:
    """The two ``CREATE TABLE IF NOT EXISTS`` statements a stream store's ``setup()`` runs
    (chunks, then status), with the given (checked, distinct) names quoted.

    Raises:
        TypeError, ValueError: a name is invalid or both are the same.
    """
    check_table_name(chunks_table, "chunks_table")
    check_table_name(status_table, "status_table")
    if chunks_table.lower() == status_table.lower():
        raise ValueError(f"chunks_table and status_table must differ, both are {chunks_table!r}")
    chunks, status, _ = _split(_template())
    return [
        _rename(chunks, DEFAULT_CHUNKS_TABLE, chunks_table),
        _rename(status, DEFAULT_STATUS_TABLE, status_table),
    ]


def conversation_statements(table: str) -> list[str]:
    """The ``CREATE TABLE IF NOT EXISTS`` statement a conversation store's ``setup()`` runs.

    Raises:
        TypeError, ValueError: ``table`` is not a valid identifier.
    """
    check_table_name(table, "table")
    return [_rename(_split(_template())[2], DEFAULT_CONVERSATIONS_TABLE, table)]


def _rename(statement: str, default: str, name: str) -> str:
    if name == default:
        return statement
    return re.sub(rf"\b{default}\b", quote_identifier(name), statement)
