"""Opening a connection pool from a URL: :func:`from_url` and :class:`PostgresPool`.

The stores' ``from_url`` and the ``postgresql://`` backend of the registry use it. The driver
is chosen by the ``driver`` argument, by a ``postgresql+psycopg://`` / ``postgresql+asyncpg://``
URL scheme, or else whichever is installed (psycopg first).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Literal

from aibind.core.errors import StoreClosedError
from aibind.core.registry import redact_url
from aibind.postgres.client import ListenHandle, MissingDriverError, PostgresClient, Row

__all__ = ["Driver", "PostgresPool", "from_url", "pick_driver", "split_driver"]

Driver = Literal["psycopg", "asyncpg"]

_EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "psycopg": ("psycopg", "psycopg_pool"),
    "asyncpg": ("asyncpg",),
}


def _installed(driver: str) -> bool:
    for module in _EXTRA_MODULES[driver]:
        try:
            importlib.import_module(module)
        except ImportError:
            return False
    return True


def pick_driver(driver: str | None = None) -> Driver:
    """Choose the driver: ``driver`` if given and installed, else psycopg if installed, else
    asyncpg.

    Raises:
        ValueError: ``driver`` is not ``"psycopg"``, ``"asyncpg"`` or ``None``.
        MissingDriverError: the driver (or any driver) is not installed; the message names the
            extra to install.
    """
    if driver is not None:
        if driver not in _EXTRA_MODULES:
            raise ValueError(f"driver must be 'psycopg' or 'asyncpg', got {driver!r}")
        if not _installed(driver):
            modules = " and ".join(_EXTRA_MODULES[driver])
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


class PostgresPool:
    """A connection pool this library opened from a URL, and therefore closes: a
    :class:`~aibind.postgres.client.PostgresClient` with the listening capability.

    It opens lazily on first use (or on ``async with``); :meth:`aclose` closes it.

    Args:
        url: ``postgresql://user:password@host:port/db`` (``postgres://`` and
            ``postgresql+psycopg://`` / ``postgresql+asyncpg://`` accepted).
        driver: ``"psycopg"``, ``"asyncpg"`` or ``None`` (see :func:`pick_driver`).
        min_size: connections kept open.
        max_size: most connections at once (the LISTEN connection is separate).
        listen_url: where the dedicated LISTEN connection goes (default ``url``); point it at
            the server directly when ``url`` is a PgBouncer in transaction mode.

    Raises:
        MissingDriverError: no usable driver is installed.
        ValueError, TypeError: malformed arguments.
    """

    def __init__(
        self,
        url: str,
        *,
        driver: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        listen_url: str | None = None,
    ) -> None:
        plain, from_scheme = split_driver(url)
        if driver is not None and from_scheme is not None and driver != from_scheme:
            raise ValueError(f"driver={driver!r} disagrees with the URL scheme's {from_scheme!r}")
        self.driver: Driver = pick_driver(driver or from_scheme)
        if not (isinstance(min_size, int) and isinstance(max_size, int)) or not (
            0 <= min_size <= max_size and max_size >= 1
        ):
            raise ValueError(
                f"need 0 <= min_size <= max_size, max_size >= 1; got {min_size}, {max_size}"
            )
        self.url = plain
        self._listen_url = split_driver(listen_url)[0] if listen_url is not None else plain
        self._min_size = min_size
        self._max_size = max_size
        self._client: Any = None
        self._pool: Any = None
        self._lock = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresPool({redact_url(self.url)!r}, driver={self.driver!r})"

    async def open(self) -> PostgresClient:
        """Open the pool if not yet open and return the driver client.

        Raises:
            StoreClosedError: :meth:`aclose` was called.
            Exception: the driver's connection errors, unchanged (the stores translate them).
        """
        if self._client is not None:
            return self._client  # type: ignore[no-any-return]
        async with self._lock:
            if self._closed:
                raise StoreClosedError("this PostgresPool has been closed")
            if self._client is None:
                if self.driver == "psycopg":
                    from psycopg_pool import AsyncConnectionPool

                    from aibind.postgres.psycopg_client import wrap_psycopg

                    pool: Any = AsyncConnectionPool(
                        self.url,
                        min_size=self._min_size,
                        max_size=self._max_size,
                        kwargs={"autocommit": True},
                        open=False,
                    )
                    await pool.open(wait=True)
                    self._pool = pool
                    self._client = wrap_psycopg(pool, listen_conninfo=self._listen_url)
                else:
                    import asyncpg

                    from aibind.postgres.asyncpg_client import wrap_asyncpg

                    pool = await asyncpg.create_pool(
                        self.url, min_size=self._min_size, max_size=self._max_size
                    )
                    self._pool = pool
                    self._client = wrap_asyncpg(pool, listen_dsn=self._listen_url)
        return self._client  # type: ignore[no-any-return]

    async def query(self, sql: str, params: Sequence[object] = ()) -> Sequence[Row]:
        """Run one statement (see :class:`~aibind.postgres.client.PostgresClient`)."""
        client = self._client if self._client is not None else await self.open()
        return await client.query(sql, params)

    async def listen(self, channel: str, on_payload: Callable[[str], None]) -> ListenHandle:
        """Open a dedicated LISTEN connection to ``listen_url`` (see
        :class:`~aibind.postgres.client.SupportsListen`)."""
        client: Any = await self.open()
        return await client.listen(channel, on_payload)  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Close the pool. Idempotent; later queries raise :class:`StoreClosedError`."""
        async with self._lock:
            self._closed = True
            pool, self._pool, self._client = self._pool, None, None
        if pool is not None:
            await pool.close()

    async def __aenter__(self) -> PostgresPool:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def from_url(
    url: str,
    *,
    driver: str | None = None,
    min_size: int = 1,
    max_size: int = 10,
    listen_url: str | None = None,
) -> PostgresPool:
    """Open a pool for ``url``; use it as an async context manager (it closes on exit) or
    call :meth:`PostgresPool.aclose`. See :class:`PostgresPool` for the arguments.

    Example::

        async with from_url(os.environ["DATABASE_URL"], driver="asyncpg") as db:
            store = PostgresStreamStore(db)

    Raises:
        MissingDriverError: the driver is not installed (the message names the extra).
    """
    return PostgresPool(
        url, driver=driver, min_size=min_size, max_size=max_size, listen_url=listen_url
    )
