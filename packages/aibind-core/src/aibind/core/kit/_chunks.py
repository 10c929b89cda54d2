"""Building :class:`~aibind.core.types.StreamChunk` lists from ``(seq, data)`` rows, the hot
loop of a replay.

``StreamChunk`` is a named tuple: ``tuple.__new__(StreamChunk, row)`` makes one from a row in C,
and ``map`` runs that over a page without a Python-level step per chunk (about 0.15 us a chunk
on the development machine, against 0.3 for a slots dataclass set through its slot
descriptors and 0.45 through its generated ``__init__``).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat
from typing import Any

from aibind.core.types import StreamChunk

__all__ = ["chunks_from_rows"]

_NEW = tuple.__new__


def chunks_from_rows(rows: Iterable[Iterable[Any]]) -> list[StreamChunk]:
    """One ``StreamChunk(seq, data)`` per ``(seq, data)`` row, in order.

    Args:
        rows: pairs: tuples, or the rows of one query result (all of one width) that iterate
            as two values; the values are taken as they are (the caller has checked or
            converts their types).

    Returns:
        the chunks, as a new list.

    Raises:
        ValueError: the rows do not hold exactly two values (judged by the first and last:
            the rows of one result all have its width).
    """
    chunks: list[StreamChunk] = list(map(_NEW, repeat(StreamChunk), rows))
    if chunks and (len(chunks[0]) != 2 or len(chunks[-1]) != 2):
        raise ValueError("chunks_from_rows: every row must hold exactly (seq, data)")
    return chunks
