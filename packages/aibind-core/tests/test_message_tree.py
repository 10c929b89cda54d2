"""MessageTree: every operation, as npm's MessageTree behaves, plus a hypothesis state machine
checking the tree invariants and the JSON round trip after any sequence of operations."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from aibind.core import jsjson
from aibind.core.errors import AibindError
from aibind.core.message_tree import MessageTree, NodeNotFoundError, TreeNode


def counter_ids(start: int = 1) -> Callable[[], str]:
    numbers: Iterator[int] = iter(range(start, 10_000))
    return lambda: f"n{next(numbers)}"


@pytest.fixture
def tree() -> MessageTree[Any]:
    return MessageTree(generate_id=counter_ids())


def msg(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


# ─── construction and queries ───────────────────────────────────


def test_empty_tree() -> None:
    tree: MessageTree[Any] = MessageTree()
    assert tree.size == 0
    assert tree.is_empty
    assert tree.active_leaf_id is None
    assert tree.root_ids == ()
    assert tree.get_active_path() == ([], [])
    assert tree.leaves() == []
    assert repr(tree) == "MessageTree(size=0, active_leaf_id=None)"


def test_default_ids_are_uuid4_strings() -> None:
    tree: MessageTree[Any] = MessageTree()
    node_id = tree.append(msg("a"))
    assert str(uuid.UUID(node_id)) == node_id
    assert uuid.UUID(node_id).version == 4


def test_append_builds_the_active_path(tree: MessageTree[Any]) -> None:
    first = tree.append(msg("a"))
    second = tree.append(msg("b"))
    assert (first, second) == ("n1", "n2")
    assert tree.get_active_path() == ([msg("a"), msg("b")], ["n1", "n2"])
    assert tree.active_leaf_id == "n2"
    assert tree.root_ids == ("n1",)
    assert tree.size == 2
    assert not tree.is_empty


def test_get_returns_an_immutable_node(tree: MessageTree[Any]) -> None:
    before = datetime.now(timezone.utc) - timedelta(milliseconds=1)
    root = tree.append(msg("a"), {"model": "x", "n": [1, 2]})
    child = tree.append(msg("b"))
    node = tree.get(root)
    assert isinstance(node, TreeNode)
    assert node.id == root
    assert node.message == msg("a")
    assert node.parent_id is None
    assert node.children == (child,)
    assert node.metadata == {"model": "x", "n": [1, 2]}
    assert before <= node.created_at <= datetime.now(timezone.utc)
    assert node.created_at.tzinfo is timezone.utc
    assert node.created_at.microsecond % 1000 == 0
    with pytest.raises(AttributeError):
        node.id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        node.metadata["model"] = "y"  # type: ignore[index]
    assert tree.get("missing") is None
    assert tree.has(root)
    assert not tree.has("missing")


def test_messages_and_metadata_are_copied_in(tree: MessageTree[Any]) -> None:
    message = {"role": "user", "content": "a", "parts": [1.0]}
    metadata = {"tags": ["x"]}
    node_id = tree.append(message, metadata)
    message["content"] = "changed"
    metadata["tags"].append("y")
    node = tree.get(node_id)
    assert node is not None
    assert node.message == {"role": "user", "content": "a", "parts": [1]}
    assert type(node.message["parts"][0]) is int  # JavaScript has no float 1.0
    assert node.metadata == {"tags": ["x"]}


@pytest.mark.parametrize(
    ("message", "metadata", "error", "match"),
    [
        ({"a": (1,)}, None, TypeError, "message"),
        ({"a": math.nan}, None, ValueError, "message"),
        (msg("a"), {"k": {1, 2}}, TypeError, "metadata"),
        (msg("a"), {1: "x"}, TypeError, "metadata"),
        (msg("a"), ["k"], TypeError, "metadata must be a mapping"),
    ],
)
def test_non_json_values_are_refused_before_anything_changes(
    tree: MessageTree[Any], message: Any, metadata: Any, error: type, match: str
) -> None:
    tree.append(msg("root"))
    before = tree.to_json()
    with pytest.raises(error, match=match):
        tree.append(message, metadata)
    with pytest.raises(error, match=match):
        tree.add_root(message, metadata)
    with pytest.raises(error, match=match):
        tree.branch("n1", message, metadata)
    assert tree.to_json() == before


def test_non_string_ids_are_type_errors(tree: MessageTree[Any]) -> None:
    tree.append(msg("a"))
    for call in (
        lambda: tree.get(1),  # type: ignore[arg-type]
        lambda: tree.has(None),  # type: ignore[arg-type]
        lambda: tree.add_child(1, msg("x")),  # type: ignore[arg-type]
        lambda: tree.remove(b"n1"),  # type: ignore[arg-type]
        lambda: tree.depth(1.0),  # type: ignore[arg-type]
    ):
        with pytest.raises(TypeError, match="must be a str"):
            call()


def test_unknown_ids_raise_node_not_found(tree: MessageTree[Any]) -> None:
    tree.append(msg("a"))
    calls: list[Callable[[], object]] = [
        lambda: tree.add_child("zz", msg("x")),
        lambda: tree.branch("zz", msg("x")),
        lambda: tree.get_path_to("zz"),
        lambda: tree.get_siblings("zz"),
        lambda: tree.next_sibling("zz"),
        lambda: tree.prev_sibling("zz"),
        lambda: tree.set_active_leaf("zz"),
        lambda: tree.depth("zz"),
        lambda: tree.remove("zz"),
    ]
    for call in calls:
        with pytest.raises(NodeNotFoundError, match="'zz': no such node") as info:
            call()
        assert info.value.node_id == "zz"
        assert isinstance(info.value, KeyError)
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, AibindError)
    assert tree.size == 1


def test_bad_generated_ids_are_refused() -> None:
    tree: MessageTree[Any] = MessageTree(generate_id=lambda: "same")
    tree.append(msg("a"))
    with pytest.raises(ValueError, match="already holds"):
        tree.append(msg("b"))
    assert tree.size == 1
    assert tree.get("same") is not None
    assert tree.get("same").children == ()  # type: ignore[union-attr]
    empty: MessageTree[Any] = MessageTree(generate_id=lambda: "")
    with pytest.raises(ValueError, match="non-empty str"):
        empty.append(msg("a"))
    assert empty.is_empty


# ─── mutations ──────────────────────────────────────────────────


def test_add_child_does_not_move_the_active_leaf(tree: MessageTree[Any]) -> None:
    root = tree.append(msg("a"))
    leaf = tree.append(msg("b"))
    child = tree.add_child(root, msg("c"), {"k": 1})
    assert tree.active_leaf_id == leaf
    node = tree.get(root)
    assert node is not None
    assert node.children == (leaf, child)
    assert tree.get(child).metadata == {"k": 1}  # type: ignore[union-attr]


def test_add_root_becomes_active(tree: MessageTree[Any]) -> None:
    tree.append(msg("a"))
    tree.append(msg("b"))
    second_root = tree.add_root(msg("c"))
    assert tree.root_ids == ("n1", second_root)
    assert tree.active_leaf_id == second_root
    assert tree.get_active_path() == ([msg("c")], [second_root])
    tree.append(msg("d"))
    assert tree.get_active_path()[1] == [second_root, "n4"]


def test_branch_adds_an_active_sibling(tree: MessageTree[Any]) -> None:
    root = tree.append(msg("q"))
    tree.append(msg("a1"))
    alt = tree.branch(root, msg("a2"))
    assert tree.active_leaf_id == alt
    assert tree.get_active_path()[0] == [msg("q"), msg("a2")]
    siblings, index = tree.get_siblings(alt)
    assert [s.id for s in siblings] == ["n2", alt]
    assert index == 1


def test_clear(tree: MessageTree[Any]) -> None:
    tree.append(msg("a"))
    tree.add_root(msg("b"))
    tree.clear()
    assert tree.is_empty
    assert tree.root_ids == ()
    assert tree.active_leaf_id is None
    assert tree.append(msg("c")) == "n3"
    assert list(tree.root_ids) == ["n3"]


def test_append_after_a_null_active_leaf_adds_a_root() -> None:
    tree: MessageTree[Any] = MessageTree.from_json(
        '{"version":1,"nodes":{"r":{"id":"r","message":1,"parentId":null,"children":[],'
        '"metadata":{},"createdAt":"2026-01-01T00:00:00.000Z"}},"rootIds":["r"],'
        '"activeLeafId":null}',
        generate_id=lambda: "s",
    )
    assert tree.append(2) == "s"
    assert tree.root_ids == ("r", "s")


# ─── paths, depth, leaves ───────────────────────────────────────


def test_get_path_to_and_depth(tree: MessageTree[Any]) -> None:
    a = tree.append(msg("a"))
    b = tree.append(msg("b"))
    c = tree.append(msg("c"))
    side = tree.add_child(a, msg("side"))
    assert tree.get_path_to(b) == ([msg("a"), msg("b")], [a, b])
    assert tree.get_path_to(side) == ([msg("a"), msg("side")], [a, side])
    assert [tree.depth(x) for x in (a, b, c, side)] == [0, 1, 2, 1]


def test_leaves_in_creation_order(tree: MessageTree[Any]) -> None:
    a = tree.append(msg("a"))
    b = tree.append(msg("b"))
    c = tree.add_child(a, msg("c"))
    r2 = tree.add_root(msg("r2"))
    assert [n.id for n in tree.leaves()] == [b, c, r2]


def test_set_active_leaf_to_an_inner_node(tree: MessageTree[Any]) -> None:
    a = tree.append(msg("a"))
    tree.append(msg("b"))
    tree.set_active_leaf(a)
    assert tree.get_active_path() == ([msg("a")], [a])
    tree.append(msg("c"))  # a new branch under a
    assert [n.id for n in tree.get_siblings("n3")[0]] == ["n2", "n3"]


# ─── sibling navigation ─────────────────────────────────────────


def build_branches(tree: MessageTree[Any]) -> tuple[str, str, str, str]:
    """q -> (a1 -> f1 -> g1, a1 -> f2), q -> a2, q -> a3 -> h; active: a3's leaf h."""
    q = tree.append(msg("q"))
    a1 = tree.append(msg("a1"))
    f1 = tree.append(msg("f1"))
    tree.append(msg("g1"))
    tree.add_child(a1, msg("f2"))
    a2 = tree.branch(q, msg("a2"))
    a3 = tree.branch(q, msg("a3"))
    tree.append(msg("h"))
    assert f1
    return q, a1, a2, a3


