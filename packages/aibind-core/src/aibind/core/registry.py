"""The backend registry: which installed package serves which URL scheme.

Each backend distribution registers an *opener* under the entry-point group
``aibind.backends``, keyed by URL scheme (``memory``, ``sqlite``, ``redis``, ``rediss``,
``postgresql``, ...), and may register its DDL under ``aibind.schemas`` (``sqlite``,
``postgres``). Applications call :func:`open_stores`; the ``aibind`` CLI uses the same registry.

An opener is a callable ``opener(url, *, stream_options, conversation_options)`` returning a
:class:`Stores` whose two stores share one client (a backend builds it with
:func:`aibind.core.kit.open_pair`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from aibind.core.errors import BackendNotFoundError
from aibind.core.protocols import ConversationStore, StreamStore

__all__ = [
    "BACKENDS_GROUP",
    "SCHEMAS_GROUP",
    "BackendOpener",
    "Stores",
    "available_backends",
    "available_schemas",
    "load_backend",
    "load_schema",
    "open_stores",
    "redact_url",
]

BACKENDS_GROUP = "aibind.backends"
"""Entry-point group of backend openers, keyed by URL scheme."""

SCHEMAS_GROUP = "aibind.schemas"
"""Entry-point group of DDL providers (a callable returning the SQL text), keyed by name."""


class Stores:
    """The pair of stores a backend opens for one URL, sharing one client.

    An async context manager (``async with open_stores(url) as stores:``) that opens both stores
    on entry and closes both, and the client they share, on exit; or call :meth:`open` /
    :meth:`aclose` yourself. Without ``open()``, each store connects on first use.

    Attributes:
        streams: the durable stream store.
        conversations: the conversation store.
        url: the URL they were opened from, with any password replaced by ``***``.
    """

    __slots__ = ("conversations", "streams", "url")

    def __init__(self, *, streams: StreamStore, conversations: ConversationStore, url: str) -> None:
        self.streams = streams
        self.conversations = conversations
        self.url = url

    def __repr__(self) -> str:
        kinds = f"{type(self.streams).__name__}, {type(self.conversations).__name__}"
        return f"Stores({self.url!r}, {kinds})"

    async def open(self) -> Stores:
        """Open both stores now (surfacing an unreachable backend at once) and return ``self``.

        Raises:
            BackendUnavailableError: the backend cannot be reached.
            MissingDriverError: the backend's driver is not installed.
        """
        for store in (self.streams, self.conversations):
            opener = getattr(store, "open", None)
            if callable(opener):
                await opener()
        return self

    async def aclose(self) -> None:
        """Close both stores (and so the client they share). Idempotent."""
        try:
            await self.conversations.aclose()
        finally:
            await self.streams.aclose()

    async def __aenter__(self) -> Stores:
        try:
            return await self.open()
        except BaseException:
            await self.aclose()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class BackendOpener(Protocol):
    """What a backend registers under :data:`BACKENDS_GROUP`."""

    def __call__(
        self,
        url: str,
        *,
        stream_options: Mapping[str, Any] | None = None,
        conversation_options: Mapping[str, Any] | None = None,
    ) -> Stores:
        """Build the stores for ``url`` (lazily connected; see :func:`open_stores`)."""
        ...


def _scheme(url: str) -> str:
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    scheme = urlsplit(url).scheme.lower()
    if not scheme:
        raise ValueError(f"url has no scheme (like sqlite:///path or redis://host): {url!r}")
    return scheme


def redact_url(url: str) -> str:
    """Return ``url`` with its password, if any, replaced by ``***`` (for logs and reports)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


def available_backends() -> dict[str, EntryPoint]:
    """Map each registered URL scheme to its entry point (not yet loaded)."""
    return {ep.name.lower(): ep for ep in entry_points(group=BACKENDS_GROUP)}


def available_schemas() -> dict[str, EntryPoint]:
    """Map each registered schema name (``sqlite``, ``postgres``) to its entry point."""
    return {ep.name.lower(): ep for ep in entry_points(group=SCHEMAS_GROUP)}


def _missing(kind: str, name: str, known: Mapping[str, EntryPoint], hint: str) -> str:
    names = ", ".join(sorted(known)) or "none"
    return f"no installed aibind package provides the {kind} {name!r} (installed: {names}); {hint}"


def load_backend(url: str) -> BackendOpener:
    """Load the opener registered for ``url``'s scheme.

    Raises:
        TypeError: ``url`` is not a ``str``.
        ValueError: ``url`` has no scheme.
        BackendNotFoundError: no installed package registers the scheme.
    """
    scheme = _scheme(url)
    known = available_backends()
    if scheme not in known:
        hint = "install the backend distribution, e.g. pip install aibind-sqlite / aibind-redis"
        raise BackendNotFoundError(_missing("URL scheme", scheme, known, hint))
    opener: BackendOpener = known[scheme].load()
    return opener


def load_schema(name: str) -> str:
    """Return the DDL registered as ``name`` (``"sqlite"``, ``"postgres"``).

    Raises:
        BackendNotFoundError: no installed package registers that schema.
    """
    known = available_schemas()
    if name.lower() not in known:
        hint = f"install aibind-{name.lower()}"
        raise BackendNotFoundError(_missing("schema", name, known, hint))
    provider: Callable[[], str] = known[name.lower()].load()
    return provider()


def open_stores(
    url: str,
    *,
    stream_options: Mapping[str, Any] | None = None,
    conversation_options: Mapping[str, Any] | None = None,
) -> Stores:
    """Open a stream store and a conversation store for ``url`` through the installed backend;
    both share one client.

    Usage::

        async with open_stores("sqlite:///chat.db?ttl=600") as stores:
            await stores.streams.create("s1")

    Store options may be given as URL query parameters, with the same names on every backend
    (``?prefix=``, ``?ttl=``, ``?poll_interval=``, ``?chunks_table=``...; a conversation store's
    with a ``conversation_`` prefix: ``?conversation_ttl=3600``), or as keyword mappings here
    (which win over the URL).

    Args:
        url: where the data lives: ``memory://``, ``sqlite:///path``, ``redis://host:6379/0``,
            ``postgresql://user@host/db``, ... (the scheme picks the backend).
        stream_options: keyword options for the backend's stream store and its client.
        conversation_options: keyword options for its conversation store.

    Returns:
        :class:`Stores`, an async context manager that opens both on entry and closes both
        (and their client) on exit; without it, the stores connect on first use and must be
        closed with :meth:`Stores.aclose`.

    Raises:
        BackendNotFoundError: no installed package handles the scheme.
        TypeError, ValueError: malformed ``url`` or an unknown / malformed option.
    """
    opener = load_backend(url)
    return opener(url, stream_options=stream_options, conversation_options=conversation_options)
