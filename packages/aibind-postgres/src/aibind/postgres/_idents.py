"""Safe SQL identifiers for the table options: validated, then quoted, never pasted.

asyncpg has no identifier quoting of its own, so this module implements the rule psycopg's
``sql.Identifier`` follows (and PostgreSQL documents): wrap the name in double quotes and double
every double quote inside it. A quoted identifier cannot end early, so a table option like
``x"; DROP TABLE t; --`` names a (strange) table instead of running SQL.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ["MAX_IDENTIFIER_BYTES", "TableName", "fit_identifier", "quote_identifier", "table_name"]

MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL's identifier limit (``NAMEDATALEN - 1``); longer names would be truncated."""


def quote_identifier(name: str, what: str = "identifier") -> str:
    """Quote one identifier part the way ``psycopg.sql.Identifier`` does.

    Args:
        name: the raw name (case is kept: ``"MyTable"`` stays ``MyTable``).
        what: the argument's name, used in error messages.

    Returns:
        ``name`` in double quotes with each ``"`` doubled, e.g. ``"my ""odd"" table"``.

    Raises:
        TypeError: ``name`` is not a ``str``.
        ValueError: it is empty, contains NUL, or is longer than 63 bytes in UTF-8.
    """
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, not {type(name).__name__}")
    if not name:
        raise ValueError(f"{what} must not be empty")
    if "\x00" in name:
        raise ValueError(f"{what} must not contain NUL (\\x00): {name!r}")
    if len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise ValueError(
            f"{what} is longer than PostgreSQL's {MAX_IDENTIFIER_BYTES}-byte limit: {name!r}"
        )
    return '"' + name.replace('"', '""') + '"'


def _cut(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes at a character boundary."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def fit_identifier(base: str, suffix: str, *, prefix: str = "") -> str:
    """``prefix + base + suffix`` if it fits PostgreSQL's 63-byte limit; otherwise ``base`` is
    shortened and followed by ``_`` and 8 hex digits of its SHA-256, so two different bases
    never give the same name and the result never equals ``base`` itself (a plain truncation
    of a 63-byte table name plus ``_expires_at_idx`` is the table name again, and
    ``CREATE INDEX IF NOT EXISTS`` then silently creates nothing).

    Args:
        base: the name the object belongs to (a table name, a status table for a channel).
        suffix: what distinguishes the object (``"_expires_at_idx"``); kept whole.
        prefix: kept whole in front (``"aibind:"`` for a channel).

    Returns:
        the raw (unquoted) identifier, at most 63 bytes.
    """
    name = prefix + base + suffix
    if len(name.encode("utf-8")) <= MAX_IDENTIFIER_BYTES:
        return name
    tag = "_" + hashlib.sha256(base.encode("utf-8")).hexdigest()[:8]
    room = MAX_IDENTIFIER_BYTES - len((prefix + tag + suffix).encode("utf-8"))
    return prefix + _cut(base, room) + tag + suffix


@dataclass(frozen=True, slots=True)
class TableName:
    """A validated, optionally schema-qualified table name.

    Attributes:
        schema: the schema part, or ``None`` for the connection's ``search_path``.
        name: the table part.
    """

    schema: str | None
    name: str

    @property
    def sql(self) -> str:
        """The quoted form to put in SQL text: ``"schema"."table"`` or ``"table"``."""
        table = quote_identifier(self.name, "table name")
        if self.schema is None:
            return table
        return f"{quote_identifier(self.schema, 'schema name')}.{table}"

    @property
    def display(self) -> str:
        """The name as the caller wrote it (``app.my_chunks``), for messages."""
        return self.name if self.schema is None else f"{self.schema}.{self.name}"

    def derived(self, suffix: str) -> str:
        """The quoted name of an object belonging to the table (an index): the table part plus
        ``suffix``, made to fit 63 bytes by :func:`fit_identifier` (so it never collides with
        the table or another table's object). Not schema-qualified: PostgreSQL creates an
        index in its table's schema."""
        return quote_identifier(fit_identifier(self.name, suffix), "index name")


def table_name(value: object, what: str) -> TableName:
    """Parse a table option: ``"table"``, ``"schema.table"`` or a ``(schema, table)`` tuple.

    A ``str`` is split on its first ``.`` (so a schema name cannot contain a dot; pass a tuple
    for such names). Each part is checked by :func:`quote_identifier`.

    Args:
        value: the option's value.
        what: the option's name (``"chunks_table"``), used in error messages.

    Returns:
        the :class:`TableName`.

    Raises:
        TypeError: ``value`` is neither a ``str`` nor a 2-tuple of ``str``.
        ValueError: a part is empty, contains NUL or is too long.
    """
    if isinstance(value, tuple):
        if len(value) != 2:
            raise TypeError(f"{what} as a tuple must be (schema, table), got {value!r}")
        schema, name = value
    elif isinstance(value, str):
        schema, _, name = value.partition(".") if "." in value else (None, "", value)
    else:
        raise TypeError(
            f"{what} must be a str or a (schema, table) tuple, not {type(value).__name__}"
        )
    result = TableName(schema, name)
    quote_identifier(name, what)
    if schema is not None:
        quote_identifier(schema, f"{what} (schema part)")
    return result
