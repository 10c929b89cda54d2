"""``d1://`` URLs: which D1 database (and optionally which KV namespace) the ``d1`` backend of
the registry opens over Cloudflare's REST API.

Form: ``d1://<account_id>/<database_id>[?kv_namespace=<namespace_id>]``. The API token and base
URL never go in the URL (it ends up in logs): they come from ``CLOUDFLARE_API_TOKEN`` and
``CLOUDFLARE_BASE_URL``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from aibind.cloudflare._values import check_resource_id

__all__ = ["D1Url", "parse_d1_url"]

_OPTIONS = ("kv_namespace",)


@dataclass(frozen=True, slots=True)
class D1Url:
    """A parsed ``d1://`` URL.

    Attributes:
        account_id: the Cloudflare account id.
        database_id: the D1 database id.
        kv_namespace: the KV namespace id for conversations, or ``None`` (conversations then go
            to D1's ``aibind_conversations`` table).
    """

    account_id: str
    database_id: str
    kv_namespace: str | None = None


def parse_d1_url(url: object) -> D1Url:
    """Parse ``d1://<account_id>/<database_id>[?kv_namespace=<namespace_id>]``.

    Raises:
        TypeError: ``url`` is not a ``str``.
        ValueError: another scheme, a user/password/port, a missing or extra path part, a
            fragment, or an unknown or repeated query option (the message names it).
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    parts = urlsplit(url)
    example = "d1://<account_id>/<database_id>[?kv_namespace=<namespace_id>]"
    if parts.scheme.lower() != "d1":
        raise ValueError(f"url must look like {example}, got {url!r}")
    if "@" in parts.netloc or ":" in parts.netloc:
        raise ValueError(
            "a d1:// URL takes no user, password or port: the API token comes from "
            f"CLOUDFLARE_API_TOKEN ({example})"
        )
    if parts.fragment:
        raise ValueError(f"url must not have a fragment: {url!r}")
    path = parts.path.strip("/")
    if not parts.netloc or not path or "/" in path:
        raise ValueError(f"url must look like {example}, got {url!r}")
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    unknown = sorted(set(query) - set(_OPTIONS))
    if unknown:
        raise ValueError(f"unknown d1:// URL option(s) {unknown}; known: {list(_OPTIONS)}")
    namespace = None
    if "kv_namespace" in query:
        values = query["kv_namespace"]
        if len(values) != 1:
            raise ValueError("kv_namespace is given more than once")
        namespace = check_resource_id(values[0], "kv_namespace")
    return D1Url(
        account_id=check_resource_id(parts.netloc, "account_id"),
        database_id=check_resource_id(path, "database_id"),
        kv_namespace=namespace,
    )
