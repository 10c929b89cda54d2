"""One node of a conversation tree (:class:`TreeNode`), its timestamps, and the error for an
unknown node id (:class:`NodeNotFoundError`).

The Python spelling of the npm ``@aibind/core`` ``TreeNode<M>`` interface (``message-tree.ts``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Generic, TypeVar

from aibind.core.errors import NodeNotFoundError

__all__ = [
    "M",
    "NodeNotFoundError",
    "TreeNode",
    "check_timestamp",
    "format_timestamp",
    "parse_timestamp",
    "utc_now",
]

M = TypeVar("M")
"""The message type a tree holds (any JSON value; chats use ``ConversationMessage``)."""


@dataclass(frozen=True, slots=True)
class TreeNode(Generic[M]):
    """One message in a conversation tree; immutable (an edit makes a new sibling node).

    Attributes:
        id: unique id of the node (a uuid4 string unless the tree was given ``generate_id``).
        message: the message payload, a JSON value (do not mutate it: the tree owns it).
        parent_id: id of the parent node, ``None`` for a root.
        children: ids of the child nodes in creation order; the first is the default branch.
        metadata: arbitrary JSON-able metadata (read-only mapping), e.g. ``{"compacted": True}``.
        created_at: when the node was created, timezone-aware UTC, millisecond precision
            (what the wire format keeps).
    """

    id: str
    message: M
    parent_id: str | None
    children: tuple[str, ...]
    metadata: Mapping[str, Any]
    created_at: datetime


def utc_now() -> datetime:
    """Return the current UTC time truncated to whole milliseconds (the wire precision, so a
    saved and reloaded node compares equal)."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def format_timestamp(moment: datetime) -> str:
    """Format ``moment`` as JavaScript's ``Date.prototype.toISOString`` does:
    ``"2026-11-21T13:03:00.123Z"`` (UTC, milliseconds, ``Z``).

    Args:
        moment: an aware datetime (converted to UTC) or a naive one (taken as UTC).

    Returns:
        the 24-character ISO-8601 string; sub-millisecond digits are dropped.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"([Zz]|[+-]\d{2}:?\d{2})?",
    re.ASCII,
)


_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", re.ASCII)


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO-8601 date-time: what ``toISOString`` writes (``2026-11-21T13:03:00.123Z``)
    and the common variants (no or more fractional digits, a ``+hh:mm`` offset, no offset =
    UTC).

    Args:
        text: the timestamp.

    Returns:
        an aware UTC datetime truncated to whole milliseconds, so
        ``format_timestamp(parse_timestamp(s)) == s`` for every string ``toISOString`` writes.

    Raises:
        ValueError: ``text`` is not such a timestamp, or names an impossible date or time.
    """
    if _CANONICAL.fullmatch(text) is not None:  # what toISOString writes: the fast path
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not an ISO-8601 timestamp")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    millis = int((fraction or "0")[:3].ljust(3, "0"))
    zone = timezone.utc
    if offset and offset not in "Zz":
        digits = offset[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        zone = timezone(-delta if offset[0] == "-" else delta)
    moment = datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), millis * 1000, zone
    )
    if zone is timezone.utc:
        return moment
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError as exc:
        raise ValueError(f"{text!r} is out of the supported date range") from exc


def check_timestamp(text: str) -> None:
    """Check that ``text`` is a timestamp :func:`parse_timestamp` accepts, faster than parsing
    it for the ``toISOString`` form.

    Raises:
        ValueError: as :func:`parse_timestamp`.
    """
    if _CANONICAL.fullmatch(text) is not None:
        datetime.fromisoformat(text[:-1])  # rejects impossible dates and times
    else:
        parse_timestamp(text)
