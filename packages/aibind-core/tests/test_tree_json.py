"""The conversation wire format: npm interop, JavaScript-identical JSON text, timestamps, and
every validation failure (each a CorruptDataError naming the node)."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aibind.conformance.fixtures import NPM_FIXTURES
from aibind.core import jsjson, tree_json
from aibind.core.chat_history import ChatHistory
from aibind.core.errors import CorruptDataError
from aibind.core.message_tree import MessageTree
from aibind.core.tree_json import parse_tree
from aibind.core.tree_node import check_timestamp, format_timestamp, parse_timestamp

FIXTURES = NPM_FIXTURES
"""The files ``@aibind/core`` 0.15.0 wrote, shipped with the conformance suite."""

# ─── npm interop ────────────────────────────────────────────────


@pytest.fixture
def npm_json() -> str:
    return (FIXTURES / "chat_history.json").read_text(encoding="utf-8")


def test_npm_fixture_loads_with_the_reported_path(npm_json: str) -> None:
    expected = json.loads((FIXTURES / "chat_history.expected.json").read_text(encoding="utf-8"))
    chat: ChatHistory[Any] = ChatHistory.from_json(npm_json)
    assert chat.messages == expected["messages"]
    assert chat.node_ids == expected["nodeIds"]
    assert chat.size == expected["size"]


def test_npm_fixture_round_trips_byte_for_byte(npm_json: str) -> None:
    chat: ChatHistory[Any] = ChatHistory.from_json(npm_json)
    assert chat.to_json() == npm_json
    assert ChatHistory.from_json(npm_json.encode("utf-8")).to_json() == npm_json
    # through the dict form too (what a jsonb store would hand back)
    assert ChatHistory.from_dict(json.loads(npm_json)).to_json() == npm_json


def test_npm_fixture_branches_navigate_as_npm_describes(npm_json: str) -> None:
    chat: ChatHistory[Any] = ChatHistory.from_json(npm_json)
    user_id = chat.node_ids[1]
    assert chat.alternative_count(user_id) == 2
    assert chat.alternative_index(user_id) == 0
    chat.next_alternative(user_id)
    assert [m["content"] for m in chat.messages] == [
        "You are terse.",
        "Edited hello",
        "Edited reply",
    ]
    node = chat.tree.get(chat.node_ids[0])
    assert node is not None
    assert node.created_at == datetime(2026, 11, 21, 13, 15, 30, 161000, timezone.utc)


def test_written_json_is_compact_camel_case_in_npm_key_order() -> None:
    ids = iter(["a", "b"])
    chat: ChatHistory[Any] = ChatHistory(generate_id=lambda: next(ids))
    chat.append({"role": "user", "content": "héllo ☃"})
    chat.append({"role": "assistant", "content": "x"}, {"model": "m"})
    text = chat.to_json()
    data = json.loads(text)
    assert list(data) == ["version", "nodes", "rootIds", "activeLeafId"]
    assert list(data["nodes"]["a"]) == [
        "id",
        "message",
        "parentId",
        "children",
        "metadata",
        "createdAt",
    ]
    assert text == json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    assert '"content":"héllo ☃"' in text
    assert data["nodes"]["b"]["metadata"] == {"model": "m"}
    assert data["rootIds"] == ["a"]
    assert data["activeLeafId"] == "b"


def test_extra_node_keys_are_kept_as_npm_keeps_them() -> None:
    tree: MessageTree[Any] = MessageTree(generate_id=lambda: "r")
    tree.append("x")
    data = json.loads(tree.to_json())
    data["nodes"]["r"]["extra"] = [1, 2]
    text = json.dumps(data, separators=(",", ":"))
    assert MessageTree.from_json(text).to_json() == text


# ─── JavaScript-identical JSON ──────────────────────────────────

JS_NUMBERS = {  # written by node v20: JSON.stringify(x)
    1e-7: "1e-7",
    0.000001: "0.000001",
    1.5e-7: "1.5e-7",
    0.00001: "0.00001",
    1e21: "1e+21",
    1e20: "100000000000000000000",
    123.456: "123.456",
    0.1: "0.1",
    -0.0: "0",
    1e16: "10000000000000000",
    5e-324: "5e-324",
    1.7976931348623157e308: "1.7976931348623157e+308",
    -1.5e-10: "-1.5e-10",
    0.0001234: "0.0001234",
    2.0**53 + 2: "9007199254740994",
    12345678901234567890.0: "12345678901234567000",
}


@pytest.mark.parametrize(("value", "expected"), JS_NUMBERS.items())
def test_format_js_number_matches_node(value: float, expected: str) -> None:
    assert jsjson.format_js_number(value) == expected


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_format_js_number_round_trips(value: float) -> None:
    assert float(jsjson.format_js_number(value)) == value


def test_format_js_number_rejects_nan() -> None:
    with pytest.raises(ValueError, match="nan"):
        jsjson.format_js_number(math.nan)


def test_dumps_writes_what_json_stringify_writes() -> None:
    # node v20: JSON.stringify(["\ud800","\udc00x","\ud83d\ude00","\u2028","\x7f",...])
    value = ["\ud800", "\udc00x", "😀", "\u2028", "\x7f", '\x1f\b\f\n\r\t"\\', "\x00"]
    assert jsjson.dumps(value) == (
        '["\\ud800","\\udc00x","😀","\u2028","\x7f","\\u001f\\b\\f\\n\\r\\t\\"\\\\","\\u0000"]'
    )
    assert jsjson.dumps({"a": [1e-7, 1, True, None, "s"]}) == '{"a":[1e-7,1,true,null,"s"]}'
    assert jsjson.dumps(1e-5) == "0.00001"
    # text that merely looks like a float takes the slow path and is still right
    assert jsjson.dumps({"t": "e-05,", "u": "3e-4f"}) == '{"t":"e-05,","u":"3e-4f"}'


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["a", {"b": [1, 2.5, None, True]}, 3],
        ["\ud800", {"x": "\udc00"}, "ok"],  # lone surrogates: the per-value path
        [1e-7, {"a": [1e-5]}, "e-05,"],  # Python's spelling of tiny floats, and a lookalike
    ],
)
def test_dumps_many_writes_what_dumps_writes(values: list[Any]) -> None:
    assert jsjson.dumps_many(iter(values)) == [jsjson.dumps(value) for value in values]


def test_dumps_many_rejects_what_dumps_rejects() -> None:
    with pytest.raises(ValueError, match=r"JSON compliant|nan"):
        jsjson.dumps_many(["a", [math.nan]])
    with pytest.raises(TypeError):
        jsjson.dumps_many([{"a": {1, 2}}])
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ValueError, match="too deeply"):
        jsjson.dumps_many([deep])


def test_dumps_rejects_what_json_cannot_hold() -> None:
    with pytest.raises(ValueError, match=r"JSON compliant|nan"):
        jsjson.dumps([math.inf])
    with pytest.raises(TypeError):
        jsjson.dumps({"a": {1, 2}})


def test_loads_makes_integral_numbers_int_and_refuses_nan() -> None:
    assert jsjson.loads("[1.0,1e3,-0.0,1.5,1e21,1e-7]") == [1, 1000, 0, 1.5, 1e21, 1e-7]
    assert [type(v) for v in jsjson.loads("[1.0,1e3,1.5]")] == [int, int, float]
    for bad in ("NaN", "[Infinity]", "-Infinity", "1e400"):
        with pytest.raises(ValueError, match=r"not valid JSON|out of range"):
            jsjson.loads(bad)


def test_copy_json_value_copies_and_normalises() -> None:
    original = {"a": [1, 2.0, {"b": None}], "c": True}
    copied = jsjson.copy_json_value(original, "message")
    assert copied == original
    assert copied is not original
    assert isinstance(copied, dict)
    assert copied["a"] is not original["a"]
    assert type(copied["a"][1]) is int  # type: ignore[index]


@pytest.mark.parametrize(
    ("value", "error", "where"),
    [
        ((1, 2), TypeError, "message must be a JSON value"),
        ({"a": {1: "x"}}, TypeError, "message['a'] has a int key"),
        ({"a": [0, b"x"]}, TypeError, "message['a'][1] must be a JSON value"),
        ({"a": [math.nan]}, ValueError, r"message\['a'\]\[0\] is nan"),
        (object(), TypeError, "not object"),
    ],
)
def test_copy_json_value_names_the_bad_part(value: object, error: type, where: str) -> None:
    with pytest.raises(error, match=where if error is ValueError else None) as info:
        jsjson.copy_json_value(value, "message")
    if error is TypeError:
        assert where in str(info.value)


# ─── timestamps ─────────────────────────────────────────────────


def test_timestamps_round_trip_what_to_iso_string_writes() -> None:
    for text in (
        "2026-11-21T13:03:00.123Z",
        "0001-01-01T00:00:00.000Z",
        "9999-12-31T23:59:59.999Z",
    ):
        assert format_timestamp(parse_timestamp(text)) == text
        check_timestamp(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-21T13:03:00Z", "2026-11-21T13:03:00.000Z"),
        ("2026-11-21T13:03:00.1Z", "2026-11-21T13:03:00.100Z"),
        ("2026-11-21T13:03:00.123456789Z", "2026-11-21T13:03:00.123Z"),
        ("2026-11-21T15:03:00.123+02:00", "2026-11-21T13:03:00.123Z"),
        ("2026-11-21T10:33:00.123-0230", "2026-11-21T13:03:00.123Z"),
        ("2026-11-21 13:03:00.123", "2026-11-21T13:03:00.123Z"),
    ],
)
def test_timestamp_variants_are_accepted(text: str, expected: str) -> None:
    parsed = parse_timestamp(text)
    assert parsed.tzinfo is timezone.utc
    assert format_timestamp(parsed) == expected
    check_timestamp(text)


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "2026-13-01T00:00:00.000Z",
        "2026-02-30T00:00:00.000Z",
        "2026-11-21T24:00:00.000Z",
        "2026-11-21",
        "+275760-09-13T00:00:00.000Z",
        "0001-01-01T00:00:00.000+01:00",
        "2026-11-21T13:03:00.123Z ",
    ],
)
def test_bad_timestamps_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_timestamp(text)
    with pytest.raises(ValueError, match=r"."):
        check_timestamp(text)


def test_format_timestamp_converts_to_utc() -> None:
    moment = datetime(2026, 1, 1, 1, 0, 0, 999999, timezone(timedelta(hours=2)))
    assert format_timestamp(moment) == "2025-12-31T23:00:00.999Z"
    assert format_timestamp(datetime(2026, 1, 1)) == "2026-01-01T00:00:00.000Z"


# ─── validation ─────────────────────────────────────────────────


def valid_tree() -> dict[str, Any]:
    """root r -> a -> b, and r -> c; active leaf b."""

    def node(node_id: str, parent: str | None, children: list[str]) -> dict[str, Any]:
        return {
            "id": node_id,
            "message": {"role": "user", "content": node_id},
            "parentId": parent,
            "children": children,
            "metadata": {},
            "createdAt": "2026-11-21T13:03:00.123Z",
        }

    return {
        "version": 1,
        "nodes": {
            "r": node("r", None, ["a", "c"]),
            "a": node("a", "r", ["b"]),
            "b": node("b", "a", []),
            "c": node("c", "r", []),
        },
        "rootIds": ["r"],
        "activeLeafId": "b",
    }


def _outcome(load: Callable[[], MessageTree[Any]]) -> MessageTree[Any] | CorruptDataError:
    try:
        return load()
    except CorruptDataError as exc:
        return exc


def load(data: object) -> MessageTree[Any]:
    """Load through the JSON text path and the dict path; both must agree (same tree or the
    same error), then return the tree or raise the error."""
    from_dict = _outcome(lambda: MessageTree.deserialize(copy.deepcopy(data)))  # type: ignore[arg-type]
    from_text = _outcome(lambda: MessageTree.from_json(json.dumps(data)))
    assert type(from_dict) is type(from_text)
    if isinstance(from_text, CorruptDataError):
        assert str(from_dict) == str(from_text)
        raise from_text
    assert isinstance(from_dict, MessageTree)
    assert from_dict.to_json() == from_text.to_json()
    return from_text


def test_the_valid_base_tree_loads() -> None:
    tree = load(valid_tree())
    assert tree.get_active_path()[1] == ["r", "a", "b"]
    assert tree.size == 4


def test_invalid_json_is_corrupt() -> None:
    with pytest.raises(CorruptDataError, match="not valid JSON"):
        MessageTree.from_json('{"version":1,')
    with pytest.raises(CorruptDataError, match="not valid JSON"):
        MessageTree.from_json(b"\xff\xfe")
    with pytest.raises(CorruptDataError, match="not valid JSON"):
        MessageTree.from_json('{"version":NaN}')


def test_non_text_json_argument_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="json must be a str or bytes"):
        MessageTree.from_json(12)  # type: ignore[arg-type]


@pytest.mark.parametrize("data", [[], "x", None, 1])
def test_top_level_not_an_object_is_corrupt(data: object) -> None:
    with pytest.raises(CorruptDataError, match="must be an object"):
        load(data)


@pytest.mark.parametrize("version", [2, 0, True, "1", None, 1.5])
def test_unknown_version_is_corrupt(version: object) -> None:
    data = valid_tree()
    data["version"] = version
    with pytest.raises(CorruptDataError, match="unsupported conversation format version"):
        load(data)


def test_missing_version_is_corrupt() -> None:
    data = valid_tree()
    del data["version"]
    with pytest.raises(CorruptDataError, match="version None"):
        load(data)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("nodes", [], '"nodes" must be an object'),
        ("rootIds", "r", '"rootIds" must be a list of strings'),
        ("rootIds", ["r", 1], '"rootIds" must be a list of strings'),
        ("activeLeafId", 3, '"activeLeafId" must be a string or null'),
    ],
)
def test_top_level_field_types(field: str, value: object, match: str) -> None:
    data = valid_tree()
    data[field] = value
    with pytest.raises(CorruptDataError, match=match):
        load(data)


def test_missing_active_leaf_field_is_corrupt() -> None:
    data = valid_tree()
    del data["activeLeafId"]
    with pytest.raises(CorruptDataError, match='no "activeLeafId"'):
        load(data)


def corrupt(data: dict[str, Any], node_id: str, match: str) -> None:
    with pytest.raises(CorruptDataError, match=match) as info:
        load(data)
    assert repr(node_id) in str(info.value)


def test_node_not_an_object() -> None:
    data = valid_tree()
    data["nodes"]["a"] = ["a"]
    corrupt(data, "a", "must be an object, not list")


@pytest.mark.parametrize(
    "field", ["id", "message", "parentId", "children", "metadata", "createdAt"]
)
def test_node_missing_field(field: str) -> None:
    data = valid_tree()
    del data["nodes"]["c"][field]
    corrupt(data, "c", f'has no "{field}" field')


def test_node_id_differs_from_key() -> None:
    data = valid_tree()
    data["nodes"]["c"]["id"] = "z"
    corrupt(data, "c", "differs from its key")


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("parentId", 5, '"parentId" that is int'),
        ("children", "b", '"children" must be a list of strings'),
        ("children", ["b", 2], '"children" must be a list of strings'),
        ("children", ["b", "b"], "lists a child twice"),
        ("metadata", [], '"metadata" must be an object, not list'),
        ("metadata", None, '"metadata" must be an object, not null'),
        ("createdAt", 1700000000000, '"createdAt" must be a string, not int'),
        ("createdAt", "2026-02-30T00:00:00.000Z", 'invalid "createdAt"'),
        ("createdAt", "soon", 'invalid "createdAt"'),
    ],
)
def test_node_field_types(field: str, value: object, match: str) -> None:
    data = valid_tree()
    data["nodes"]["a"][field] = value
    corrupt(data, "a", match)


def test_missing_parent() -> None:
    data = valid_tree()
    data["nodes"]["c"]["parentId"] = "ghost"
    data["nodes"]["r"]["children"] = ["a"]
    corrupt(data, "c", "names a missing parent 'ghost'")


def test_parent_that_does_not_list_the_child() -> None:
    data = valid_tree()
    data["nodes"]["r"]["children"] = ["a"]
    corrupt(data, "c", "names parent 'r', which does not list it as a child")


def test_missing_child() -> None:
    data = valid_tree()
    data["nodes"]["b"]["children"] = ["ghost"]
    corrupt(data, "b", "lists a missing child 'ghost'")


def test_child_whose_parent_id_disagrees() -> None:
    data = valid_tree()
    data["nodes"]["c"]["children"] = ["b"]  # b's parentId is a, and a lists it
    corrupt(data, "b", "is listed as a child of 'c' but its parentId is 'a'")


def test_root_listed_but_missing() -> None:
    data = valid_tree()
    data["rootIds"] = ["r", "ghost"]
    corrupt(data, "ghost", "listed in rootIds but does not exist")


def test_root_with_a_parent() -> None:
    data = valid_tree()
    data["rootIds"] = ["r", "a"]
    corrupt(data, "a", "listed in rootIds but has parent 'r'")


def test_root_listed_twice() -> None:
    data = valid_tree()
    data["rootIds"] = ["r", "r"]
    corrupt(data, "r", "listed in rootIds twice")


def test_parentless_node_not_in_root_ids() -> None:
    data = valid_tree()
    data["rootIds"] = []
    corrupt(data, "r", "has no parent but is not listed in rootIds")


def test_cycle_of_two_nodes() -> None:
    data = valid_tree()
    data["nodes"]["x"] = dict(data["nodes"]["c"], id="x", parentId="y", children=["y"])
    data["nodes"]["y"] = dict(data["nodes"]["c"], id="y", parentId="x", children=["x"])
    with pytest.raises(CorruptDataError, match="cycle") as info:
        load(data)
    assert "'x'" in str(info.value) or "'y'" in str(info.value)


def test_self_cycle_with_a_subtree() -> None:
    data = valid_tree()
    data["nodes"]["x"] = dict(data["nodes"]["c"], id="x", parentId="x", children=["x", "z"])
    data["nodes"]["z"] = dict(data["nodes"]["c"], id="z", parentId="x", children=[])
    corrupt(data, "x", "part of a cycle")


def test_unknown_active_leaf() -> None:
    data = valid_tree()
    data["activeLeafId"] = "ghost"
    corrupt(data, "ghost", "is the activeLeafId but does not exist")


def test_active_leaf_may_be_an_inner_node_or_null() -> None:
    data = valid_tree()
    data["activeLeafId"] = "a"
    assert load(data).get_active_path()[1] == ["r", "a"]
    data["activeLeafId"] = None
    assert load(data).get_active_path() == ([], [])


def test_empty_tree_loads() -> None:
    tree = load({"version": 1, "nodes": {}, "rootIds": [], "activeLeafId": None})
    assert tree.is_empty


def test_dict_values_that_json_cannot_hold_are_corrupt() -> None:
    data = valid_tree()
    data["nodes"]["a"]["message"] = {"t": (1, 2)}
    with pytest.raises(CorruptDataError, match="holds a value JSON cannot") as info:
        MessageTree.deserialize(data)
    assert "'a'" in str(info.value)
    data["nodes"]["a"]["message"] = {"t": math.inf}
    with pytest.raises(CorruptDataError, match="'a'"):
        MessageTree.deserialize(data)


def test_non_string_node_key_in_a_dict_is_corrupt() -> None:
    data = valid_tree()
    data["nodes"][7] = data["nodes"]["c"]
    with pytest.raises(CorruptDataError, match="7"):
        parse_tree(data)


def test_deserialize_copies_the_input() -> None:
    data = valid_tree()
    tree: MessageTree[Any] = MessageTree.deserialize(data)
    data["nodes"]["b"]["message"]["content"] = "changed"
    data["nodes"]["a"]["children"].append("zzz")
    assert tree.get_active_path()[0][-1] == {"role": "user", "content": "b"}
    node = tree.get("a")
    assert node is not None
    assert node.children == ("b",)


# ─── the one-pass check agrees with the detailed one ────────────


def _branching_tree_json(size: int) -> dict[str, Any]:
    chat: ChatHistory[Any] = ChatHistory()
    ids: list[str] = []
    for i in range(size):
        if ids and i % 4 == 3:
            ids.append(chat.edit(ids[i // 2], {"role": "user", "content": f"edit {i}"}))
        else:
            ids.append(chat.append({"role": "user", "content": f"m{i}"}))
    data: dict[str, Any] = json.loads(chat.to_json())
    return data


_FIELD_VALUES: list[Any] = [None, "x", 1, [], {}, ["x"], "2026-02-30T00:00:00.000Z", True]


@given(
    size=st.integers(1, 12),
    edits=st.lists(
        st.tuples(
            st.integers(0, 100),
            st.sampled_from(
                ["id", "message", "parentId", "children", "metadata", "createdAt", None]
            ),
            st.integers(0, 100),
        ),
        min_size=1,
        max_size=3,
    ),
    roots=st.sampled_from(["keep", "drop", "twice", "extra"]),
)
def test_fast_validation_never_accepts_what_the_detailed_checks_refuse(
    size: int, edits: list[tuple[int, str | None, int]], roots: str
) -> None:
    data = _branching_tree_json(size)
    nodes = data["nodes"]
    ids = list(nodes)
    for index, field, pick in edits:
        key = ids[index % len(ids)]
        if key not in nodes:
            continue
        node = nodes[key]
        if field is None:
            del nodes[key]  # a missing node
            continue
        if pick % 3 == 0:
            node.pop(field, None)
        elif pick % 3 == 1:
            node[field] = _FIELD_VALUES[pick % len(_FIELD_VALUES)]
        else:  # a link to another node
            other = ids[pick % len(ids)]
            node[field] = [other] if field == "children" else other
    if roots == "drop" and data["rootIds"]:
        data["rootIds"].pop()
    elif roots == "twice" and data["rootIds"]:
        data["rootIds"].append(data["rootIds"][0])
    elif roots == "extra":
        data["rootIds"].append(ids[-1])
    try:
        parsed = parse_tree(copy.deepcopy(data), copy_values=True)  # the detailed checks only
    except CorruptDataError:
        parsed = None
    try:
        fast = parse_tree(data, copy_values=False)  # the one-pass check first
    except CorruptDataError:
        fast = None
    assert (parsed is None) == (fast is None)
    if parsed is not None and fast is not None:
        assert parsed == fast


def test_fast_validation_takes_a_valid_tree_as_is() -> None:
    data = _branching_tree_json(30)
    nodes, roots, active = parse_tree(data, copy_values=False)
    assert nodes == data["nodes"]
    assert roots == data["rootIds"]
    assert active == data["activeLeafId"]


def _nodes_out_of_order() -> dict[str, Any]:
    data = valid_tree()
    data["nodes"] = dict(reversed(data["nodes"].items()))  # children before their parents
    return data


def _with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = valid_tree()
    change(data)
    return data


def _set_stamp(stamp: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["nodes"]["b"]["createdAt"] = stamp

    return change


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_nodes_out_of_order(), id="parents-after-children"),
        pytest.param(_with(_set_stamp("2024-02-29T00:00:00.000Z")), id="leap-day"),
        pytest.param(_with(_set_stamp("2026-02-29T00:00:00.000Z")), id="no-leap-day"),
        pytest.param(_with(_set_stamp("2026-04-31T00:00:00.000Z")), id="april-31"),
        pytest.param(_with(_set_stamp("2026-12-31T23:59:59.999Z")), id="december-31"),
        pytest.param(_with(_set_stamp("0000-01-01T00:00:00.000Z")), id="year-0"),
        pytest.param(_with(_set_stamp("2026-01-01T24:00:00.000Z")), id="hour-24"),
        pytest.param(
            _with(_set_stamp("2026-01-01T00:00:00.000Z\n2026-01-01T00:00:00.000Z")),
            id="two-stamps-in-one",
        ),
        pytest.param(
            _with(lambda d: d["nodes"]["r"].update(parentId="")), id="root-with-empty-parent"
        ),
        pytest.param(
            _with(lambda d: d["nodes"]["b"].update(children=["b"], parentId="b")),
            id="self-parent",
        ),
        pytest.param(_with(lambda d: d["nodes"]["b"].update(children=[["x"]])), id="list-child"),
        pytest.param(_with(lambda d: d["nodes"]["c"].update(children=["b"])), id="listed-twice"),
        pytest.param(_with(lambda d: d.update(rootIds=["r", "zz"])), id="unknown-root"),
        pytest.param(_with(lambda d: d.update(rootIds=["a"])), id="root-has-parent"),
        pytest.param(_with(lambda d: d["nodes"]["a"].pop("message")), id="no-message"),
        pytest.param(_with(lambda d: d["nodes"]["r"].update(message="")), id="falsy-message-first"),
    ],
)
def test_fast_validation_agrees_with_the_detailed_checks_on_edge_cases(
    data: dict[str, Any],
) -> None:
    try:
        parsed = parse_tree(copy.deepcopy(data), copy_values=True)  # the detailed checks only
    except CorruptDataError:
        parsed = None
    try:
        fast = parse_tree(data, copy_values=False)  # the bulk check first
    except CorruptDataError:
        fast = None
    assert (parsed is None) == (fast is None)
    assert parsed == fast


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(valid_tree(), id="base"),
        pytest.param(_nodes_out_of_order(), id="parents-after-children"),
        pytest.param(_with(_set_stamp("2024-02-29T00:00:00.000Z")), id="leap-day"),
    ],
)
def test_the_bulk_check_itself_accepts_valid_trees(data: dict[str, Any]) -> None:
    # not only through the detailed checks it falls back to
    assert tree_json._valid_fast(data["nodes"], data["rootIds"], data["activeLeafId"])