def test_next_and_prev_follow_first_children_to_the_leaf(tree: MessageTree[Any]) -> None:
    _, a1, a2, a3 = build_branches(tree)
    assert tree.prev_sibling(a3) == a2
    assert tree.active_leaf_id == a2
    leaf = tree.prev_sibling(a2)
    assert leaf == "n4"  # a1 -> f1 (first child) -> g1
    assert [m["content"] for m in tree.get_active_path()[0]] == ["q", "a1", "f1", "g1"]
    assert tree.next_sibling(a1) == a2
    assert tree.next_sibling(a2) == "n8"  # a3 -> h
    assert tree.get_siblings(a2) == (tree.get_siblings(a1)[0], 1)


def test_sibling_navigation_clamps_at_the_ends(tree: MessageTree[Any]) -> None:
    _, a1, _, a3 = build_branches(tree)
    assert tree.next_sibling(a3) is None
    assert tree.active_leaf_id == "n8"
    tree.set_active_leaf(a1)
    assert tree.prev_sibling(a1) is None
    assert tree.active_leaf_id == a1


def test_root_siblings(tree: MessageTree[Any]) -> None:
    r1 = tree.append(msg("r1"))
    tree.append(msg("child"))
    r2 = tree.add_root(msg("r2"))
    siblings, index = tree.get_siblings(r2)
    assert [s.id for s in siblings] == [r1, r2]
    assert index == 1
    assert tree.prev_sibling(r2) == "n2"
    assert tree.next_sibling(r1) == r2
    only: MessageTree[Any] = MessageTree()
    lone = only.append(1)
    assert only.get_siblings(lone)[1] == 0
    assert only.next_sibling(lone) is None
    assert only.prev_sibling(lone) is None


