"""The ``postgresql://`` and ``postgres://`` backends of the registry (entry-point group
``aibind.backends``), plus ``postgresql+psycopg://`` and ``postgresql+asyncpg://`` to pick the
driver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aibind.core.registry import Stores, redact_url
from aibind.postgres.connect import from_url
from aibind.postgres.conversations import PostgresConversationStore
from aibind.postgres.streams import PostgresStreamStore

__all__ = ["open_postgres_stores"]


@asynccontextmanager
async def open_postgres_stores(
    url: str,
    *,
    stream_options: Mapping[str, Any] | None = None,
    conversation_options: Mapping[str, Any] | None = None,
) -> AsyncIterator[Stores]:
    """Open one pool for ``url`` and yield a :class:`PostgresStreamStore` and a
    :class:`PostgresConversationStore` sharing it; on exit close both and the pool.

    Args:
        url: ``postgresql://user:password@host:port/db`` (or ``postgres://``,
            ``postgresql+psycopg://``, ``postgresql+asyncpg://``).
        stream_options: keyword options of :class:`PostgresStreamStore` (``ttl``,
            ``chunks_table``...).
        conversation_options: keyword options of :class:`PostgresConversationStore`.

    Raises:
        MissingDriverError: no driver installed (the message names the extra).
        TypeError, ValueError: malformed URL or options.
    """
    async with from_url(url) as pool:
        streams = PostgresStreamStore(pool, **dict(stream_options or {}))
        conversations = PostgresConversationStore(pool, **dict(conversation_options or {}))
        try:
            yield Stores(streams=streams, conversations=conversations, url=redact_url(url))
        finally:
            await streams.aclose()
            await conversations.aclose()
