"""``d1://`` URLs: which D1 database (and optionally which KV namespace) the ``d1`` backend of
the registry opens over Cloudflare's REST API, with store options as query parameters parsed
by the kit the same way as on every backend.

Form: ``d1://<account_id>/<database_id>[?kv_namespace=<namespace_id>&<option>=<value>...]``.
Options: the stream store's ``ttl``, ``poll_interval``, ``chunks_table``, ``status_table``; the
conversation store's with a ``conversation_`` prefix (``conversation_ttl``, and
``conversation_table`` on D1 or ``conversation_prefix`` in KV). The API token and base URL
never go in the URL (it ends up in logs): they come from ``CLOUDFLARE_API_TOKEN`` and
``CLOUDFLARE_BASE_URL``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aibind.cloudflare._values import check_resource_id
from aibind.core.kit import (
    CONVERSATION_PREFIX,
    Parser,
    parse_float,
    parse_optional_float,
    parse_str,
    split_url_options,
)

__all__ = ["URL_OPTIONS", "D1Url", "parse_d1_url"]

URL_OPTIONS: Mapping[str, Parser] = {
    "kv_namespace": parse_str,
    "ttl": parse_float,
    "poll_interval": parse_optional_float,
    "chunks_table": parse_str,
    "status_table": parse_str,
    "conversation_ttl": parse_float,
    "conversation_table": parse_str,
    "conversation_prefix": parse_str,
}
"""The query options of a ``d1://`` URL and their parsers."""

_EXAMPLE = "d1://<account_id>/<database_id>[?kv_namespace=<namespace_id>]"


@dataclass(frozen=True)
class D1Url:
    """A parsed ``d1://`` URL.

    Attributes:
        account_id: the Cloudflare account id.
        database_id: the D1 database id.
        kv_namespace: the KV namespace id for conversations, or ``None`` (conversations then go
            to D1's ``aibind_conversations`` table).
        stream_options: the stream store's options given in the URL.
        conversation_options: the conversation store's options given in the URL (without
            their ``conversation_`` prefix).
    """

    account_id: str
    database_id: str
    kv_namespace: str | None = None
    stream_options: dict[str, Any] = field(default_factory=dict)
    conversation_options: dict[str, Any] = field(default_factory=dict)


def parse_d1_url(url: object) -> D1Url:
    """Parse ``d1://<account_id>/<database_id>[?options]`` (see the module docstring).

    Raises:
        TypeError: ``url`` is not a ``str``.
        ValueError: another scheme, a user/password/port, a missing or extra path part, a
            fragment, or an unknown, repeated or malformed option (the message names it).
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    clean, options = split_url_options(url, URL_OPTIONS)
    parts = urlsplit(clean)
    if parts.scheme.lower() != "d1":
        raise ValueError(f"url must look like {_EXAMPLE}, got {url!r}")
    if "@" in parts.netloc or ":" in parts.netloc:
        raise ValueError(
            "a d1:// URL takes no user, password or port: the API token comes from "
            f"CLOUDFLARE_API_TOKEN ({_EXAMPLE})"
        )
    if parts.fragment:
        raise ValueError(f"url must not have a fragment: {url!r}")
    path = parts.path.strip("/")
    if not parts.netloc or not path or "/" in path:
        raise ValueError(f"url must look like {_EXAMPLE}, got {url!r}")
    namespace = options.pop("kv_namespace", None)
    conversation = {
        key.removeprefix(CONVERSATION_PREFIX): value
        for key, value in options.items()
        if key.startswith(CONVERSATION_PREFIX)
    }
    streams = {k: v for k, v in options.items() if not k.startswith(CONVERSATION_PREFIX)}
    return D1Url(
        account_id=check_resource_id(parts.netloc, "account_id"),
        database_id=check_resource_id(path, "database_id"),
        kv_namespace=None if namespace is None else check_resource_id(namespace, "kv_namespace"),
        stream_options=streams,
        conversation_options=conversation,
    )
