"""The public ``wrap_psycopg`` / ``wrap_asyncpg``, importable without either driver installed
(the driver is imported when called)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aibind.postgres.asyncpg_client import AsyncpgClient
    from aibind.postgres.psycopg_client import PsycopgClient

__all__ = ["wrap_asyncpg", "wrap_psycopg"]


def wrap_psycopg(target: Any, *, listen_conninfo: str | None = None) -> PsycopgClient:
    """Adapt a psycopg 3 ``AsyncConnection`` or ``psycopg_pool.AsyncConnectionPool`` to
    :class:`~aibind.postgres.PostgresClient` (raw cursors, so ``$n`` placeholders work) with
    LISTEN support. See :func:`aibind.postgres.psycopg_client.wrap_psycopg`.

    Raises:
        MissingDriverError: psycopg is not installed (``aibind-postgres[psycopg]``).
        TypeError: ``target`` is not an async psycopg connection or pool.
    """
    from aibind.postgres.psycopg_client import wrap_psycopg as wrap

    return wrap(target, listen_conninfo=listen_conninfo)


def wrap_asyncpg(target: Any, *, listen_dsn: str | None = None) -> AsyncpgClient:
    """Adapt an ``asyncpg.Pool`` or ``asyncpg.Connection`` to
    :class:`~aibind.postgres.PostgresClient` with LISTEN support. See
    :func:`aibind.postgres.asyncpg_client.wrap_asyncpg`.

    Raises:
        MissingDriverError: asyncpg is not installed (``aibind-postgres[asyncpg]``).
        TypeError: ``target`` is not an asyncpg pool or connection.
    """
    from aibind.postgres.asyncpg_client import wrap_asyncpg as wrap

    return wrap(target, listen_dsn=listen_dsn)
