"""The client ``from_url`` builds: a connection pool of the chosen driver, opened on the store's
first use (or ``open()`` / ``async with``) and closed with the last store holding it.

The driver is the ``driver`` option, or the URL scheme (``postgresql+psycopg://`` /
``postgresql+asyncpg://``), or else whichever is installed (psycopg first). Opening checks that
the server answers with one direct connection first, so an unreachable server is a prompt
:class:`~aibind.core.errors.BackendUnavailableError` naming the cause (not psycopg_pool's
``PoolTimeout`` 30 s later).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import math
from collections.abc import Callable, Sequence
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from aibind.core.errors import MissingDriverError, StoreClosedError
from aibind.core.kit import ClientOpener, Owned, parse_float, parse_int, parse_str
from aibind.core.registry import redact_url
from aibind.postgres._errors import connect_error
from aibind.postgres.client import ListenHandle

__all__ = ["LIBPQ_PARAMETERS", "POSTGRES_CLIENT", "UrlClient", "pick_driver", "split_driver"]

Driver = Literal["psycopg", "asyncpg"]

DEFAULT_CONNECT_TIMEOUT = 10
"""Seconds a connection attempt may take unless the URL sets ``connect_timeout``."""

LIBPQ_PARAMETERS = frozenset(
    (
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "password",
        "passfile",
        "require_auth",
        "channel_binding",
        "connect_timeout",
        "client_encoding",
        "options",
        "application_name",
        "fallback_application_name",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "replication",
        "gssencmode",
        "sslmode",
        "requiressl",
        "sslcompression",
        "sslcert",
        "sslkey",
        "sslpassword",
        "sslcertmode",
        "sslrootcert",
        "sslcrl",
        "sslcrldir",
        "sslsni",
        "requirepeer",
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
        "krbsrvname",
        "gsslib",
        "gssdelegation",
        "service",
        "target_session_attrs",
        "load_balance_hosts",
        "sslnegotiation",
    )
)
"""libpq's connection parameter keywords: left in the URL for the driver (PostgreSQL docs,
"Parameter Key Words")."""

_MODULES: dict[str, tuple[str, ...]] = {
    "psycopg": ("psycopg", "psycopg_pool"),
    "asyncpg": ("asyncpg",),
}


def _installed(driver: str) -> bool:
    for module in _MODULES[driver]:
        try:
            importlib.import_module(module)
        except ImportError:
            return False
    return True


def pick_driver(driver: str | None = None) -> Driver:
    """The driver to use: ``driver`` if given and installed, else psycopg if installed, else
    asyncpg.

    Raises:
        ValueError: ``driver`` is not ``"psycopg"``, ``"asyncpg"`` or ``None``.
        MissingDriverError: the driver (or any driver) is not installed; the message names the
            extra to install.
    """
    if driver is not None:
        if driver not in _MODULES:
            raise ValueError(f"driver must be 'psycopg' or 'asyncpg', got {driver!r}")
        if not _installed(driver):
            modules = " and ".join(_MODULES[driver])
            raise MissingDriverError(
                f'driver {driver!r} needs {modules}: pip install "aibind-postgres[{driver}]"'
            )
        return "psycopg" if driver == "psycopg" else "asyncpg"
    for name in ("psycopg", "asyncpg"):
        if _installed(name):
            return "psycopg" if name == "psycopg" else "asyncpg"
    raise MissingDriverError(
        'no PostgreSQL driver is installed: pip install "aibind-postgres[psycopg]" '
        '(psycopg 3 with psycopg-pool) or "aibind-postgres[asyncpg]"'
    )


def split_driver(url: str) -> tuple[str, str | None]:
    """Split ``postgresql+asyncpg://...`` into (``postgresql://...``, ``"asyncpg"``); other
    URLs come back unchanged with ``None``.

    Raises:
        TypeError: ``url`` is not a ``str``.
        ValueError: the scheme is not ``postgresql``/``postgres`` (with an optional driver).
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    base, _, driver = scheme.lower().partition("+")
    if not sep or base not in ("postgresql", "postgres"):
        raise ValueError(
            f"url must start with postgresql:// or postgres://, got {redact_url(url)!r}"
        )
    return f"{base}://{rest}", (driver or None)


