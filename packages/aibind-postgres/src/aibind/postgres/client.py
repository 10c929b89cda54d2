"""The client protocol the PostgreSQL stores talk to, and how a driver object becomes one.

:class:`PostgresClient` is the Python spelling of the npm package's ``PostgresClient``
(``query(sql, params) -> rows``, PostgreSQL's native ``$1`` placeholders). A client may also
offer :class:`SupportsListen`: open a dedicated connection that ``LISTEN``s on a channel, which
the stores use for push delivery. Clients without it still work; followers then poll.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from aibind.core.errors import AibindError

__all__ = [
    "ListenHandle",
    "MissingDriverError",
    "PostgresClient",
    "Row",
    "SupportsListen",
    "as_client",
]


class MissingDriverError(AibindError, ImportError):
    """No PostgreSQL driver is installed (or not the one asked for). The message names the
    extra to install: ``pip install "aibind-postgres[psycopg]"`` or ``"aibind-postgres[asyncpg]"``.
    """


class Row(Protocol):
    """One result row, readable by column name (a ``dict``, an ``asyncpg.Record``...)."""

    def __getitem__(self, key: str, /) -> Any:
        """The value of column ``key``."""
        ...


@runtime_checkable
class PostgresClient(Protocol):
    """What the stores need from a database client (npm ``PostgresClient``).

    Each call runs one statement on its own (autocommit), so a statement's ``pg_notify`` is
    delivered as soon as it returns.
    """

    async def query(self, sql: str, params: Sequence[object] = ()) -> Sequence[Row]:
        """Run ``sql`` with ``params`` bound to ``$1``, ``$2``... and return its rows (an empty
        sequence for a statement without a result).

        Errors are the driver's own; the stores translate them (an ``sqlstate`` attribute of
        ``42P01``, undefined table, becomes :class:`~aibind.core.errors.SchemaError`).
        """
        ...


class ListenHandle(Protocol):
    """A live ``LISTEN`` on a dedicated connection, returned by :meth:`SupportsListen.listen`."""

    @property
    def backend_pid(self) -> int | None:
        """The server process id of the listening connection (``pg_backend_pid()``)."""
        ...

    async def wait_closed(self) -> None:
        """Return (or raise the driver's error) once the connection is lost or closed."""
        ...

    async def close(self) -> None:
        """Stop listening and release the connection. Idempotent."""
        ...


@runtime_checkable
class SupportsListen(Protocol):
    """Optional client capability: push notifications through ``LISTEN``."""

    async def listen(self, channel: str, on_payload: Callable[[str], None]) -> ListenHandle:
        """Take a dedicated autocommit connection, ``LISTEN`` on ``channel`` (an identifier,
        quoted by the implementation) and call ``on_payload(payload)`` for every notification
        until the handle is closed or the connection drops. Returns once ``LISTEN`` is active.
        """
        ...


def _module(obj: object) -> str:
    return type(obj).__module__.split(".", 1)[0]


def as_client(obj: object, what: str = "client") -> PostgresClient:
    """Return ``obj`` as a :class:`PostgresClient`: as is if it has ``query``, wrapped if it is
    a psycopg ``AsyncConnection``/``AsyncConnectionPool`` or an asyncpg ``Connection``/``Pool``.

    Raises:
        TypeError: ``obj`` is none of these (sync psycopg objects included: they would block
            the event loop).
    """
    module = _module(obj)
    if module in ("psycopg", "psycopg_pool"):
        from aibind.postgres.psycopg_client import wrap_psycopg

        return wrap_psycopg(obj)  # type: ignore[arg-type]
    if module == "asyncpg":
        from aibind.postgres.asyncpg_client import wrap_asyncpg

        return wrap_asyncpg(obj)  # type: ignore[arg-type]
    if isinstance(obj, PostgresClient):
        return obj
    raise TypeError(
        f"{what} must be a PostgresClient (an object with async query(sql, params)), a psycopg "
        f"AsyncConnection/AsyncConnectionPool or an asyncpg Connection/Pool, "
        f"not {type(obj).__name__}"
    )