# ─── remove ─────────────────────────────────────────────────────


def test_remove_a_subtree_outside_the_active_path(tree: MessageTree[Any]) -> None:
    q, a1, a2, a3 = build_branches(tree)
    tree.remove(a1)
    assert tree.size == 4  # q, a2, a3, h
    for gone in (a1, "n3", "n4", "n5"):
        assert tree.get(gone) is None
    assert tree.active_leaf_id == "n8"
    assert tree.get(q).children == (a2, a3)  # type: ignore[union-attr]


def test_remove_moves_the_active_leaf_to_the_last_remaining_sibling(
    tree: MessageTree[Any],
) -> None:
    q, a1, a2, a3 = build_branches(tree)
    tree.remove(a3)  # the active leaf h goes with a3
    assert tree.active_leaf_id == a2  # last remaining child of q, followed to its leaf
    tree.set_active_leaf("n4")
    tree.remove(a2)
    assert tree.active_leaf_id == "n4"  # untouched
    tree.remove("n3")  # f1 (and g1, active): a1's last remaining child is f2
    assert tree.active_leaf_id == "n5"
    tree.remove("n5")  # no child left under a1: the parent itself
    assert tree.active_leaf_id == a1
    assert tree.get_active_path()[1] == [q, a1]


def test_remove_a_root(tree: MessageTree[Any]) -> None:
    r1 = tree.append(msg("r1"))
    c1 = tree.append(msg("c1"))
    tree.add_child(r1, msg("c2"))
    r2 = tree.add_root(msg("r2"))
    r3 = tree.add_root(msg("r3"))
    tree.remove(r3)
    assert tree.root_ids == (r1, r2)
    assert tree.active_leaf_id == r2
    tree.remove(r2)
    assert tree.active_leaf_id == c1  # last root, first children down
    tree.remove(r1)
    assert tree.is_empty
    assert tree.serialize()["activeLeafId"] is None  # (mypy narrowed active_leaf_id above)
    assert not tree.root_ids


