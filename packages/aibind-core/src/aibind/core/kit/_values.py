"""Decoding stored values the same way on every backend: stream statuses, stored text, and
the epoch-millisecond times of the npm schemas."""

from __future__ import annotations

import math
import time
from typing import Any

from aibind.core.errors import CorruptDataError
from aibind.core.types import StreamState, StreamStatus
from aibind.core.validation import MAX_SEQ

__all__ = ["as_text", "make_status", "now_ms", "ttl_ms"]

_STATES: frozenset[str] = frozenset({"active", "done", "stopped", "error"})


def now_ms() -> int:
    """The current time in epoch milliseconds (JavaScript's ``Date.now()``), the unit of the
    npm schemas' ``expires_at`` columns."""
    return int(time.time() * 1000)


def ttl_ms(ttl: float) -> int:
    """A TTL in seconds as whole milliseconds, rounded up, at least 1 (so a sub-millisecond TTL
    still expires, and ``PX``/``expires_at`` never get 0)."""
    return max(1, math.ceil(ttl * 1000))


def as_text(value: Any, where: str) -> str:
    """A stored value as ``str``: ``str`` as is, ``bytes``/``memoryview`` decoded as UTF-8.

    Args:
        value: what the driver returned.
        where: the key / row it came from, for the error message.

    Raises:
        CorruptDataError: undecodable bytes (the message says where and at which byte), or a
            value of another type.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorruptDataError(
                f"{where}: stored bytes are not UTF-8 text (byte {exc.start}: {exc.reason})"
            ) from exc
    raise CorruptDataError(f"{where}: expected text, found {type(value).__name__}")


def make_status(where: str, state: Any, total_chunks: Any, error: Any = None) -> StreamStatus:
    """Build a :class:`StreamStatus` from stored fields, refusing what no writer produces.

    Args:
        where: the stream / key / row, for error messages.
        state: the stored state (must be ``active``, ``done``, ``stopped`` or ``error``).
        total_chunks: the stored count: an integer (an integral float too, as JSON numbers
            come back) from 0 to :data:`~aibind.core.validation.MAX_SEQ`.
        error: the stored error message (kept only when ``state == "error"``).

    Raises:
        CorruptDataError: an unknown state, a count that is not a count, or a non-text error.
    """
    if state not in _STATES:
        raise CorruptDataError(f"{where}: unknown stream state {state!r}")
    if isinstance(total_chunks, float) and total_chunks.is_integer():
        total_chunks = int(total_chunks)
    if (
        isinstance(total_chunks, bool)
        or not isinstance(total_chunks, int)
        or not 0 <= total_chunks <= MAX_SEQ
    ):
        raise CorruptDataError(f"{where}: total_chunks must be a count, got {total_chunks!r}")
    if error is not None and not isinstance(error, str):
        raise CorruptDataError(f"{where}: error must be text, got {type(error).__name__}")
    st: StreamState = state
    return StreamStatus(st, total_chunks, error if state == "error" else None)
