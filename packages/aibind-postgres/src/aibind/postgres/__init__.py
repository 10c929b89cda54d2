"""aibind-postgres: PostgreSQL stores for aibind (``aibind.postgres``).

* :class:`PostgresStreamStore` — durable streams with LISTEN/NOTIFY push delivery.
* :class:`PostgresConversationStore` — branching chat histories.
* :class:`PostgresClient` — the client protocol (``query(sql, params) -> rows``, ``$n``
  placeholders), optionally :class:`SupportsListen`; :func:`wrap_psycopg` / :func:`wrap_asyncpg`
  adapt the drivers, and the stores accept their connections and pools directly.
* ``X.from_url(url)`` opens a pool the store owns; :func:`open_postgres_stores` opens both
  stores on one pool (what ``aibind.core.open_stores`` uses).

Importing this package needs no driver; install ``aibind-postgres[psycopg]`` or
``aibind-postgres[asyncpg]`` to connect. Docs: docs/postgres.md.
"""

from __future__ import annotations

from importlib.metadata import version as _distribution_version

from aibind.postgres._schema import schema_sql
from aibind.postgres.backend import open_postgres_stores
from aibind.postgres.client import PostgresClient, SupportsListen, wrap_asyncpg, wrap_psycopg
from aibind.postgres.conversations import PostgresConversationStore
from aibind.postgres.errors import DatabaseError
from aibind.postgres.streams import PostgresStreamStore

__version__ = _distribution_version("aibind-postgres")
"""The installed distribution's version (from its metadata: the one source is pyproject.toml)."""

__all__ = [
    "DatabaseError",
    "PostgresClient",
    "PostgresConversationStore",
    "PostgresStreamStore",
    "SupportsListen",
    "__version__",
    "open_postgres_stores",
    "schema_sql",
    "wrap_asyncpg",
    "wrap_psycopg",
]
