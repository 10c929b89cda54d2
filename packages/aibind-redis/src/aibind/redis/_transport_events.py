"""The event encoding of :class:`~aibind.redis.RedisStreamTransport`, and the decoding of every
reply its verbs read (no I/O here: the sync and async halves share all of it).

Each event is one Redis Streams entry with four fields:

* ``type``: the event type (``"token"``, ``"tool_call"``, ``"done"``...);
* ``data``: the payload as compact JSON;
* ``metadata``: a JSON object (``{}`` when none was given);
* ``timestamp``: seconds since the epoch when published, as decimal text.

(The seed, ``redis_openai_agents``, does not document its field layout; this one keeps every
field human-readable in ``redis-cli`` and loses nothing JSON can express.) JSON is written so
JavaScript's ``JSON.parse`` reads it: ``NaN`` and the infinities are refused with
:class:`ValueError` (``JSON.stringify`` would silently write ``null``), as is text that is not
valid Unicode (a lone surrogate cannot be stored as UTF-8).

An entry that cannot be decoded (bytes that are not UTF-8, written by another program) is
returned as a :class:`CorruptEvent`, in its place among the others, so a consumer sees it,
can acknowledge it (skip it) or claim it elsewhere, and gets every other entry.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aibind.core.errors import AibindError, CorruptDataError
from aibind.core.kit import as_text
from aibind.redis._errors import translate
from aibind.redis.errors import RedisBackendError, TransportError

__all__ = [
    "DEFAULT_TERMINAL_TYPES",
    "ClaimedEvents",
    "CorruptEvent",
    "StreamEvent",
    "decode_entries",
    "decode_entry",
    "decode_read_reply",
    "empty_info",
    "encode_event",
    "entry_id",
    "failure",
    "parse_info",
    "parse_pending",
]

DEFAULT_TERMINAL_TYPES: frozenset[str] = frozenset({"done", "error", "stopped"})
"""Event types that end :meth:`RedisStreamTransport.asubscribe` (after being yielded)."""


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event read from the stream.

    Attributes:
        id: the entry id (``"1700000000000-0"``), usable as ``last_id``/``start_id`` and for
            :meth:`~aibind.redis.RedisStreamTransport.ack`.
        type: the event type given to ``publish`` (``""`` for an entry another program wrote
            without a ``type`` field; its fields are then the ``data``).
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


@dataclass(frozen=True, slots=True)
class CorruptEvent(StreamEvent):
    """An entry that could not be decoded, returned in its place so the rest is delivered.

    Its ``type`` is ``""`` and ``data`` ``None``; acknowledge its ``id`` to skip it (it was
    moved to the group's pending list like the others), or claim it for inspection. Never a
    terminal event.

    Attributes:
        error: what is wrong (names the entry and the byte).
        raw: the entry's fields exactly as stored.
    """

    error: CorruptDataError | None = None
    raw: Mapping[Any, Any] = field(default_factory=dict)


class ClaimedEvents(list[StreamEvent]):
    """The events :meth:`~aibind.redis.RedisStreamTransport.autoclaim` took over (a list), and
    in :attr:`deleted_ids` the ids of pending entries that no longer exist in the stream
    (trimmed by ``max_len`` or deleted before anyone acknowledged them): ``XAUTOCLAIM`` removes
    them from the pending list (Redis 7+), so this is the only signal that they were lost."""

    deleted_ids: list[str]

    def __init__(self, events: Iterable[StreamEvent] = (), deleted_ids: Iterable[str] = ()):
        super().__init__(events)
        self.deleted_ids = list(deleted_ids)


def failure(what: str, stream_name: str, exc: BaseException) -> AibindError:
    """The error to raise (``from exc``) for a failed transport command: the core connection /
    timeout errors as they are, any other Redis failure as :class:`TransportError`; the
    message names the command, the stream and the cause's type."""
    error = translate(exc, f"{what} on stream {stream_name!r}")
    if type(error) is RedisBackendError:
        return TransportError(str(error))
    return error


def _check_text(value: str, name: str) -> str:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"{name} is not valid Unicode text: lone surrogate {value[exc.start]!r} at index "
                f"{exc.start} (Redis stores UTF-8)"
            ) from None
    return value


def _json(value: Any, name: str) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        raise ValueError(
            f"{name} holds NaN or an infinity, which JSON cannot express ({exc})"
        ) from None
    except RecursionError:
        raise ValueError(f"{name} is nested too deeply to encode as JSON") from None
    except TypeError as exc:
        raise TypeError(f"{name} must be JSON-serialisable: {exc}") from None
    return _check_text(text, name)


