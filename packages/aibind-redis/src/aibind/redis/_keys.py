"""Key, channel and TTL spelling of the Redis stores (the npm ``@aibind/redis`` key schema).

Per stream ``{prefix}:{id}:status`` (a JSON string ``{"state":...,"totalChunks":n}`` plus
``"error"`` when failed) and ``{prefix}:{id}:chunks`` (a list); per conversation
``{prefix}:{session_id}``. In cluster mode the id is wrapped in a hash tag,
``{prefix}:{{id}}:status``, so a stream's keys and channel share one slot.
"""

from __future__ import annotations

from dataclasses import dataclass

from aibind.core.kit import ttl_ms
from aibind.core.validation import check_ttl

__all__ = ["MAX_TTL", "StreamKeys", "check_prefix", "check_redis_ttl", "ttl_args"]

MAX_TTL = 10**15
"""Longest TTL the Redis stores accept, in seconds (about 31.7 million years). Redis refuses an
expiry whose absolute time in milliseconds overflows a signed 64-bit integer (``SET ... EX``
answers "invalid expire time" at the first write), so a larger TTL is refused up front."""


def check_prefix(prefix: object, *, cluster: bool = False) -> str:
    """Check a key prefix: a non-empty ``str`` without whitespace or control characters (and,
    in cluster mode, without ``{``/``}``, which would change the hash tag).

    Raises:
        TypeError: not a ``str``.
        ValueError: empty, or contains a forbidden character.
    """
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
    if not prefix or any(c.isspace() or not c.isprintable() for c in prefix):
        raise ValueError(f"prefix must be non-empty, without whitespace/control chars: {prefix!r}")
    if cluster and ("{" in prefix or "}" in prefix):
        raise ValueError(f"prefix must not contain braces in cluster mode: {prefix!r}")
    return prefix


def check_redis_ttl(value: object, name: str = "ttl") -> float:
    """Check a TTL in seconds for Redis: a finite number ``> 0`` and at most :data:`MAX_TTL`.

    Raises:
        TypeError: not a number.
        ValueError: zero, negative, not finite, or above :data:`MAX_TTL`.
    """
    ttl = check_ttl(value, name)
    if ttl > MAX_TTL:
        raise ValueError(
            f"{name} must be at most {MAX_TTL:.0e} seconds (Redis cannot store a later expiry "
            f"time), got {value!r}"
        )
    return ttl


def ttl_args(ttl: float) -> tuple[str, int]:
    """The expiry unit and amount for ``SET``/``EXPIRE``: ``("EX", seconds)`` for a whole
    number of seconds (as the npm package writes), else ``("PX", milliseconds)`` (rounded up,
    at least 1), so sub-second TTLs work."""
    if float(ttl).is_integer():
        return "EX", int(ttl)
    return "PX", ttl_ms(ttl)


@dataclass(frozen=True, slots=True)
class StreamKeys:
    """Builds a stream's key and channel names.

    Args:
        prefix: the key prefix (default ``"aibind:stream"``).
        cluster: wrap ids in a ``{...}`` hash tag.
    """

    prefix: str
    cluster: bool = False

    def base(self, stream_id: str) -> str:
        """``{prefix}:{id}``; in cluster mode ``{prefix}:{{id}}``, so the id is the hash tag.

        Redis takes the hash tag from the first ``{`` to the next ``}``; an id starting with
        ``}`` would give an empty tag (the whole key hashed, a stream's keys in different
        slots), so in cluster mode an id starting with ``}`` or ``\\`` is written with a
        ``\\`` in front (``}x`` -> ``{prefix}:{\\}x}``): every id still has its own keys.
        """
        if self.cluster:
            tag = "\\" + stream_id if stream_id[:1] in ("}", "\\") else stream_id
            return f"{self.prefix}:{{{tag}}}"
        return f"{self.prefix}:{stream_id}"

    def status(self, stream_id: str) -> str:
        """``{prefix}:{id}:status``."""
        return f"{self.base(stream_id)}:status"

    def chunks(self, stream_id: str) -> str:
        """``{prefix}:{id}:chunks``."""
        return f"{self.base(stream_id)}:chunks"

    def channel(self, stream_id: str) -> str:
        """``{prefix}:{id}:notify``: the pub/sub channel a write publishes to."""
        return f"{self.base(stream_id)}:notify"
