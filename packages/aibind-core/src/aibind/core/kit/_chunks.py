"""Building :class:`~aibind.core.types.StreamChunk` lists from ``(seq, data)`` rows, the hot
loop of a replay.

``StreamChunk`` is a frozen slots dataclass; its generated ``__init__`` sets each field through
``object.__setattr__``, which costs about as much as the whole SQLite read of the row. When the
class is exactly that (slots ``seq`` and ``data``, no ``__post_init__``), the fields are set
through their slot descriptors instead, which gives an equal object (checked once at import)
in about half the time; otherwise the plain constructor is used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from itertools import starmap
from typing import Any

from aibind.core.types import StreamChunk

__all__ = ["chunks_from_rows"]


def _plain(rows: Iterable[tuple[Any, Any]]) -> list[StreamChunk]:
    return list(starmap(StreamChunk, rows))


def _slot_builder() -> Callable[[Iterable[tuple[Any, Any]]], list[StreamChunk]] | None:
    cls: Any = StreamChunk
    names = tuple(f.name for f in dataclasses.fields(cls))
    if (
        names != ("seq", "data")
        or getattr(cls, "__slots__", None) != names
        or hasattr(cls, "__post_init__")
    ):
        return None
    new = object.__new__
    set_seq = cls.__dict__["seq"].__set__
    set_data = cls.__dict__["data"].__set__

    def build(rows: Iterable[tuple[Any, Any]]) -> list[StreamChunk]:
        out: list[StreamChunk] = []
        append = out.append
        for seq, data in rows:
            chunk = new(cls)
            set_seq(chunk, seq)
            set_data(chunk, data)
            append(chunk)
        return out

    probe = build([(1, "x")])[0]
    if probe != StreamChunk(1, "x") or hash(probe) != hash(StreamChunk(1, "x")):
        return None
    return build


chunks_from_rows: Callable[[Iterable[tuple[Any, Any]]], list[StreamChunk]] = (
    _slot_builder() or _plain
)
"""``chunks_from_rows(rows)``: one ``StreamChunk(seq, data)`` per ``(seq, data)`` row, in
order (a list)."""
