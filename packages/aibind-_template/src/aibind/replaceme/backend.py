"""The ``replaceme://`` backend of the registry (entry-point group ``aibind.backends``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aibind.core.kit import open_pair
from aibind.core.registry import Stores
from aibind.replaceme.conversations import ReplacemeConversationStore
from aibind.replaceme.streams import ReplacemeStreamStore

__all__ = ["open_replaceme_stores"]


def open_replaceme_stores(
    url: str,
    *,
    stream_options: Mapping[str, Any] | None = None,
    conversation_options: Mapping[str, Any] | None = None,
) -> Stores:
    """Both stores of ``url`` on one shared client (closed with the second store), for
    :func:`aibind.core.open_stores`.

    Args:
        url: ``replaceme://<name>``; query options ``ttl``, ``poll_interval`` (streams) and
            ``conversation_ttl``.
        stream_options: keyword options of :class:`ReplacemeStreamStore`.
        conversation_options: keyword options of :class:`ReplacemeConversationStore`.

    Raises:
        TypeError, ValueError: a malformed URL or option.
    """
    return open_pair(
        ReplacemeStreamStore,
        ReplacemeConversationStore,
        url,
        stream_options=stream_options,
        conversation_options=conversation_options,
    )
