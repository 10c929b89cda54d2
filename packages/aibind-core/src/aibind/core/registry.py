"""The backend registry: which installed package serves which URL scheme.

Each backend distribution registers an *opener* under the entry-point group
``aibind.backends``, keyed by URL scheme (``memory``, ``sqlite``, ``redis``, ``rediss``,
``postgresql``, ...), and may register its DDL under ``aibind.schemas`` (``sqlite``,
``postgres``). Applications call :func:`open_stores`; the ``aibind`` CLI uses the same registry.

An opener is a callable ``opener(url, *, stream_options, conversation_options)`` returning an
async context manager that yields a :class:`Stores` and, on exit, closes every client it
opened.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
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


@dataclass(frozen=True, slots=True)
class Stores:
    """The pair of stores a backend opens for one URL.

    Attributes:
        streams: the durable stream store.
        conversations: the conversation store.
        url: the URL they were opened from, with any password replaced by ``***``.
    """

    streams: StreamStore
    conversations: ConversationStore
    url: str


class BackendOpener(Protocol):
    """What a backend registers under :data:`BACKENDS_GROUP`."""

    def __call__(
        self,
        url: str,
        *,
        stream_options: Mapping[str, Any] | None = None,
        conversation_options: Mapping[str, Any] | None = None,
    ) -> AbstractAsyncContextManager[Stores]:
        """Open the stores for ``url``; the context manager closes what it opened."""
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
) -> AbstractAsyncContextManager[Stores]:
    """Open a stream store and a conversation store for ``url`` through the installed backend.

    Usage::

        async with open_stores("sqlite:///chat.db") as stores:
            await stores.streams.create("s1")

    Args:
        url: where the data lives: ``memory://``, ``sqlite:///path``, ``redis://host:6379/0``,
            ``postgresql://user@host/db``, ... (the scheme picks the backend).
        stream_options: keyword options for the backend's stream store (``ttl``, ...).
        conversation_options: keyword options for its conversation store.

    Returns:
        An async context manager yielding :class:`Stores`; it closes what it opened on exit.

    Raises:
        BackendNotFoundError: no installed package handles the scheme.
        TypeError, ValueError: malformed ``url`` or options (raised by the backend on entry).
    """
    opener = load_backend(url)
    return opener(url, stream_options=stream_options, conversation_options=conversation_options)
