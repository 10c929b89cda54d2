"""Errors of the Cloudflare clients, and the translation of D1's error messages into them.

Everything a client of this package raises on purpose is an
:class:`~aibind.core.errors.AibindError` from the kit's error model, with the error that caused
it (an ``httpx`` exception, a ``pyodide.ffi.JsException``) chained as ``__cause__``:

* a missing table or column -> :class:`~aibind.core.errors.SchemaError`, saying how to create
  the tables;
* any other SQL error D1 reports -> :class:`D1Error` (a constraint violation ->
  :class:`D1ConstraintError`): a :class:`~aibind.sqlite.SqliteError` (a
  :class:`~aibind.core.errors.BackendError`), since D1 is SQLite;
* an error answer of Cloudflare's REST API -> :class:`CloudflareApiError`, a
  :class:`~aibind.core.errors.BackendError` (a refused token -> :class:`CloudflareAuthError` and
  HTTP 429 past the client's bounded wait -> :class:`CloudflareRateLimitError`, both also
  :class:`~aibind.core.errors.BackendUnavailableError`: nothing was done);
* the API cannot be reached -> :class:`~aibind.core.errors.BackendUnavailableError`; the
  connection dropped mid-request -> :class:`~aibind.core.errors.ConnectionLostError`; no answer
  in time -> :class:`~aibind.core.errors.BackendTimeoutError`;
* httpx missing -> :class:`~aibind.core.errors.MissingDriverError`.

Argument errors stay the built-in :class:`TypeError` / :class:`ValueError`, naming the argument.
"""

from __future__ import annotations

from collections.abc import Sequence

from aibind.core.errors import AibindError, BackendError, BackendUnavailableError, SchemaError
from aibind.sqlite.errors import SqliteError

__all__ = [
    "CloudflareApiError",
    "CloudflareAuthError",
    "CloudflareError",
    "CloudflareRateLimitError",
    "D1ConstraintError",
    "D1Error",
    "translate_d1_message",
]

_SCHEMA_MARKERS = ("no such table", "no such column", "has no column named")
_CONSTRAINT_MARKER = "constraint failed"
_PREFIXES = ("Error: ", "D1_ERROR: ")

SCHEMA_HINT = (
    "create the aibind tables with `await store.setup()`, or print the DDL with "
    "`aibind schema sqlite > schema.sql` and apply it with "
    "`wrangler d1 execute <DATABASE> --remote --file=schema.sql`"
)
"""How to create the tables, for :class:`~aibind.core.errors.SchemaError` messages."""


class CloudflareError(BackendError):
    """Base class of the errors Cloudflare's API or a Worker binding reported (not SQL errors,
    not network failures: those are :class:`D1Error` and the kit's transport errors)."""


class CloudflareApiError(CloudflareError):
    """Cloudflare's REST API answered with an error (an envelope with ``success: false``, or an
    unexpected HTTP status or body).

    Attributes:
        status_code: the HTTP status.
        errors: the envelope's ``errors`` as ``(code, message)`` pairs (may be empty).
    """

    def __init__(
        self, message: str, *, status_code: int, errors: Sequence[tuple[int, str]] = ()
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.errors = tuple(errors)


class CloudflareAuthError(CloudflareApiError, BackendUnavailableError):
    """The API refused the token (HTTP 401/403, or a 400 with an authentication error code):
    check ``api_token`` / ``CLOUDFLARE_API_TOKEN`` and the token's permissions (D1 edit, Workers
    KV Storage edit)."""


class CloudflareRateLimitError(CloudflareApiError, BackendUnavailableError):
    """HTTP 429 after the client waited as long as it may (Cloudflare allows 1,200 requests per
    5 minutes per token). Nothing was done; retry after ``retry_after`` seconds.

    Attributes:
        retry_after: seconds the API asked to wait (``retry-after``), or ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 429,
        errors: Sequence[tuple[int, str]] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, errors=errors)
        self.retry_after = retry_after


class D1Error(SqliteError):
    """A SQL error reported by D1 (syntax, type, limits, ...).

    Attributes:
        code: the REST envelope's error code (``None`` through a binding).
    """

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class D1ConstraintError(D1Error):
    """D1 reported a constraint violation (``UNIQUE``, ``NOT NULL``, ``CHECK``, ...)."""


def _strip(message: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if message.startswith(prefix):
                message = message[len(prefix) :]
                changed = True
    return message


def translate_d1_message(message: str, *, code: int | None = None) -> AibindError:
    """The error to raise for a D1 error message (chain the original with ``from``).

    Args:
        message: D1's message, with or without the ``Error: `` / ``D1_ERROR: `` prefixes a
            binding adds (e.g. ``"D1_ERROR: no such table: t: SQLITE_ERROR"``).
        code: the REST envelope's error code, if any.

    Returns:
        :class:`~aibind.core.errors.SchemaError` for a missing table/column (its message says
        how to create the tables), :class:`D1ConstraintError` for a constraint violation, else
        :class:`D1Error`.
    """
    text = _strip(message.strip())
    lower = text.lower()
    if any(marker in lower for marker in _SCHEMA_MARKERS):
        return SchemaError(f"D1 schema problem ({text}): {SCHEMA_HINT}")
    if _CONSTRAINT_MARKER in lower:
        return D1ConstraintError(f"D1 constraint violation: {text}", code=code)
    return D1Error(f"D1 error: {text}", code=code)
