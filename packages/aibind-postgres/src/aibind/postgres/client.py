"""The client protocol the PostgreSQL stores talk to, and the driver adapters.

:class:`PostgresClient` is the Python spelling of the npm package's ``PostgresClient``
(``query(sql, params) -> rows``, PostgreSQL's native ``$1`` placeholders). A client may also
offer :class:`SupportsListen` (a dedicated connection that ``LISTEN``s), which the stream store
uses for push delivery; without it, the store's sweep (one query per ``poll_interval`` for all
followers) wakes them.

:func:`wrap_psycopg` and :func:`wrap_asyncpg` adapt the two drivers (the stores also accept their
pools and connections directly); importing this module needs neither driver.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from aibind.postgres._asyncpg import AsyncpgClient
    from aibind.postgres._psycopg import PsycopgClient

__all__ = [
    "ListenHandle",
    "PostgresClient",
    "SupportsListen",
    "wrap_asyncpg",
    "wrap_psycopg",
]


@runtime_checkable
class PostgresClient(Protocol):
    """What the stores need from a database client (npm ``PostgresClient``).

    Each call runs one statement on its own (autocommit), so a statement's ``pg_notify`` is
    delivered as soon as it returns.
    """

    async def query(
        self, sql: str, params: Sequence[object] = ()
    ) -> Sequence[Sequence[Any] | Mapping[str, Any]]:
        """Run ``sql`` with ``params`` bound to ``$1``, ``$2``... and return its rows (an empty
        sequence for a statement without a result).

        Each row is a sequence of the column values in select order (a tuple, an
        ``asyncpg.Record``); a mapping by column name in select order (a ``dict``, as the npm
        interface returns) is accepted too. Errors are the driver's own; the stores translate
        them (an ``sqlstate`` attribute of ``42P01``, undefined table, becomes
        :class:`~aibind.core.errors.SchemaError`).
        """
        ...


class ListenHandle(Protocol):
    """A dedicated connection listening on one channel (returned by
    :meth:`SupportsListen.listen`)."""

    @property
    def backend_pid(self) -> int | None:
        """The server process id of the connection (``pg_backend_pid()``)."""
        ...

    async def set_listening(self, on: bool) -> None:
        """``LISTEN`` (``on=True``) or ``UNLISTEN`` (``False``) the channel on the same
        connection; the store unlistens while it has no follower.

        Raises:
            Exception: the driver's error if the connection is broken.
        """
        ...

    async def wait_closed(self) -> None:
        """Return once :meth:`close` was called; raise the driver's error once the connection
        is lost."""
        ...

    async def close(self) -> None:
        """Stop listening and release the connection. Idempotent."""
        ...


@runtime_checkable
class SupportsListen(Protocol):
    """Optional client capability: push notifications through ``LISTEN``."""

    async def listen(self, channel: str, on_payload: Callable[[str], None]) -> ListenHandle:
        """Take a dedicated autocommit connection (never one of a pool's: a pool of one would
        otherwise have none left for queries), ``LISTEN`` on ``channel`` (an identifier,
        quoted by the implementation) and call ``on_payload(payload)`` for every notification
        until the handle is closed or the connection drops. Returns once ``LISTEN`` is active.

        Raises:
            BackendUnavailableError: the connection cannot be opened.
        """
        ...


def wrap_psycopg(target: Any, *, listen_conninfo: str | None = None) -> PsycopgClient:
    """Adapt a psycopg 3 ``AsyncConnection`` or ``psycopg_pool.AsyncConnectionPool`` to
    :class:`PostgresClient` with :class:`SupportsListen`.

    Statements run on ``psycopg.AsyncRawCursor`` (``$n`` placeholders pass through) in
    autocommit mode: a pooled connection that is not in autocommit mode is switched for the
    call; a single connection that is not gets one transaction per call, serialised.

    Args:
        target: the connection or pool; the stores never close it.
        listen_conninfo: where the dedicated LISTEN connection connects (a URL or conninfo
            string). Default: the wrapped connection's parameters, or the pool's ``conninfo``
            and ``kwargs``. Give a direct server address when ``target`` goes through
            PgBouncer in transaction mode (LISTEN does not survive transaction pooling).

    Returns:
        the adapter (``target`` itself if it already is one).

    Raises:
        MissingDriverError: psycopg is not installed (``aibind-postgres[psycopg]``).
        TypeError: ``target`` is not an async psycopg connection or pool (a sync one would
            block the event loop).
    """
    from aibind.postgres._psycopg import wrap

    return wrap(target, listen_conninfo=listen_conninfo)


def wrap_asyncpg(
    target: Any, *, listen_dsn: str | None = None, acquire_timeout: float | None = None
) -> AsyncpgClient:
    """Adapt an ``asyncpg.Pool`` or ``asyncpg.Connection`` to :class:`PostgresClient` with
    :class:`SupportsListen`.

    Args:
        target: the pool or connection; the stores never close it.
        listen_dsn: where the dedicated LISTEN connection connects. Default: a pool opens one
            more connection exactly as it opens its own (outside the pool, so a pool of
            ``max_size=1`` keeps its connection for queries); a single connection listens
            itself (asyncpg delivers notifications between queries). Give a direct server
            address when ``target`` goes through PgBouncer in transaction mode.
        acquire_timeout: seconds a query waits for a free pool connection before
            :class:`~aibind.core.errors.BackendTimeoutError` (``None``: wait, as asyncpg does).

    Returns:
        the adapter (``target`` itself if it already is one).

    Raises:
        MissingDriverError: asyncpg is not installed (``aibind-postgres[asyncpg]``).
        TypeError: ``target`` is not an asyncpg pool or connection.
    """
    from aibind.postgres._asyncpg import wrap

    return wrap(target, listen_dsn=listen_dsn, acquire_timeout=acquire_timeout)


class _Positional:
    """A caller's :class:`PostgresClient` whose rows may be mappings, read by position."""

    __slots__ = ("inner",)

    def __init__(self, inner: PostgresClient) -> None:
        self.inner = inner

    async def query(self, sql: str, params: Sequence[object] = ()) -> list[Sequence[Any]]:
        rows = await self.inner.query(sql, params)
        return [tuple(r.values()) if isinstance(r, Mapping) else r for r in rows]


