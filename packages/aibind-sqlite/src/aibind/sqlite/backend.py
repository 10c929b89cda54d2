"""The ``sqlite`` URL scheme of the backend registry (``aibind.backends`` entry point)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aibind.core.registry import Stores
from aibind.core.validation import check_ttl
from aibind.sqlite._base import LazyFileClient
from aibind.sqlite.conversations import SqliteConversationStore
from aibind.sqlite.streams import SqliteStreamStore

__all__ = ["open_sqlite_stores"]


@asynccontextmanager
async def open_sqlite_stores(
    url: str,
    *,
    stream_options: Mapping[str, Any] | None = None,
    conversation_options: Mapping[str, Any] | None = None,
) -> AsyncIterator[Stores]:
    """Open one aiosqlite connection to the file ``url`` names (``from_url`` semantics: WAL,
    ``synchronous=NORMAL``, a busy timeout) and yield a :class:`SqliteStreamStore` and a
    :class:`SqliteConversationStore` sharing it; both and the connection are closed on exit.
    Tables are not created: call ``setup()`` on each store (or ``aibind setup URL``).

    Args:
        url: ``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``sqlite:///:memory:``.
        stream_options: keyword options of :class:`SqliteStreamStore` (``ttl``,
            ``poll_interval``, ``chunks_table``, ``status_table``) plus ``busy_timeout``.
        conversation_options: keyword options of :class:`SqliteConversationStore` (``ttl``,
            ``table``).

    Raises:
        TypeError, ValueError: malformed URL or option.
    """
    stream_opts = dict(stream_options or {})
    busy_timeout = check_ttl(stream_opts.pop("busy_timeout", 5.0), "busy_timeout")
    lazy = LazyFileClient(url, busy_timeout)
    streams = SqliteStreamStore(lazy, **stream_opts)
    conversations = SqliteConversationStore(lazy, **dict(conversation_options or {}))
    await lazy.open()
    try:
        yield Stores(streams=streams, conversations=conversations, url=url)
    finally:
        try:
            await streams.aclose()
            await conversations.aclose()
        finally:
            await lazy.aclose()
