"""The SQLite backend's public error name, kept as part of the core hierarchy."""

from __future__ import annotations

from aibind.core.errors import BackendError

__all__ = ["SqliteError"]


class SqliteError(BackendError):
    """A SQLite failure with no more specific class (a constraint, an I/O error, a read-only
    file...); the driver's exception is chained as ``__cause__``. Missing tables raise
    :class:`~aibind.core.errors.SchemaError`, a lock held past ``busy_timeout``
    :class:`~aibind.core.errors.BackendTimeoutError`, a file that cannot be opened
    :class:`~aibind.core.errors.BackendUnavailableError`."""
