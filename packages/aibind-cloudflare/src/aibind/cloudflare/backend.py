"""The ``d1`` URL scheme of the backend registry (``aibind.backends`` entry point): streams and
conversations in a D1 database (conversations optionally in KV) over Cloudflare's REST API, so
``open_stores("d1://...")``, ``aibind demo --url d1://...``, ``aibind status`` and
``aibind tail`` work from any Python process."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aibind.cloudflare.d1_http import D1HttpClient
from aibind.cloudflare.kv import KVConversationStore
from aibind.cloudflare.kv_http import KVHttpClient
from aibind.cloudflare.url import parse_d1_url
from aibind.core.kit import Owned
from aibind.core.registry import Stores, redact_url
from aibind.sqlite import SqliteConversationStore, SqliteStreamStore

__all__ = ["HTTP_POLL_INTERVAL", "open_d1_stores"]

HTTP_POLL_INTERVAL = 1.0
"""Default ``poll_interval`` (seconds) of the stream store over HTTP: while a store has
followers waiting, it checks D1 for other processes' writes this often, one API request each
time, against Cloudflare's 1,200 requests per 5 minutes per token. Writes through the same
store reach its followers at once."""


def open_d1_stores(
    url: str,
    *,
    stream_options: Mapping[str, Any] | None = None,
    conversation_options: Mapping[str, Any] | None = None,
) -> Stores:
    """A :class:`~aibind.sqlite.SqliteStreamStore` on the D1 database ``url`` names and a
    conversation store — a :class:`~aibind.cloudflare.KVConversationStore` when the URL names
    ``kv_namespace``, else a :class:`~aibind.sqlite.SqliteConversationStore` on the same
    database — sharing one :class:`~aibind.cloudflare.D1HttpClient` (one httpx connection
    pool, opened on first use, closed with the second store). Tables are not created: call
    ``setup()`` (or ``aibind setup URL``).

    The token comes from ``CLOUDFLARE_API_TOKEN``, the base URL from ``CLOUDFLARE_BASE_URL``
    (default ``https://api.cloudflare.com/client/v4``).

    Args:
        url: ``d1://<account_id>/<database_id>[?kv_namespace=<namespace_id>&...]``, with store
            options as query parameters (see :mod:`aibind.cloudflare.url`).
        stream_options: keyword options of :class:`~aibind.sqlite.SqliteStreamStore`
            (``poll_interval`` defaults to :data:`HTTP_POLL_INTERVAL` here); they win over
            the URL's.
        conversation_options: keyword options of the conversation store (win over the URL's).

    Returns:
        :class:`~aibind.core.registry.Stores` (``async with`` opens and closes both).

    Raises:
        TypeError, ValueError: a malformed URL or option, or no API token.
    """
    target = parse_d1_url(url)
    stream_opts = {
        "poll_interval": HTTP_POLL_INTERVAL,
        **target.stream_options,
        **dict(stream_options or {}),
    }
    conversation_opts = {**target.conversation_options, **dict(conversation_options or {})}
    d1 = D1HttpClient(target.account_id, target.database_id)  # connects on first use
    streams = SqliteStreamStore(d1, **stream_opts)
    conversations: KVConversationStore | SqliteConversationStore
    if target.kv_namespace is not None:
        kv = KVHttpClient(
            target.account_id,
            target.kv_namespace,
            base_url=d1.base_url,
            http_client=d1.http_client,
        )
        conversations = KVConversationStore(kv, **conversation_opts)
    else:
        conversations = SqliteConversationStore(d1, **conversation_opts)
    owned = Owned(d1, close=d1.aclose)
    streams._adopt(owned)
    conversations._adopt(owned.share())
    return Stores(streams=streams, conversations=conversations, url=redact_url(url))
