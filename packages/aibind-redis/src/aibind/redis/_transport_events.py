"""The event encoding of :class:`~aibind.redis.transport.RedisStreamTransport`.

Each event is one Redis Streams entry with four fields:

* ``type``: the event type (``"token"``, ``"tool_call"``, ``"done"``...);
* ``data``: the payload as compact JSON;
* ``metadata``: a JSON object (``{}`` when none was given);
* ``timestamp``: seconds since the epoch when published, as decimal text.

(The seed, ``redis_openai_agents``, does not document its field layout; this one keeps every
field human-readable in ``redis-cli`` and loses nothing JSON can express.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aibind.redis.codec import text

__all__ = ["DEFAULT_TERMINAL_TYPES", "StreamEvent", "decode_event", "encode_event"]

DEFAULT_TERMINAL_TYPES: frozenset[str] = frozenset({"done", "error", "stopped"})
"""Event types that end :meth:`RedisStreamTransport.asubscribe` (after being yielded)."""


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event read from the stream.

    Attributes:
        id: the entry id (``"1700000000000-0"``), usable as ``last_id``/``start_id`` and for
            :meth:`~RedisStreamTransport.ack`.
        type: the event type given to ``publish``.
        data: the decoded JSON payload.
        metadata: the decoded metadata object.
        timestamp: publish time in seconds since the epoch.
    """

    id: str
    type: str
    data: Any
    metadata: dict[str, Any] = field(default_factory=dict)
    timestamp: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The event as a plain dict (``id``, ``type``, ``data``, ``metadata``, ``timestamp``)."""
        return {
            "id": self.id,
            "type": self.type,
            "data": self.data,
            "metadata": dict(self.metadata),
            "timestamp": self.timestamp,
        }


def encode_event(event_type: str, data: Any, metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """The entry fields for one event.

    Raises:
        TypeError: ``event_type`` is not a ``str``, ``metadata`` not a mapping, or ``data`` /
            ``metadata`` are not JSON-serialisable.
        ValueError: ``event_type`` is empty.
    """
    if not isinstance(event_type, str):
        raise TypeError(f"event_type must be a str, not {type(event_type).__name__}")
    if not event_type:
        raise ValueError("event_type must not be empty")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping, not {type(metadata).__name__}")
    try:
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        meta = json.dumps(dict(metadata or {}), ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"data and metadata must be JSON-serialisable: {exc}") from exc
    return {
        "type": event_type,
        "data": payload,
        "metadata": meta,
        "timestamp": f"{time.time():.6f}",
    }


def decode_event(entry_id: Any, fields: Mapping[Any, Any]) -> StreamEvent:
    """Decode one entry. Entries not written by the transport (no ``type`` field) come back
    with ``type=""`` and their raw fields as ``data``; undecodable JSON is kept as text."""
    f = {text(k): text(v) for k, v in fields.items()}
    if "type" not in f:
        return StreamEvent(text(entry_id), "", f)

    def load(raw: str | None, default: Any) -> Any:
        if raw is None:
            return default
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    meta = load(f.get("metadata"), {})
    try:
        ts = float(f.get("timestamp", "0"))
    except ValueError:
        ts = 0.0
    return StreamEvent(
        text(entry_id),
        f["type"],
        load(f.get("data"), None),
        meta if isinstance(meta, dict) else {},
        ts,
    )
