"""``from_url`` and ``open_stores`` for every backend, decided once.

A backend describes how to open its client from a URL (:class:`ClientOpener`) and which
constructor options its stores take from a URL (``_url_options`` on the store class); this module
does the rest the same way everywhere:

* URL query options and keyword options are merged (keywords win), unknown ones refused;
* client options go to the opener, store options to the constructor;
* nothing connects yet: the store opens its client on first use or on ``open()``;
* in a pair (``open_stores``) both stores share one client, closed with the second store.

Conversation options in a pair's URL are spelled with a ``conversation_`` prefix
(``?conversation_ttl=3600``); unprefixed options are the stream store's and the client's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from aibind.core.kit._lifecycle import Owned, StoreBase
from aibind.core.kit._options import Parser, split_url_options

if TYPE_CHECKING:
    from aibind.core.registry import Stores

__all__ = ["CONVERSATION_PREFIX", "ClientOpener", "open_pair", "store_from_url"]

CONVERSATION_PREFIX = "conversation_"
"""Prefix of a conversation store's options in the URL of a pair (``open_stores``)."""

S = TypeVar("S", bound=StoreBase)


def _never(_key: str) -> bool:
    return False


@dataclass(frozen=True)
class ClientOpener:
    """How a backend opens its client from a URL.

    Attributes:
        open: ``open(url, options)`` builds the client for ``url`` (query options already
            removed) with the client ``options`` given, and returns it as an :class:`Owned`
            (it connects in :meth:`Owned.open` or on first use, never here). Raises
            :class:`TypeError`/:class:`ValueError` for a malformed URL or option.
        options: client option name -> parser of its URL text (``busy_timeout``,
            ``max_connections``, ``cluster``, ...).
        passthrough: ``True`` for a query parameter the driver reads from the URL itself.
    """

    open: Callable[[str, dict[str, Any]], Owned[Any]]
    options: Mapping[str, Parser] = field(default_factory=dict)
    passthrough: Callable[[str], bool] = _never


def _opener_of(cls: type[StoreBase]) -> ClientOpener:
    opener = getattr(cls, "_client_opener", None)
    if not isinstance(opener, ClientOpener):
        raise TypeError(f"{cls.__name__} cannot be opened from a URL (no _client_opener)")
    return opener


def _url_options_of(cls: type[StoreBase]) -> Mapping[str, Parser]:
    options: Mapping[str, Parser] = getattr(cls, "_url_options", {})
    return options


def _split(
    options: dict[str, Any], client_keys: Mapping[str, Parser], store_keys: Mapping[str, Parser]
) -> tuple[dict[str, Any], dict[str, Any]]:
    client = {k: v for k, v in options.items() if k in client_keys}
    store = {k: v for k, v in options.items() if k not in client_keys}
    unknown = sorted(set(store) - set(store_keys))
    if unknown:
        names = ", ".join(sorted({*client_keys, *store_keys}))
        raise TypeError(f"unexpected option(s) {', '.join(unknown)}; accepted: {names}")
    return client, store


def store_from_url(cls: type[S], url: str, options: Mapping[str, Any]) -> S:
    """Build a ``cls`` store on a client opened from ``url`` (the body of every ``from_url``).

    Args:
        cls: the store class (its ``_client_opener`` and ``_url_options`` say what it accepts).
        url: the backend URL, optionally with query options.
        options: keyword options; they override the same options given in the URL.

    Returns:
        the store, not yet connected; it owns the client and closes it in ``aclose()``.

    Raises:
        TypeError: an unknown keyword option.
        ValueError: an unknown or malformed URL option, or a malformed URL.
    """
    opener = _opener_of(cls)
    store_keys = _url_options_of(cls)
    known = {**store_keys, **opener.options}
    clean, from_url = split_url_options(url, known, passthrough=opener.passthrough)
    client_opts, store_opts = _split({**from_url, **options}, opener.options, store_keys)
    owned = opener.open(clean, client_opts)
    store = cls._from_client(owned.client, store_opts)
    store._adopt(owned)
    return store


def open_pair(
    streams_cls: type[StoreBase],
    conversations_cls: type[StoreBase],
    url: str,
    *,
    stream_options: Mapping[str, Any] | None = None,
    conversation_options: Mapping[str, Any] | None = None,
) -> Stores:
    """Open a stream store and a conversation store on ONE client from ``url`` (what a
    backend's registry opener returns, and so what ``open_stores`` gives).

    Args:
        streams_cls: the backend's stream store class.
        conversations_cls: its conversation store class (same ``_client_opener``).
        url: the backend URL; unprefixed query options go to the client and the stream store,
            ``conversation_*`` ones to the conversation store.
        stream_options: keyword options of the stream store and the client (override the URL).
        conversation_options: keyword options of the conversation store.

    Returns:
        a :class:`~aibind.core.registry.Stores`, an async context manager closing both stores
        and the shared client.

    Raises:
        TypeError, ValueError: as :func:`store_from_url`.
    """
    from aibind.core.registry import Stores, redact_url

    opener = _opener_of(streams_cls)
    s_keys = _url_options_of(streams_cls)
    c_keys = _url_options_of(conversations_cls)
    prefixed = {CONVERSATION_PREFIX + k: p for k, p in c_keys.items()}
    known = {**s_keys, **opener.options, **prefixed}
    clean, from_url = split_url_options(url, known, passthrough=opener.passthrough)
    c_from_url = {
        k.removeprefix(CONVERSATION_PREFIX): v for k, v in from_url.items() if k in prefixed
    }
    s_from_url = {k: v for k, v in from_url.items() if k not in prefixed}
    client_opts, s_opts = _split({**s_from_url, **(stream_options or {})}, opener.options, s_keys)
    _, c_opts = _split({**c_from_url, **(conversation_options or {})}, {}, c_keys)
    owned = opener.open(clean, client_opts)
    streams = streams_cls._from_client(owned.client, s_opts)
    conversations = conversations_cls._from_client(owned.client, c_opts)
    streams._adopt(owned)
    conversations._adopt(owned.share())
    return Stores(streams=streams, conversations=conversations, url=redact_url(url))  # type: ignore[arg-type]
