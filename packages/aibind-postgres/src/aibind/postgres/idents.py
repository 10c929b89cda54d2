"""Safe SQL identifiers for the table options: validated, then quoted, never pasted.

asyncpg has no identifier quoting of its own, so this module implements the rule psycopg's
``sql.Identifier`` follows (and PostgreSQL documents): wrap the name in double quotes and double
every double quote inside it. A quoted identifier cannot end early, so a table option like
``x"; DROP TABLE t; --`` names a (strange) table instead of running SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAX_IDENTIFIER_BYTES", "TableName", "quote_identifier", "table_name"]

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
        """A quoted name for an object belonging to the table (an index): the table part plus
        ``suffix``, trimmed to PostgreSQL's 63-byte limit at a character boundary. Not
        schema-qualified: PostgreSQL creates an index in its table's schema."""
        raw = (self.name + suffix).encode("utf-8")[:MAX_IDENTIFIER_BYTES]
        return quote_identifier(raw.decode("utf-8", errors="ignore"), "index name")


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
