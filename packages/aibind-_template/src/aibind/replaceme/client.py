"""The client the stores talk to, and how ``from_url`` opens it.

<REPLACE ME: this whole module.> It stands in for your storage driver: an in-process "server"
(one :class:`Database` per URL name, shared by every client of that name in this process, kept
as long as the process lives, as a server keeps its data) so
the template runs and passes the conformance suite with nothing installed. Replace
:class:`ReplacemeClient` with your driver's client (or a thin protocol over it, like
``aibind.redis.RedisClient``) and :func:`open_replaceme_client` with the code that opens it
from a URL. Keep the rule: a store closes only a client it opened itself (``from_url``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aibind.core.kit import ClientOpener, Owned
from aibind.core.notify import Notifier
from aibind.core.types import StreamState

__all__ = [
    "REPLACEME_CLIENT",
    "Database",
    "ReplacemeClient",
    "StoredStream",
    "open_replaceme_client",
]


@dataclass
class StoredStream:
    """One stream as the stand-in server keeps it (``expires_at`` on the monotonic clock)."""

    expires_at: float
    state: StreamState = "active"
    error: str | None = None
    chunks: list[str] = field(default_factory=list)


@dataclass
class Database:
    """The stand-in server's data: streams, conversations (JSON text, expiry) and the
    notifier that wakes every store on this database when one of them writes."""

    streams: dict[str, StoredStream] = field(default_factory=dict)
    conversations: dict[str, tuple[str, float]] = field(default_factory=dict)
    notifier: Notifier = field(default_factory=Notifier)


_DATABASES: dict[str, Database] = {}


class ReplacemeClient:
    """A connection to the database ``name`` of the stand-in server.

    Args:
        name: the database name (``replaceme://<name>``); clients of one name share data.

    Attributes:
        name: the database name.
        database: the shared :class:`Database` (``None`` once closed).
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty str, got {name!r}")
        self.name = name
        self.database: Database | None = _DATABASES.setdefault(name, Database())

    @staticmethod
    def now() -> float:
        """The server clock, in seconds (monotonic)."""
        return time.monotonic()

    def db(self) -> Database:
        """The database; raises :class:`ConnectionError` once the client is closed (a driver
        raises its own error here, and the stores translate it)."""
        if self.database is None:
            raise ConnectionError(f"client of {self.name!r} is closed")
        return self.database

    async def close(self) -> None:
        """Disconnect (idempotent); the data stays on the "server"."""
        self.database = None


def open_replaceme_client(url: str, options: dict[str, Any]) -> Owned[ReplacemeClient]:
    """Open the client of ``replaceme://<name>`` for ``from_url`` (the store owns it).

    Args:
        url: ``replaceme://<name>`` (query options already removed by the kit).
        options: client options parsed from the URL (this stand-in has none).

    Raises:
        ValueError: not a ``replaceme://`` URL, or no database name.
    """
    parts = urlsplit(url)
    if parts.scheme != "replaceme":
        raise ValueError(f"url must start with replaceme://, got {url!r}")
    name = (parts.netloc + parts.path).strip("/")
    if not name:
        raise ValueError(f"url names no database: {url!r} (replaceme://<name>)")
    client = ReplacemeClient(name)
    return Owned(client, close=client.close)


REPLACEME_CLIENT = ClientOpener(open_replaceme_client)
"""How ``from_url`` opens this backend's client (``replaceme://<name>``)."""
