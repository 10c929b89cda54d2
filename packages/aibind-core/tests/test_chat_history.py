"""ChatHistory: the npm ChatHistory operations in Python spelling, persistence, and a
property test over random chat operations."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aibind.core.chat_history import ChatHistory
from aibind.core.errors import CorruptDataError
from aibind.core.message_tree import MessageTree, NodeNotFoundError
from aibind.core.tree_node import parse_timestamp
from aibind.core.types import ConversationMessage


def counter_ids() -> Callable[[], str]:
    numbers: Iterator[int] = iter(range(1, 10_000))
    return lambda: f"m{next(numbers)}"


@pytest.fixture
def chat() -> ChatHistory[ConversationMessage]:
    return ChatHistory(generate_id=counter_ids())


def user(text: str) -> ConversationMessage:
    return {"role": "user", "content": text}


def bot(text: str) -> ConversationMessage:
    return {"role": "assistant", "content": text}


def contents(chat: ChatHistory[ConversationMessage]) -> list[str]:
    return [m["content"] for m in chat.messages]


def test_empty_history() -> None:
    chat: ChatHistory[ConversationMessage] = ChatHistory()
    assert chat.is_empty
    assert chat.size == 0
    assert chat.messages == []
    assert chat.node_ids == []
    assert isinstance(chat.tree, MessageTree)
    assert repr(chat) == "ChatHistory(size=0, active_leaf_id=None)"


def test_append(chat: ChatHistory[ConversationMessage]) -> None:
    first = chat.append(user("Hello"))
    second = chat.append(bot("Hi!"), {"model": "m"})
    assert chat.messages == [user("Hello"), bot("Hi!")]
    assert chat.node_ids == [first, second]
    assert chat.size == 2
    assert not chat.is_empty
    node = chat.tree.get(second)
    assert node is not None
    assert node.metadata == {"model": "m"}


def test_npm_doc_example(chat: ChatHistory[ConversationMessage]) -> None:
    m1 = chat.append(user("Hello"))
    chat.append(bot("Hi!"))
    m1b = chat.edit(m1, user("Hey there"))
    assert chat.messages == [user("Hey there")]
    chat.prev_alternative(m1b)
    assert chat.messages == [user("Hello"), bot("Hi!")]


def test_edit_a_later_message_branches_from_its_parent(
    chat: ChatHistory[ConversationMessage],
) -> None:
    chat.append(user("q"))
    answer = chat.append(bot("a1"))
    chat.append(user("follow-up"))
    new = chat.edit(answer, bot("a1 edited"))
    assert contents(chat) == ["q", "a1 edited"]
    assert chat.has_alternatives(new)
    assert chat.alternative_count(new) == 2
    assert chat.alternative_index(new) == 1
    assert chat.alternative_index(answer) == 0
    assert chat.size == 4


def test_regenerate_is_edit(chat: ChatHistory[ConversationMessage]) -> None:
    chat.append(user("q"))
    first = chat.append(bot("r1"))
    second = chat.regenerate(first, bot("r2"))
    third = chat.regenerate(second, bot("r3"))
    assert contents(chat) == ["q", "r3"]
    assert chat.alternative_count(first) == 3
    assert [chat.alternative_index(x) for x in (first, second, third)] == [0, 1, 2]


def test_alternative_navigation_clamps(chat: ChatHistory[ConversationMessage]) -> None:
    chat.append(user("q"))
    r1 = chat.append(bot("r1"))
    chat.append(user("more"))
    r2 = chat.regenerate(r1, bot("r2"))
    assert chat.next_alternative(r2) is None
    assert contents(chat) == ["q", "r2"]
    leaf = chat.prev_alternative(r2)
    assert leaf == "m3"  # r1's branch, followed down its first child
    assert contents(chat) == ["q", "r1", "more"]
    assert chat.prev_alternative(r1) is None
    assert contents(chat) == ["q", "r1", "more"]
    assert chat.next_alternative(r1) == r2


def test_single_message_has_no_alternatives(chat: ChatHistory[ConversationMessage]) -> None:
    only = chat.append(user("x"))
    assert not chat.has_alternatives(only)
    assert chat.alternative_count(only) == 1
    assert chat.alternative_index(only) == 0


def test_unknown_ids(chat: ChatHistory[ConversationMessage]) -> None:
    chat.append(user("x"))
    with pytest.raises(NodeNotFoundError, match="message_id 'nope'"):
        chat.edit("nope", user("y"))
    with pytest.raises(NodeNotFoundError, match="'nope'"):
        chat.regenerate("nope", user("y"))
    calls: list[Callable[[], object]] = [
        lambda: chat.has_alternatives("nope"),
        lambda: chat.alternative_count("nope"),
        lambda: chat.alternative_index("nope"),
        lambda: chat.next_alternative("nope"),
        lambda: chat.prev_alternative("nope"),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="'nope'"):
            call()
    with pytest.raises(TypeError, match="message_id must be a str"):
        chat.edit(3, user("y"))  # type: ignore[arg-type]
    assert chat.size == 1


def test_constructor_rejects_a_non_tree() -> None:
    with pytest.raises(TypeError, match="tree must be a MessageTree"):
        ChatHistory(tree={})  # type: ignore[arg-type]


def test_wraps_an_existing_tree() -> None:
    tree: MessageTree[ConversationMessage] = MessageTree()
    tree.append(user("x"))
    chat = ChatHistory(tree=tree)
    assert chat.tree is tree
    assert chat.messages == [user("x")]


def test_compact(chat: ChatHistory[ConversationMessage]) -> None:
    chat.append(user("q"))
    first = chat.append(bot("a"))
    chat.regenerate(first, bot("b"))
    before = datetime.now(timezone.utc) - timedelta(milliseconds=1)
    summary_id = chat.compact({"role": "system", "content": "Summary."})
    assert chat.size == 1
    assert chat.node_ids == [summary_id]
    assert chat.messages == [{"role": "system", "content": "Summary."}]
    node = chat.tree.get(summary_id)
    assert node is not None
    assert node.parent_id is None
    assert list(node.metadata) == ["compacted", "compactedAt"]
    assert node.metadata["compacted"] is True
    stamp = node.metadata["compactedAt"]
    assert isinstance(stamp, str)
    assert len(stamp) == 24
    assert stamp.endswith("Z")
    assert before <= parse_timestamp(stamp) <= datetime.now(timezone.utc)
    wire = json.loads(chat.to_json())["nodes"][summary_id]["metadata"]
    assert wire == {"compacted": True, "compactedAt": stamp}
    chat.append(user("next"))
    assert contents(chat) == ["Summary.", "next"]


def test_compact_with_a_bad_summary_changes_nothing(
    chat: ChatHistory[ConversationMessage],
) -> None:
    chat.append(user("q"))
    before = chat.to_json()
    with pytest.raises(TypeError, match="summary"):
        chat.compact({"role": "system", "content": object()})  # type: ignore[typeddict-item]
    assert chat.to_json() == before


def test_json_round_trip(chat: ChatHistory[ConversationMessage]) -> None:
    chat.append(user("q ☃"))
    r1 = chat.append(bot("a\nb"))
    chat.regenerate(r1, bot("c"))
    chat.prev_alternative("m3")
    text = chat.to_json()
    loaded: ChatHistory[ConversationMessage] = ChatHistory.from_json(text)
    assert loaded.to_json() == text
    assert loaded.messages == chat.messages
    assert loaded.node_ids == chat.node_ids
    assert loaded.size == 3
    assert loaded.alternative_count(r1) == 2
    from_bytes: ChatHistory[ConversationMessage] = ChatHistory.from_json(text.encode())
    assert from_bytes.to_json() == text


def test_dict_round_trip(chat: ChatHistory[ConversationMessage]) -> None:
    chat.append(user("q"))
    chat.append(bot("a"))
    data = chat.to_dict()
    assert data["version"] == 1
    assert data["activeLeafId"] == "m2"
    assert json.dumps(data, separators=(",", ":"), ensure_ascii=False) == chat.to_json()
    loaded: ChatHistory[ConversationMessage] = ChatHistory.from_dict(data)
    assert loaded.to_json() == chat.to_json()
    data["nodes"]["m1"]["message"]["content"] = "mutated"
    assert loaded.messages[0] == user("q")


def test_loaded_history_uses_generate_id() -> None:
    source: ChatHistory[ConversationMessage] = ChatHistory(generate_id=lambda: "x")
    source.append(user("q"))
    loaded: ChatHistory[ConversationMessage] = ChatHistory.from_json(
        source.to_json(), generate_id=lambda: "y"
    )
    assert loaded.append(bot("a")) == "y"
    from_dict: ChatHistory[ConversationMessage] = ChatHistory.from_dict(
        source.to_dict(), generate_id=lambda: "z"
    )
    assert from_dict.append(bot("a")) == "z"


def test_from_json_corrupt() -> None:
    with pytest.raises(CorruptDataError, match="not valid JSON"):
        ChatHistory.from_json("{")
    with pytest.raises(CorruptDataError, match="version 2"):
        ChatHistory.from_json('{"version":2,"nodes":{},"rootIds":[],"activeLeafId":null}')
    with pytest.raises(CorruptDataError, match="'ghost'"):
        ChatHistory.from_json('{"version":1,"nodes":{},"rootIds":[],"activeLeafId":"ghost"}')
    with pytest.raises(CorruptDataError, match="'ghost'"):
        ChatHistory.from_dict(
            {"version": 1, "nodes": {}, "rootIds": ["ghost"], "activeLeafId": None}
        )


# ─── property: random chat sessions ─────────────────────────────

operation = st.one_of(
    st.tuples(st.just("append"), st.text(max_size=6)),
    st.tuples(st.just("edit"), st.integers(0, 50), st.text(max_size=6)),
    st.tuples(st.just("regenerate"), st.integers(0, 50), st.text(max_size=6)),
    st.tuples(st.just("next"), st.integers(0, 50)),
    st.tuples(st.just("prev"), st.integers(0, 50)),
    st.tuples(st.just("compact"), st.text(max_size=6)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(operation, max_size=40))
def test_random_sessions_round_trip(operations: list[tuple[Any, ...]]) -> None:
    chat: ChatHistory[ConversationMessage] = ChatHistory()
    for op in operations:
        kind = op[0]
        ids = list(chat.to_dict()["nodes"])
        if kind == "append":
            new = chat.append(user(op[1]))
            assert chat.node_ids[-1] == new
        elif kind == "compact":
            chat.compact(user(op[1]))
            assert chat.size == 1
        elif not ids:
            continue
        elif kind in ("edit", "regenerate"):
            target = ids[op[1] % len(ids)]
            count = chat.alternative_count(target)
            new = (
                chat.edit(target, bot(op[2]))
                if kind == "edit"
                else chat.regenerate(target, bot(op[2]))
            )
            assert chat.node_ids[-1] == new
            assert chat.alternative_count(new) == count + 1
            assert chat.alternative_index(new) == count
        else:
            target = ids[op[1] % len(ids)]
            index = chat.alternative_index(target)
            count = chat.alternative_count(target)
            if kind == "next":
                moved = chat.next_alternative(target)
                assert (moved is None) == (index == count - 1)
            else:
                moved = chat.prev_alternative(target)
                assert (moved is None) == (index == 0)
            if moved is not None:
                assert chat.node_ids[-1] == moved
        text = chat.to_json()
        loaded: ChatHistory[ConversationMessage] = ChatHistory.from_json(text)
        assert loaded.to_json() == text
        assert loaded.messages == chat.messages
        assert loaded.node_ids == chat.node_ids
        assert loaded.size == chat.size
        assert len(chat.messages) == len(chat.node_ids)


def test_nesting_too_deep_for_json_is_a_clear_error() -> None:
    """Python's recursion limit must surface as ValueError / CorruptDataError, never as a raw
    RecursionError (issue #7 item 10)."""
    deep: dict[str, object] = {"role": "user", "content": "x"}
    inner = deep
    for _ in range(5000):
        inner["extra"] = {}
        inner = inner["extra"]  # type: ignore[assignment]
    chat: ChatHistory[Any] = ChatHistory()
    with pytest.raises(ValueError, match="nested too deeply"):
        chat.append(deep)
    assert chat.is_empty
    text = '{"version":1,"nodes":' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(CorruptDataError, match="nested too deeply"):
        ChatHistory.from_json(text)
