"""Decoding what the Redis stores read: status JSON (npm ``DurableStreamStatus``), text values,
and the translation of driver errors."""

from __future__ import annotations

import json
from typing import Any

from aibind.core.errors import CorruptDataError
from aibind.core.types import StreamState, StreamStatus

__all__ = ["is_connection_error", "parse_status", "text"]

_STATES: frozenset[str] = frozenset({"active", "done", "stopped", "error"})


def text(value: Any) -> str:
    """A reply value as ``str`` (drivers return ``bytes`` unless ``decode_responses=True``)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    return str(value)


def parse_status(raw: Any, key: str) -> StreamStatus:
    """Parse a ``{prefix}:{id}:status`` value: ``{"state", "totalChunks", "error"?}``.

    Raises:
        CorruptDataError: not JSON, or a field is missing or of the wrong type; names ``key``.
    """
    try:
        data = json.loads(text(raw))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptDataError(f"{key}: the stream status is not valid JSON") from exc
    if not isinstance(data, dict):
        raise CorruptDataError(f"{key}: the stream status is not a JSON object")
    state, total, error = data.get("state"), data.get("totalChunks"), data.get("error")
    if state not in _STATES:
        raise CorruptDataError(f"{key}: unknown stream state {state!r}")
    if isinstance(total, float) and total.is_integer():
        total = int(total)
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise CorruptDataError(f"{key}: totalChunks must be a count, got {total!r}")
    if error is not None and not isinstance(error, str):
        raise CorruptDataError(f"{key}: error must be a string, got {error!r}")
    st: StreamState = state
    return StreamStatus(st, total, error if state == "error" else None)


def is_connection_error(exc: BaseException) -> bool:
    """``True`` for a lost connection or timeout from any driver (redis-py, valkey, OS)."""
    if isinstance(exc, (OSError, TimeoutError)):
        return True
    return any(c.__name__ in ("ConnectionError", "TimeoutError") for c in type(exc).__mro__)