def _pop_connect_timeout(url: str) -> tuple[str, float | None]:
    """The URL without ``connect_timeout`` and its value (asyncpg would take it for a server
    setting)."""
    parts = urlsplit(url)
    kept, timeout = [], None
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "connect_timeout":
            timeout = float(value)
        else:
            kept.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(kept, quote_via=quote))), timeout


class UrlClient:
    """The pool a store opened from a URL (and therefore closes): a
    :class:`~aibind.postgres.PostgresClient` with the listening capability.

    Args:
        url: ``postgresql://user:password@host:port/db`` (``postgres://`` and
            ``postgresql+psycopg://`` / ``postgresql+asyncpg://`` accepted); libpq parameters
            in the query string go to the driver.
        driver: ``"psycopg"``, ``"asyncpg"`` or ``None`` (see :func:`pick_driver`).
        min_size: connections the pool keeps open.
        max_size: most pooled connections at once (the LISTEN connection is separate).
        listen_url: where the dedicated LISTEN connection goes (default ``url``); point it at
            the server directly when ``url`` is a PgBouncer in transaction mode.
        pool_timeout: seconds a call waits for a free pooled connection before
            :class:`~aibind.core.errors.BackendTimeoutError`.

    Raises:
        MissingDriverError: no usable driver is installed.
        ValueError, TypeError: malformed arguments.
    """

    _aibind_positional = True

    def __init__(
        self,
        url: str,
        *,
        driver: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        listen_url: str | None = None,
        pool_timeout: float = 30.0,
    ) -> None:
        plain, from_scheme = split_driver(url)
        if driver is not None and from_scheme is not None and driver != from_scheme:
            raise ValueError(f"driver={driver!r} disagrees with the URL scheme's {from_scheme!r}")
        self.driver: Driver = pick_driver(driver or from_scheme)
        sizes_ok = isinstance(min_size, int) and isinstance(max_size, int)
        if not sizes_ok or not 0 <= min_size <= max_size or max_size < 1:
            raise ValueError(
                f"need 0 <= min_size <= max_size and max_size >= 1; got {min_size}, {max_size}"
            )
        if isinstance(pool_timeout, bool) or not isinstance(pool_timeout, (int, float)):
            raise TypeError(f"pool_timeout must be a number, not {type(pool_timeout).__name__}")
        if not (math.isfinite(pool_timeout) and pool_timeout > 0):
            raise ValueError(f"pool_timeout must be a positive number of seconds: {pool_timeout}")
        self.url = plain
        self._listen_url = split_driver(listen_url)[0] if listen_url is not None else None
        self._min_size = min_size
        self._max_size = max_size
        self._pool_timeout = float(pool_timeout)
        self._pool: Any = None
        self._inner: Any = None
        self._closed = False

    def __repr__(self) -> str:
        return f"UrlClient({redact_url(self.url)!r}, driver={self.driver!r})"

    async def open(self) -> None:
        """Open the pool (first checking with one direct connection that the server answers).

        Raises:
            BackendUnavailableError: the server cannot be reached or refuses the connection
                (the driver's error chained, its type in the message).
            StoreClosedError: :meth:`close` was called.
        """
        if self._closed:
            raise StoreClosedError("this PostgreSQL pool has been closed")
        if self._inner is not None:
            return
        if self.driver == "psycopg":
            await self._open_psycopg()
        else:
            await self._open_asyncpg()

    async def _open_psycopg(self) -> None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict
        from psycopg_pool import AsyncConnectionPool

        from aibind.postgres._psycopg import PsycopgClient

        where = f"a connection to PostgreSQL at {redact_url(self.url)}"
        kwargs: dict[str, Any] = {"autocommit": True}
        try:
            if "connect_timeout" not in conninfo_to_dict(self.url):
                kwargs["connect_timeout"] = DEFAULT_CONNECT_TIMEOUT
            probe = await psycopg.AsyncConnection.connect(self.url, **kwargs)
        except Exception as exc:
            raise connect_error(exc, where) from exc
        await probe.close()
        pool: Any = AsyncConnectionPool(
            self.url,
            min_size=self._min_size,
            max_size=self._max_size,
            kwargs=kwargs,
            open=False,
            timeout=self._pool_timeout,
            name="aibind-postgres",
        )
        try:
            await pool.open(wait=True, timeout=self._pool_timeout)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, Exception):
                raise connect_error(exc, where) from exc
            raise
        listen_kwargs = {k: v for k, v in kwargs.items() if k != "autocommit"}
        self._pool = pool
        self._inner = PsycopgClient(
            pool,
            listen_conninfo=self._listen_url or self.url,
            listen_kwargs=listen_kwargs,
            hold=True,
        )

    async def _open_asyncpg(self) -> None:
        import asyncpg

        from aibind.postgres._asyncpg import AsyncpgClient

        where = f"a connection to PostgreSQL at {redact_url(self.url)}"
        dsn, timeout = _pop_connect_timeout(self.url)
        timeout = float(DEFAULT_CONNECT_TIMEOUT) if timeout is None else timeout
        try:
            pool: Any = await asyncpg.create_pool(
                dsn, min_size=self._min_size, max_size=self._max_size, timeout=timeout
            )
            if self._min_size == 0:  # nothing connected yet: check the server answers
                await pool.execute("SELECT 1")
        except Exception as exc:
            raise connect_error(exc, where) from exc
        listen_dsn = _pop_connect_timeout(self._listen_url)[0] if self._listen_url else dsn
        self._pool = pool
        self._inner = AsyncpgClient(
            pool,
            listen_dsn=listen_dsn,
            listen_kwargs={"timeout": timeout},
            acquire_timeout=self._pool_timeout,
            hold=True,
        )

    def _client(self) -> Any:
        inner = self._inner
        if inner is None:
            if self._closed:
                raise StoreClosedError("this PostgreSQL pool has been closed")
            raise RuntimeError("the pool is not open yet (the store opens it on first use)")
        return inner

    async def query(self, sql: str, params: Sequence[object] = ()) -> Sequence[Sequence[Any]]:
        """Run one statement (see :class:`~aibind.postgres.PostgresClient`)."""
        rows: Sequence[Sequence[Any]] = await self._client().query(sql, params)
        return rows

    async def listen(self, channel: str, on_payload: Callable[[str], None]) -> ListenHandle:
        """Open the dedicated LISTEN connection to ``listen_url`` (see
        :class:`~aibind.postgres.client.SupportsListen`)."""
        handle: ListenHandle = await self._client().listen(channel, on_payload)
        return handle

    async def close(self) -> None:
        """Close the pool (waiting at most 5 s for connections in use). Idempotent; later
        queries raise :class:`StoreClosedError`."""
        self._closed = True
        pool, inner = self._pool, self._inner
        self._pool = self._inner = None
        if pool is None:
            return
        with contextlib.suppress(Exception):  # the pool closes it anyway
            await inner.release_held()
        if self.driver == "psycopg":
            await pool.close(timeout=5.0)
            return
        try:
            await asyncio.wait_for(pool.close(), 5.0)
        except asyncio.TimeoutError:
            pool.terminate()


def open_url_client(url: str, options: dict[str, Any]) -> Owned[UrlClient]:
    """The ``from_url`` client opener (see :class:`UrlClient` for ``options``): builds the
    client without connecting.

    Raises:
        MissingDriverError, TypeError, ValueError: as :class:`UrlClient`.
    """
    client = UrlClient(url, **options)
    return Owned(client, open=client.open, close=client.close)


POSTGRES_CLIENT = ClientOpener(
    open_url_client,
    options={
        "driver": parse_str,
        "min_size": parse_int,
        "max_size": parse_int,
        "listen_url": parse_str,
        "pool_timeout": parse_float,
    },
    passthrough=LIBPQ_PARAMETERS.__contains__,
)
"""How both stores' ``from_url`` and the registry open a PostgreSQL client: client options
``driver``, ``min_size``, ``max_size``, ``listen_url``, ``pool_timeout``; libpq parameters
(``sslmode``, ``application_name``, ``connect_timeout``...) stay in the URL for the driver."""
