"""``parse_chunks``: an ``LRANGE`` reply as a page of chunks, in bulk where it can and value by
value where it must (a NUL or undecodable bytes written by another tool, mixed reply types)."""

from __future__ import annotations

import pytest

from aibind.core.errors import CorruptDataError
from aibind.core.types import StreamChunk
from aibind.redis._codec import parse_chunks


def test_bytes_and_str_replies_become_consecutive_chunks() -> None:
    expected = [StreamChunk(8, "a"), StreamChunk(9, "ü"), StreamChunk(10, "")]
    assert parse_chunks([b"a", "ü".encode(), b""], 7, "k") == expected
    assert parse_chunks(["a", "ü", ""], 7, "k") == expected
    assert parse_chunks([], 7, "k") == []


def test_large_values_are_decoded_one_by_one() -> None:
    values = [("x" * 2000 + str(i)).encode() for i in range(3)]
    assert [c.data for c in parse_chunks(values, 0, "k")] == [v.decode() for v in values]


@pytest.mark.parametrize(
    "values",
    [
        [b"a", b"b\x00c", b"d"],  # a NUL: the split would give four texts
        [b"a", "b", b"c"],  # mixed: a str among bytes
        ["a", b"b", "c"],  # mixed: bytes among str
        [b"x" * 2000, "y", b"z" * 2000],  # mixed, on the large-value path
        [bytearray(b"a"), b"b"],  # bytes-like first  # type: ignore[list-item]
    ],
)
def test_odd_replies_still_give_every_chunk_in_order(values: list[str | bytes]) -> None:
    page = parse_chunks(values, 0, "k")
    assert [c.seq for c in page] == [1, 2, 3][: len(values)]
    assert [c.data for c in page] == [v if isinstance(v, str) else v.decode() for v in values]


def test_undecodable_bytes_name_the_seq() -> None:
    with pytest.raises(CorruptDataError, match=r"seq 6"):
        parse_chunks([b"ok", b"\xff\xfe"], 4, "aibind:s:chunks")
