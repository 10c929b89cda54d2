"""Key, channel and TTL spelling of the Redis stores (the npm ``@aibind/redis`` key schema).

Per stream ``{prefix}:{id}:status`` (a JSON string ``{"state":...,"totalChunks":n}`` plus
``"error"`` when failed) and ``{prefix}:{id}:chunks`` (a list); per conversation
``{prefix}:{session_id}``. In cluster mode the id is wrapped in a hash tag,
``{prefix}:{{id}}:status``, so a stream's keys and channel share one slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["StreamKeys", "check_prefix", "ttl_args"]


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


def ttl_args(ttl: float) -> tuple[str, int]:
    """The expiry unit and amount for ``SET``/``EXPIRE``: ``("EX", seconds)`` for a whole
    number of seconds (as the npm package writes), else ``("PX", milliseconds)`` (at least 1),
    so sub-second TTLs work."""
    if float(ttl).is_integer():
        return "EX", int(ttl)
    return "PX", max(1, math.ceil(ttl * 1000))


@dataclass(frozen=True, slots=True)
class StreamKeys:
    """Builds a stream's key and channel names.

    Args:
        prefix: the key prefix (default ``"aibind:stream"``).
        cluster: wrap ids in a ``{...}`` hash tag.
    """

    prefix: str
    cluster: bool = False

    def _base(self, stream_id: str) -> str:
        if self.cluster:
            if stream_id.startswith("}"):
                # "{}" would be an empty hash tag: Redis would hash the whole key instead.
                raise ValueError(
                    f"stream_id must not start with '}}' in cluster mode: {stream_id!r}"
                )
            return f"{self.prefix}:{{{stream_id}}}"
        return f"{self.prefix}:{stream_id}"

    def status(self, stream_id: str) -> str:
        """``{prefix}:{id}:status``."""
        return f"{self._base(stream_id)}:status"

    def chunks(self, stream_id: str) -> str:
        """``{prefix}:{id}:chunks``."""
        return f"{self._base(stream_id)}:chunks"

    def channel(self, stream_id: str) -> str:
        """``{prefix}:{id}:notify``: the pub/sub channel a write publishes to."""
        return f"{self._base(stream_id)}:notify"