# ─── serialization ──────────────────────────────────────────────


def test_serialize_returns_a_copy_in_wire_shape(tree: MessageTree[Any]) -> None:
    tree.append(msg("a"), {"k": 1})
    data = tree.serialize()
    assert data["version"] == 1
    assert data["rootIds"] == ["n1"]
    assert data["activeLeafId"] == "n1"
    node = data["nodes"]["n1"]
    assert node["parentId"] is None
    assert node["children"] == []
    assert node["metadata"] == {"k": 1}
    node["children"].append("x")
    node["metadata"]["k"] = 2
    data["rootIds"].append("y")
    assert tree.get("n1").children == ()  # type: ignore[union-attr]
    assert tree.get("n1").metadata == {"k": 1}  # type: ignore[union-attr]
    assert tree.root_ids == ("n1",)
    again: MessageTree[Any] = MessageTree.deserialize(tree.serialize())
    assert again.to_json() == tree.to_json()


def test_loaded_tree_keeps_working(tree: MessageTree[Any]) -> None:
    build_branches(tree)
    loaded: MessageTree[Any] = MessageTree.from_json(tree.to_json(), generate_id=counter_ids(100))
    assert loaded.serialize() == tree.serialize()
    new = loaded.append(msg("more"))
    assert new == "n100"
    assert loaded.get_active_path()[1][-2:] == ["n8", new]
    loaded.remove("n2")
    assert loaded.size == tree.size + 1 - 4


# ─── property: random operations keep the tree valid ────────────


def check_invariants(tree: MessageTree[Any]) -> None:
    data = tree.serialize()
    nodes = data["nodes"]
    assert tree.size == len(nodes)
    assert tree.is_empty == (not nodes)
    assert list(tree.root_ids) == data["rootIds"]
    assert len(set(data["rootIds"])) == len(data["rootIds"])
    reached = set()
    stack = list(data["rootIds"])
    while stack:
        node_id = stack.pop()
        assert node_id not in reached
        reached.add(node_id)
        for child in nodes[node_id]["children"]:
            assert nodes[child]["parentId"] == node_id
            stack.append(child)
    assert reached == set(nodes)
    for node_id, node in nodes.items():
        assert node["id"] == node_id
        if node["parentId"] is None:
            assert node_id in data["rootIds"]
        else:
            assert node_id in nodes[node["parentId"]]["children"]
    active = tree.active_leaf_id
    assert (active is None) == (not nodes)  # the operations below never leave it dangling
    if active is not None:
        assert active in nodes
        messages, ids = tree.get_active_path()
        assert ids[-1] == active
        assert messages == [nodes[i]["message"] for i in ids]
        assert len(ids) == tree.depth(active) + 1
    assert {n.id for n in tree.leaves()} == {i for i, n in nodes.items() if not n["children"]}


any_text = st.text(st.characters(exclude_categories=()), max_size=8)  # lone surrogates too
json_leaf: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    any_text,
    st.floats(allow_nan=False, allow_infinity=False),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