def encode_event(event_type: str, data: Any, metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """The entry fields for one event.

    Raises:
        TypeError: ``event_type`` is not a ``str``, ``metadata`` not a mapping, or ``data`` /
            ``metadata`` hold something JSON cannot encode.
        ValueError: ``event_type`` is empty, or a value holds NaN/an infinity, a lone
            surrogate, or nesting too deep to encode.
    """
    if not isinstance(event_type, str):
        raise TypeError(f"event_type must be a str, not {type(event_type).__name__}")
    if not event_type:
        raise ValueError("event_type must not be empty")
    _check_text(event_type, "event_type")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping, not {type(metadata).__name__}")
    return {
        "type": event_type,
        "data": _json(data, "data"),
        "metadata": _json(dict(metadata or {}), "metadata"),
        "timestamp": f"{time.time():.6f}",
    }


def entry_id(value: Any) -> str:
    """An entry id from a reply (``bytes`` or ``str``)."""
    return as_text(value, "entry id")


def _load(raw: str | None, default: Any) -> Any:
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw


def decode_entry(eid: Any, fields: Mapping[Any, Any]) -> StreamEvent:
    """Decode one entry. Entries not written by the transport (no ``type`` field) come back
    with ``type=""`` and their raw fields as ``data``; undecodable JSON is kept as text; bytes
    that are not UTF-8 give a :class:`CorruptEvent`."""
    ident = entry_id(eid)
    try:
        f = {as_text(k, f"entry {ident}"): as_text(v, f"entry {ident}") for k, v in fields.items()}
    except CorruptDataError as exc:
        return CorruptEvent(ident, "", None, error=exc, raw=dict(fields))
    if "type" not in f:
        return StreamEvent(ident, "", f)
    meta = _load(f.get("metadata"), {})
    try:
        ts = float(f.get("timestamp", "0"))
    except ValueError:
        ts = 0.0
    return StreamEvent(
        ident, f["type"], _load(f.get("data"), None), meta if isinstance(meta, dict) else {}, ts
    )


def decode_entries(entries: Iterable[Any] | None) -> list[StreamEvent]:
    """Decode ``[(id, fields), ...]``, skipping entries whose fields are gone (``None``: a
    pending entry deleted from the stream)."""
    return [decode_entry(eid, fields) for eid, fields in entries or [] if fields is not None]


def decode_read_reply(reply: Any) -> list[StreamEvent]:
    """Decode an ``XREAD``/``XREADGROUP`` reply (RESP2 list or RESP3 map of streams)."""
    if isinstance(reply, Mapping):
        groups: Iterable[Any] = reply.values()
    else:
        groups = (entries for _stream, entries in reply or [])
    events: list[StreamEvent] = []
    for entries in groups:
        events.extend(decode_entries(entries[0] if _nested(entries) else entries))
    return events


def _nested(entries: Any) -> bool:
    # RESP3 replies wrap a stream's entries in one more list.
    return bool(entries) and isinstance(entries[0], list) and bool(entries[0])


def parse_pending(raw: Mapping[Any, Any]) -> dict[str, Any]:
    """The summary ``XPENDING`` gives (redis-py's parsed dict) in the transport's shape."""
    consumers = {
        as_text(c["name"], "consumer"): int(c["pending"]) for c in raw.get("consumers") or []
    }
    low, high = raw.get("min"), raw.get("max")
    return {
        "pending": int(raw.get("pending") or 0),
        "min_id": None if low is None else entry_id(low),
        "max_id": None if high is None else entry_id(high),
        "consumers": consumers,
    }


def empty_info() -> dict[str, Any]:
    """What :meth:`~aibind.redis.RedisStreamTransport.info` says of a missing stream."""
    return {
        "length": 0,
        "first_entry_id": None,
        "last_entry_id": None,
        "groups": 0,
        "last_generated_id": None,
    }


def parse_info(raw: Mapping[Any, Any]) -> dict[str, Any]:
    """The fields of ``XINFO STREAM`` the transport reports."""
    first, last = raw.get("first-entry"), raw.get("last-entry")
    generated = raw.get("last-generated-id")
    return {
        "length": int(raw.get("length", 0)),
        "first_entry_id": entry_id(first[0]) if first else None,
        "last_entry_id": entry_id(last[0]) if last else None,
        "groups": int(raw.get("groups", 0)),
        "last_generated_id": entry_id(generated) if generated else None,
    }
