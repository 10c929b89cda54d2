"""Argument checks shared by every store, so each backend rejects bad input the same way and
before touching storage (a rejected call never changes what is stored).

Backend authors call these at the top of each public method. Each returns its argument so a
check can be used inline, and raises :class:`TypeError` for a wrong type or :class:`ValueError`
for a bad value, naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from aibind.core.chat_history import ChatHistory
from aibind.core.types import ConversationMessage

__all__ = [
    "MAX_ID_LENGTH",
    "MAX_SEQ",
    "check_after_seq",
    "check_chat",
    "check_chunk",
    "check_chunks",
    "check_error_message",
    "check_id",
    "check_interval",
    "check_ttl",
]

MAX_ID_LENGTH = 512
"""Longest stream or session id accepted, in characters."""


MAX_SEQ = 2**31 - 1
"""Largest seq a stream can reach and a reader may resume after: the npm schema stores seqs and
counts in SQL ``INTEGER`` columns (32-bit in PostgreSQL), so no backend holds more."""


def check_id(value: object, name: str = "stream_id") -> str:
    """Check a stream or session id: a non-empty ``str`` of at most :data:`MAX_ID_LENGTH`
    characters with no control characters (they would break SSE ``id:`` lines and key names).

    Args:
        value: the id to check.
        name: the argument's name, used in the error message.

    Returns:
        ``value``, unchanged.

    Raises:
        TypeError: ``value`` is not a ``str``.
        ValueError: it is empty, too long, or contains a control character.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"{name} is {len(value)} characters long; the limit is {MAX_ID_LENGTH}")
    if not value.isprintable():
        raise ValueError(f"{name} must not contain control characters: {value!r}")
    return value


def check_chunk(value: object, name: str = "chunk") -> str:
    """Check one chunk: any ``str`` (empty allowed) that is valid Unicode text without NUL.

    NUL (``"\\x00"``) is refused on every backend because PostgreSQL ``text`` cannot store it,
    and lone surrogates (``"\\ud800"``) because no backend can store them as UTF-8; refusing
    both everywhere keeps a chunk that one backend accepts valid on all of them.

    Returns:
        ``value``, unchanged.

    Raises:
        TypeError: ``value`` is not a ``str`` (``bytes`` included).
        ValueError: it contains ``"\\x00"`` or a lone surrogate.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if "\x00" in value:
        raise ValueError(f"{name} must not contain NUL (\\x00): PostgreSQL text cannot store it")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"{name} is not valid Unicode text: lone surrogate {value[exc.start]!r} at "
                f"index {exc.start} (no backend can store it as UTF-8)"
            ) from None
    return value


def check_chunks(values: object, name: str = "chunks") -> list[str]:
    """Check the chunks of an ``append_many`` call: an iterable of ``str`` (not a ``str``
    itself, which would be appended one character at a time).

    Returns:
        the chunks as a new list.

    Raises:
        TypeError: ``values`` is a ``str``/``bytes`` or not iterable, or an item is not a ``str``.
        ValueError: an item contains ``"\\x00"`` or a lone surrogate.
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be an iterable of str, not {type(values).__name__}")
    return [check_chunk(v, f"{name}[{i}]") for i, v in enumerate(values)]


def check_after_seq(value: object, name: str = "after_seq") -> int:
    """Check a resume position: an ``int`` (not ``bool``) from 0 to :data:`MAX_SEQ`.

    Raises:
        TypeError: not an ``int``.
        ValueError: negative, or above :data:`MAX_SEQ` (no stream holds that many chunks).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= MAX_SEQ:
        raise ValueError(f"{name} must be between 0 and {MAX_SEQ}, got {value}")
    return value


def check_error_message(value: object, name: str = "error") -> str:
    """Check the message given to ``fail()``: a ``str`` without NUL or lone surrogates.

    Raises:
        TypeError: not a ``str``.
        ValueError: contains ``"\\x00"`` or a lone surrogate.
    """
    return check_chunk(value, name)


def check_ttl(value: object, name: str = "ttl") -> float:
    """Check a time-to-live in seconds: a finite number ``> 0``.

    Returns:
        the value as a ``float``.

    Raises:
        TypeError: not an ``int``/``float``.
        ValueError: zero, negative, NaN or infinite.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return float(value)


def check_interval(value: object, name: str = "poll_interval") -> float | None:
    """Check a polling interval in seconds: ``None`` (no polling, push only) or a finite
    number ``> 0``.

    Raises:
        TypeError: not ``None`` or a number.
        ValueError: zero, negative, NaN or infinite.
    """
    if value is None:
        return None
    return check_ttl(value, name)


def check_chat(value: object, name: str = "chat") -> ChatHistory[ConversationMessage]:
    """Check the history given to a conversation store's ``save()``: a :class:`ChatHistory`.

    Returns:
        ``value``, unchanged.

    Raises:
        TypeError: ``value`` is not a :class:`ChatHistory` (a dict of its JSON, say).
    """
    if not isinstance(value, ChatHistory):
        raise TypeError(f"{name} must be a ChatHistory, not {type(value).__name__}")
    return value