class TreeMachine(RuleBasedStateMachine):
    """Random operations on a MessageTree; after each, the invariants and the round trip."""

    def __init__(self) -> None:
        super().__init__()
        self.tree: MessageTree[Any] = MessageTree()
        self.mutations = 0

    def pick(self, index: int) -> str:
        ids = list(self.tree.serialize()["nodes"])
        return ids[index % len(ids)]

    @rule(message=json_value, metadata=st.dictionaries(st.text(max_size=4), json_value, max_size=2))
    def append(self, message: Any, metadata: dict[str, Any]) -> None:
        before = self.tree.active_leaf_id
        node_id = self.tree.append(message, metadata)
        assert self.tree.active_leaf_id == node_id
        node = self.tree.get(node_id)
        assert node is not None
        assert node.parent_id == before
        assert node.message == message

    @rule(message=json_value)
    def add_root(self, message: Any) -> None:
        node_id = self.tree.add_root(message)
        assert self.tree.root_ids[-1] == node_id

    @precondition(lambda self: not self.tree.is_empty)
    @rule(index=st.integers(0, 1000), message=json_value)
    def add_child(self, index: int, message: Any) -> None:
        parent = self.pick(index)
        active = self.tree.active_leaf_id
        node_id = self.tree.add_child(parent, message)
        assert self.tree.get(parent).children[-1] == node_id  # type: ignore[union-attr]
        assert self.tree.active_leaf_id == active

    @precondition(lambda self: not self.tree.is_empty)
    @rule(index=st.integers(0, 1000), message=json_value)
    def branch(self, index: int, message: Any) -> None:
        parent = self.pick(index)
        node_id = self.tree.branch(parent, message)
        assert self.tree.get_active_path()[1][-2:] == [parent, node_id]

    @precondition(lambda self: not self.tree.is_empty)
    @rule(index=st.integers(0, 1000))
    def remove(self, index: int) -> None:
        node_id = self.pick(index)
        size = self.tree.size
        descendants = 0
        stack = [node_id]
        while stack:
            current = stack.pop()
            descendants += 1
            stack.extend(self.tree.get(current).children)  # type: ignore[union-attr]
        self.tree.remove(node_id)
        assert self.tree.size == size - descendants
        assert not self.tree.has(node_id)

    @precondition(lambda self: not self.tree.is_empty)
    @rule(index=st.integers(0, 1000), forward=st.booleans())
    def switch_sibling(self, index: int, forward: bool) -> None:
        node_id = self.pick(index)
        siblings, position = self.tree.get_siblings(node_id)
        before = self.tree.active_leaf_id
        leaf = self.tree.next_sibling(node_id) if forward else self.tree.prev_sibling(node_id)
        target = position + (1 if forward else -1)
        if 0 <= target < len(siblings):
            assert leaf == self.tree.active_leaf_id
            assert siblings[target].id in self.tree.get_active_path()[1]
            assert not self.tree.get(leaf).children  # type: ignore[arg-type, union-attr]
        else:
            assert leaf is None
            assert self.tree.active_leaf_id == before

    @precondition(lambda self: not self.tree.is_empty)
    @rule(index=st.integers(0, 1000))
    def set_active_leaf(self, index: int) -> None:
        node_id = self.pick(index)
        self.tree.set_active_leaf(node_id)
        assert self.tree.active_leaf_id == node_id

    @rule()
    def clear(self) -> None:
        self.tree.clear()
        assert self.tree.is_empty

    @precondition(lambda self: not self.tree.is_empty)
    @rule(index=st.integers(0, 1000), value=json_value)
    def mutate_message_in_place(self, index: int, value: Any) -> None:
        # Not what the API invites, but to_json must still write what the tree holds (for a
        # change == can see: a counter makes each one so; the value is JSON-normalised).
        self.mutations += 1
        change = [self.mutations, jsjson.copy_json_value(value, "value")]
        message = self.tree.get(self.pick(index)).message  # type: ignore[union-attr]
        if isinstance(message, dict):
            message["changed"] = change
        elif isinstance(message, list):
            message.append(change)

    @rule()
    def reload(self) -> None:
        self.tree = MessageTree.from_json(self.tree.to_json())

    @invariant()
    def tree_is_valid(self) -> None:
        check_invariants(self.tree)

    @invariant()
    def json_round_trips(self) -> None:
        text = self.tree.to_json()
        assert text == jsjson.dumps(self.tree.serialize())  # the kept node texts are current
        loaded: MessageTree[Any] = MessageTree.from_json(text)
        assert loaded.to_json() == text
        assert loaded.serialize() == self.tree.serialize()
        assert loaded.get_active_path() == self.tree.get_active_path()
        assert MessageTree.deserialize(self.tree.serialize()).to_json() == text


TreeMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
test_random_operations = TreeMachine.TestCase
