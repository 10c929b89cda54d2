"""aibind on Cloudflare: D1 and KV for durable streams and conversation history, inside a
Python Worker (bindings) and from any Python process (Cloudflare's REST API), in the tables and
keys of the npm ``@aibind/cloudflare`` package.

In a Python Worker::

    from aibind.cloudflare import KVConversationStore, wrap_d1
    from aibind.sqlite import SqliteStreamStore

    streams = SqliteStreamStore(wrap_d1(self.env.DB))
    conversations = KVConversationStore(self.env.KV)

From any Python process::

    from aibind.cloudflare import D1HttpClient

    async with D1HttpClient(account_id, database_id) as d1:   # CLOUDFLARE_API_TOKEN
        streams = SqliteStreamStore(d1, poll_interval=1.0)

or ``open_stores("d1://<account_id>/<database_id>")``. Nothing here imports httpx or pyodide
until it is used, so the package imports in both places. See ``docs/cloudflare.md``.
"""

from __future__ import annotations

from importlib.metadata import version as _distribution_version

from aibind.cloudflare.d1 import D1BindingClient, wrap_d1
from aibind.cloudflare.d1_http import D1HttpClient
from aibind.cloudflare.errors import (
    CloudflareApiError,
    CloudflareAuthError,
    CloudflareError,
    CloudflareRateLimitError,
    D1ConstraintError,
    D1Error,
)
from aibind.cloudflare.kv import KVConversationStore
from aibind.cloudflare.kv_http import KVHttpClient, KVKey
from aibind.cloudflare.url import D1Url, parse_d1_url

__version__ = _distribution_version("aibind-cloudflare")
"""The installed distribution's version (from its metadata: the one source is pyproject.toml)."""

__all__ = [
    "CloudflareApiError",
    "CloudflareAuthError",
    "CloudflareError",
    "CloudflareRateLimitError",
    "D1BindingClient",
    "D1ConstraintError",
    "D1Error",
    "D1HttpClient",
    "D1Url",
    "KVConversationStore",
    "KVHttpClient",
    "KVKey",
    "__version__",
    "parse_d1_url",
    "wrap_d1",
]
