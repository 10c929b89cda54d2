"""Tests of the shared argument checks."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aibind.core import validation as v


@given(st.text(min_size=1, max_size=v.MAX_ID_LENGTH).filter(str.isprintable))
def test_every_printable_id_is_accepted(value: str) -> None:
    assert v.check_id(value) == value


@given(st.text().filter(lambda s: "\x00" not in s))
def test_every_nul_free_chunk_is_accepted(value: str) -> None:
    assert v.check_chunk(value) == value


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf, -math.inf])
def test_bad_ttl_values(bad: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        v.check_ttl(bad)


@pytest.mark.parametrize("bad", ["1", None, True])
def test_bad_ttl_types(bad: object) -> None:
    with pytest.raises(TypeError, match="ttl"):
        v.check_ttl(bad)


def test_interval_none_means_push_only() -> None:
    assert v.check_interval(None) is None
    assert v.check_interval(1) == 1.0
    with pytest.raises(ValueError, match="poll_interval"):
        v.check_interval(0)


def test_chunks_must_be_an_iterable_of_str() -> None:
    assert v.check_chunks(("a", "b")) == ["a", "b"]
    assert v.check_chunks(iter(["x"])) == ["x"]
    with pytest.raises(TypeError, match=r"chunks\[1\]"):
        v.check_chunks(["a", 1])
    with pytest.raises(TypeError, match="chunks"):
        v.check_chunks("ab")
    with pytest.raises(TypeError, match="chunks"):
        v.check_chunks(5)


def test_after_seq_rejects_bool() -> None:
    with pytest.raises(TypeError, match="after_seq"):
        v.check_after_seq(True)


def test_names_appear_in_messages() -> None:
    with pytest.raises(ValueError, match="session_id must not be empty"):
        v.check_id("", "session_id")
