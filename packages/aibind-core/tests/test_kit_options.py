"""URL query options, parsed the same way for every backend (aibind.core.kit)."""

from __future__ import annotations

import pytest

from aibind.core.kit import (
    parse_bool,
    parse_float,
    parse_int,
    parse_optional_float,
    parse_str,
    split_url_options,
)

KNOWN = {"ttl": parse_float, "prefix": parse_str, "poll_interval": parse_optional_float}


def test_no_query_returns_the_url_unchanged() -> None:
    assert split_url_options("redis://h:1/0", KNOWN) == ("redis://h:1/0", {})


def test_known_options_are_taken_out_and_parsed() -> None:
    query = "prefix=app%3Astream&ttl=600&poll_interval=none"
    url, opts = split_url_options(f"redis://h/0?{query}", KNOWN)
    assert url == "redis://h/0"
    assert opts == {"prefix": "app:stream", "ttl": 600.0, "poll_interval": None}


def test_driver_parameters_pass_through_with_percent_encoding() -> None:
    url, opts = split_url_options(
        "postgresql://u@h/db?sslmode=require&ttl=5&options=-c%20search_path%3Dx",
        KNOWN,
        passthrough=lambda key: True,
    )
    assert opts == {"ttl": 5.0}
    assert url == "postgresql://u@h/db?sslmode=require&options=-c%20search_path%3Dx"


def test_unknown_option_names_it_and_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown URL option 'prefx'.*poll_interval, prefix, ttl"):
        split_url_options("redis://h/0?prefx=a", KNOWN)


def test_bad_value_and_duplicates() -> None:
    with pytest.raises(ValueError, match="ttl='soon'"):
        split_url_options("redis://h/0?ttl=soon", KNOWN)
    with pytest.raises(ValueError, match="twice"):
        split_url_options("redis://h/0?ttl=1&ttl=2", KNOWN)
    with pytest.raises(TypeError, match="url"):
        split_url_options(b"redis://h", KNOWN)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("parser", "text", "value"),
    [
        (parse_bool, "Yes", True),
        (parse_bool, "off", False),
        (parse_int, "20", 20),
        (parse_float, "0.25", 0.25),
        (parse_optional_float, "OFF", None),
        (parse_optional_float, "2", 2.0),
    ],
)
def test_parsers(parser: object, text: str, value: object) -> None:
    assert parser(text) == value  # type: ignore[operator]


@pytest.mark.parametrize(
    ("parser", "text"),
    [(parse_bool, "maybe"), (parse_int, "1.5"), (parse_float, "inf"), (parse_float, "nan")],
)
def test_parsers_refuse_bad_text(parser: object, text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parser(text)  # type: ignore[operator]


def test_paths_with_empty_hosts_survive() -> None:
    assert split_url_options("sqlite:////abs/app.db?ttl=1", KNOWN) == (
        "sqlite:////abs/app.db",
        {"ttl": 1.0},
    )
    assert split_url_options("x:///rel.db?ttl=1#frag", KNOWN) == ("x:///rel.db#frag", {"ttl": 1.0})
