"""Store options from URL query parameters, the same way on every backend.

``redis://host/0?prefix=app:stream&ttl=600``, ``postgresql://.../db?chunks_table=t&ttl=60``,
``sqlite:///app.db?busy_timeout=2``: each backend declares which options its stores and its
client accept and how to parse their text; :func:`split_url_options` takes them out of the URL,
leaves the parameters that belong to the driver (libpq's ``sslmode``, redis-py's
``socket_timeout``) in place, and refuses anything else with a :class:`ValueError` that lists
what is known.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

__all__ = [
    "Parser",
    "parse_bool",
    "parse_float",
    "parse_int",
    "parse_optional_float",
    "parse_str",
    "split_url_options",
]

Parser = Callable[[str], Any]
"""Turns an option's URL text into its value; raises :class:`ValueError` for bad text."""


def parse_float(text: str) -> float:
    """A finite number, e.g. ``"0.5"`` (seconds for ``ttl``, ``poll_interval``...)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {text!r}")
    return value


def parse_optional_float(text: str) -> float | None:
    """A number, or ``"none"`` / ``"off"`` / empty for ``None`` (e.g. ``poll_interval=none``)."""
    if text.strip().lower() in ("", "none", "null", "off"):
        return None
    return parse_float(text)


def parse_int(text: str) -> int:
    """A whole number, e.g. ``"20"``."""
    return int(text, 10)


def parse_bool(text: str) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case)."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true/false, got {text!r}")


def parse_str(text: str) -> str:
    """The text as given (percent-decoded)."""
    return text


def _never(_key: str) -> bool:
    return False


def split_url_options(
    url: str,
    known: Mapping[str, Parser],
    *,
    passthrough: Callable[[str], bool] = _never,
) -> tuple[str, dict[str, Any]]:
    """Take the options in ``known`` out of ``url``'s query string.

    Args:
        url: the URL as the user gave it.
        known: option name -> parser of its text.
        passthrough: ``passthrough(name)`` is ``True`` for a query parameter the driver itself
            understands; it stays in the returned URL.

    Returns:
        the URL without our options (other parameters re-encoded with ``%20`` for spaces, as
        libpq expects), and the parsed options.

    Raises:
        TypeError: ``url`` is not a ``str``.
        ValueError: an unknown parameter, one given twice, or text its parser refuses; the
            message names the parameter and lists the known ones.
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    parts = urlsplit(url)
    if not parts.query:
        return url, {}
    options: dict[str, Any] = {}
    rest: list[tuple[str, str]] = []
    for key, text in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if key in known:
            if key in options:
                raise ValueError(f"URL option {key!r} is given twice")
            try:
                options[key] = known[key](text)
            except ValueError as exc:
                raise ValueError(f"URL option {key}={text!r}: {exc}") from None
        elif passthrough(key):
            rest.append((key, text))
        else:
            names = ", ".join(sorted(known)) or "none"
            raise ValueError(f"unknown URL option {key!r}; this backend accepts: {names}")
    # Rebuilt by hand: urlunsplit would turn "sqlite:////abs" into "sqlite://abs".
    base, _, tail = url.partition("?")
    _, hash_, fragment = tail.partition("#")
    query = urlencode(rest, quote_via=quote)
    return base + ("?" + query if query else "") + hash_ + fragment, options
