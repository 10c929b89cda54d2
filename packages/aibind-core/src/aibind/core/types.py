"""The value types shared by every store: stream chunks, stream status, conversation messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple, TypedDict

__all__ = [
    "TERMINAL_STATES",
    "ConversationMessage",
    "StreamChunk",
    "StreamState",
    "StreamStatus",
]

StreamState = Literal["active", "done", "stopped", "error"]
"""The life cycle of a stream: ``active`` until exactly one of ``done`` (``complete()``),
``stopped`` (``stop()``) or ``error`` (``fail()``); the three terminal states are final."""

TERMINAL_STATES: frozenset[str] = frozenset({"done", "stopped", "error"})
"""The states a stream never leaves."""


class StreamChunk(NamedTuple):
    """One stored chunk of a stream (npm ``{ seq, data }``): an immutable named pair, so
    ``seq, data = chunk`` unpacks it and chunks order by ``seq``.

    A named tuple rather than a dataclass because a replay builds one per chunk: a store
    makes them from its rows in C as the consumer takes them
    (:class:`aibind.core.kit.ChunkPage`), in half the time a slots dataclass takes (measured,
    issue #8).

    Attributes:
        seq: 1-based position of the chunk in its stream.
        data: the chunk's text, exactly as appended.
    """

    seq: int
    data: str


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """The state of a stream as ``get_status()`` reports it.

    Attributes:
        state: ``"active"``, ``"done"``, ``"stopped"`` or ``"error"``.
        total_chunks: how many chunks the stream holds (the seq of the last one).
        error: the message given to ``fail()`` when ``state == "error"``, else ``None``.
    """

    state: StreamState
    total_chunks: int
    error: str | None = None

    @property
    def is_terminal(self) -> bool:
        """``True`` once the stream is ``done``, ``stopped`` or ``error``."""
        return self.state != "active"


class ConversationMessage(TypedDict):
    """One chat message as the npm ``@aibind/core`` package stores it: ``role`` (``"user"``,
    ``"assistant"``, ``"system"``, ...) and ``content`` (the text)."""

    role: str
    content: str
