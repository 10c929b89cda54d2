"""The ``postgresql://`` / ``postgres://`` backend of the registry (entry-point group
``aibind.backends``), plus ``postgresql+psycopg://`` and ``postgresql+asyncpg://`` to pick the
driver."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aibind.core.kit import open_pair
from aibind.core.registry import Stores
from aibind.postgres._pool import POSTGRES_CLIENT
from aibind.postgres.conversations import PostgresConversationStore
from aibind.postgres.streams import PostgresStreamStore

__all__ = ["POSTGRES_CLIENT", "open_postgres_stores"]


def open_postgres_stores(
    url: str,
    *,
    stream_options: Mapping[str, Any] | None = None,
    conversation_options: Mapping[str, Any] | None = None,
) -> Stores:
    """A :class:`PostgresStreamStore` and a :class:`PostgresConversationStore` sharing one
    pool opened from ``url`` (lazily: on first use, ``await stores.open()`` or ``async with``)
    and closed with the second store. What ``aibind.core.open_stores`` returns for PostgreSQL.

    Args:
        url: ``postgresql://user:password@host:port/db`` (or ``postgres://``,
            ``postgresql+psycopg://``, ``postgresql+asyncpg://``). Query options: the stream
            store's (``chunks_table``, ``status_table``, ``ttl``, ``poll_interval``), the
            conversation store's with a ``conversation_`` prefix (``conversation_table``,
            ``conversation_ttl``), the pool's (``driver``, ``min_size``, ``max_size``,
            ``listen_url``, ``pool_timeout``); libpq parameters (``sslmode``...) go to the
            driver.
        stream_options: keyword options of the stream store and the pool (win over the URL).
        conversation_options: keyword options of the conversation store.

    Returns:
        the :class:`~aibind.core.registry.Stores` (an async context manager).

    Raises:
        MissingDriverError: no driver installed (the message names the extra).
        TypeError, ValueError: a malformed URL or an unknown / malformed option.
    """
    return open_pair(
        PostgresStreamStore,
        PostgresConversationStore,
        url,
        stream_options=stream_options,
        conversation_options=conversation_options,
    )
