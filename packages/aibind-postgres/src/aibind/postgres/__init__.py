"""aibind-postgres: PostgreSQL stores for aibind (``aibind.postgres``).

* :class:`PostgresStreamStore` — durable streams with LISTEN/NOTIFY push delivery.
* :class:`PostgresConversationStore` — branching chat histories.
* :class:`PostgresClient` — the client protocol (``query(sql, params) -> rows``, ``$n``
  placeholders); :func:`wrap_psycopg` / :func:`wrap_asyncpg` adapt the drivers, and the stores
  accept their connections and pools directly; :func:`from_url` opens a pool.

Importing this package needs no driver; install ``aibind-postgres[psycopg]`` or
``aibind-postgres[asyncpg]`` to connect. Docs: docs/postgres.md.
"""

from __future__ import annotations

from importlib.metadata import version as _distribution_version

from aibind.postgres.client import (
    ListenHandle,
    MissingDriverError,
    PostgresClient,
    Row,
    SupportsListen,
)
from aibind.postgres.connect import PostgresPool, from_url
from aibind.postgres.conversations import PostgresConversationStore
from aibind.postgres.dberrors import DatabaseError
from aibind.postgres.drivers import wrap_asyncpg, wrap_psycopg
from aibind.postgres.listener import Listener, ListenerError
from aibind.postgres.schema import schema_sql
from aibind.postgres.streams import PostgresStreamStore

__version__ = _distribution_version("aibind-postgres")
"""The installed distribution's version (from its metadata: the one source is pyproject.toml)."""

__all__ = [
    "DatabaseError",
    "ListenHandle",
    "Listener",
    "ListenerError",
    "MissingDriverError",
    "PostgresClient",
    "PostgresConversationStore",
    "PostgresPool",
    "PostgresStreamStore",
    "Row",
    "SupportsListen",
    "__version__",
    "from_url",
    "schema_sql",
    "wrap_asyncpg",
    "wrap_psycopg",
]
