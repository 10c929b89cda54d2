"""``StreamChunk`` as a value and ``chunks_from_rows``, the replay's bulk builder (issue #8)."""

from __future__ import annotations

import pickle
from collections.abc import Sequence

import pytest

from aibind.core.kit import chunk_run, chunks_from_rows
from aibind.core.types import StreamChunk


def test_a_chunk_is_an_immutable_named_pair() -> None:
    chunk = StreamChunk(3, "abc")
    assert (chunk.seq, chunk.data) == (3, "abc")
    assert StreamChunk(seq=3, data="abc") == chunk
    seq, data = chunk
    assert (seq, data) == (3, "abc")
    assert repr(chunk) == "StreamChunk(seq=3, data='abc')"
    with pytest.raises(AttributeError):
        chunk.seq = 4  # type: ignore[misc]
    assert hash(chunk) == hash(StreamChunk(3, "abc"))
    assert sorted([StreamChunk(2, "b"), StreamChunk(1, "z")])[0].seq == 1
    assert pickle.loads(pickle.dumps(chunk)) == chunk
    assert chunk._replace(data="x") == StreamChunk(3, "x")


def test_rows_become_chunks_in_order() -> None:
    rows = [(1, "a"), (2, ""), (3, "ü\n")]
    chunks = chunks_from_rows(rows)
    assert chunks == [StreamChunk(1, "a"), StreamChunk(2, ""), StreamChunk(3, "ü\n")]
    assert all(type(c) is StreamChunk for c in chunks)
    assert chunks_from_rows([]) == []
    assert chunks_from_rows([("status", None), (5, "x"), (6, "y")], 1) == [
        StreamChunk(5, "x"),
        StreamChunk(6, "y"),
    ]


def test_a_page_is_a_sequence_made_on_demand() -> None:
    page = chunk_run(5, ["x", "y", "z"])
    assert isinstance(page, Sequence)
    assert len(page) == 3
    assert (page[0], page[-1], page[1:]) == (
        StreamChunk(5, "x"),
        StreamChunk(7, "z"),
        [StreamChunk(6, "y"), StreamChunk(7, "z")],
    )
    assert list(page) == list(page)  # iterable again
    assert page == chunks_from_rows([(5, "x"), (6, "y"), (7, "z")])
    rows = chunks_from_rows([None, (5, "x"), (6, "y"), (7, "z")], 1)
    for cut in (slice(None, None, 2), slice(-2, None), slice(None, None, -1), slice(5, 9)):
        assert page[cut] == rows[cut] == list(page)[cut]
    assert page != [StreamChunk(5, "x")]
    assert [c.seq for c in reversed(page)] == [7, 6, 5]
    assert StreamChunk(6, "y") in page
    with pytest.raises(IndexError):
        page[3]
    with pytest.raises(TypeError):
        hash(page)
    assert repr(chunk_run(1, ["a"])) == "ChunkPage([StreamChunk(seq=1, data='a')])"
    assert chunk_run(1, []) == []


def test_driver_rows_that_iterate_as_pairs_are_taken() -> None:
    class Record:  # what asyncpg / sqlite3.Row look like: iterable, not tuples
        def __init__(self, *values: object) -> None:
            self.values = values

        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter(self.values)

    chunks = chunks_from_rows([Record(1, "a"), Record(2, "b")])
    assert chunks == [StreamChunk(1, "a"), StreamChunk(2, "b")]


@pytest.mark.parametrize("rows", [[(1, "a", "extra")], [(1,)], [(1, "a"), (2, "b", 3)]])
def test_rows_of_another_width_are_refused(rows: list[tuple[object, ...]]) -> None:
    with pytest.raises(ValueError, match=r"exactly \(seq, data\)"):
        chunks_from_rows(rows)