def _module(obj: object) -> str:
    return type(obj).__module__.split(".", 1)[0]


def as_client(obj: object, what: str = "client") -> Any:
    """``obj`` as a client the stores use: a psycopg ``AsyncConnection`` /
    ``AsyncConnectionPool`` or an asyncpg ``Connection`` / ``Pool`` wrapped with
    :func:`wrap_psycopg` / :func:`wrap_asyncpg`; our own adapters as they are; any other
    :class:`PostgresClient` behind a shim reading mapping rows by position (its ``listen``,
    if any, kept).

    Raises:
        TypeError: ``obj`` is none of these (sync psycopg objects included).
    """
    module = _module(obj)
    if module in ("psycopg", "psycopg_pool"):
        return wrap_psycopg(obj)
    if module == "asyncpg":
        return wrap_asyncpg(obj)
    if getattr(type(obj), "_aibind_positional", False):  # our adapters and the from_url client
        return obj
    if isinstance(obj, PostgresClient):
        if isinstance(obj, SupportsListen):
            return _ListeningPositional(obj)
        return _Positional(obj)
    raise TypeError(
        f"{what} must be a PostgresClient (an object with async query(sql, params)), a psycopg "
        f"AsyncConnection/AsyncConnectionPool or an asyncpg Connection/Pool, "
        f"not {type(obj).__name__}"
    )


class _ListeningPositional(_Positional):
    """:class:`_Positional` for a client that can also listen."""

    __slots__ = ()

    async def listen(self, channel: str, on_payload: Callable[[str], None]) -> ListenHandle:
        inner: Any = self.inner
        handle: ListenHandle = await inner.listen(channel, on_payload)
        return handle
