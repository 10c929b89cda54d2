"""The errors of aibind-postgres: every one is an :mod:`aibind.core.errors` class.

The stores raise the core hierarchy (``SchemaError``, ``CorruptDataError``,
``BackendUnavailableError``, ``ConnectionLostError``, ``BackendTimeoutError``...; see
docs/errors.md for which fault gives which). A server error that fits none of those is a
:class:`DatabaseError`, a :class:`~aibind.core.errors.BackendError` carrying the SQLSTATE.
``MissingDriverError`` is core's, re-exported here for code that imported it from this package.
"""

from __future__ import annotations

from aibind.core.errors import BackendError, MissingDriverError

__all__ = ["DatabaseError", "MissingDriverError"]


class DatabaseError(BackendError):
    """A PostgreSQL or driver error the store does not classify further (permission denied, a
    constraint it did not expect, an out-of-range value...). The driver's exception is chained
    as ``__cause__`` and the message names its type.

    Args:
        message: the text (``"PostgreSQL error on <tables>: <Type>: <first line>"``).
        sqlstate: the five-character SQLSTATE code of the server error, or ``None``.

    Attributes:
        sqlstate: as given (``"42501"`` for insufficient privilege...).
    """

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
