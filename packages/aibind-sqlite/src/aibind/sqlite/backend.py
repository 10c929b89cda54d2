"""The ``sqlite`` URL scheme of the backend registry (``aibind.backends`` entry point)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aibind.core.kit import open_pair
from aibind.core.registry import Stores
from aibind.sqlite.conversations import SqliteConversationStore
from aibind.sqlite.streams import SqliteStreamStore

__all__ = ["open_sqlite_stores"]


def open_sqlite_stores(
    url: str,
    *,
    stream_options: Mapping[str, Any] | None = None,
    conversation_options: Mapping[str, Any] | None = None,
) -> Stores:
    """A :class:`SqliteStreamStore` and a :class:`SqliteConversationStore` sharing one
    connection to the file ``url`` names (WAL, ``synchronous=NORMAL``, a busy timeout), opened
    at first use or on ``async with``, closed with the stores. Tables are not created: call
    ``setup()`` on each store (or ``aibind setup URL``).

    Args:
        url: ``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``sqlite:///:memory:``,
            with optional query options: ``busy_timeout``, ``ttl``, ``poll_interval``,
            ``chunks_table``, ``status_table``, ``conversation_table``, ``conversation_ttl``.
        stream_options: keyword options of :class:`SqliteStreamStore` plus ``busy_timeout``.
        conversation_options: keyword options of :class:`SqliteConversationStore` (``ttl``,
            ``table``).

    Raises:
        TypeError, ValueError: malformed URL or option.
    """
    return open_pair(
        SqliteStreamStore,
        SqliteConversationStore,
        url,
        stream_options=stream_options,
        conversation_options=conversation_options,
    )
