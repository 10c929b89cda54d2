"""The branching conversation tree: :class:`MessageTree`.

The Python spelling of the npm ``@aibind/core`` ``MessageTree<M>`` (``message-tree.ts``): nodes
linked by parent ids and ordered children lists, several roots allowed, and an *active leaf*
cursor marking the current conversation (the path from a root down to it). Edits and
regenerations add sibling nodes; nothing is modified in place.

Messages must be JSON values (the tree is saved as JSON, see :mod:`aibind.core.tree_json`); a
message is deep-copied when it enters the tree, like npm's ``structuredClone``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any, Generic, cast

from aibind.core import jsjson, tree_json
from aibind.core._tree_text import EncodedNodes
from aibind.core.tree_json import RawNode, SerializedTree
from aibind.core.tree_node import M, NodeNotFoundError, TreeNode, format_timestamp, utc_now

__all__ = ["MessageTree", "NodeNotFoundError", "TreeNode"]


def _uuid4() -> str:
    return str(uuid.uuid4())


class MessageTree(Generic[M]):
    """A tree of messages with an active-leaf cursor (npm ``MessageTree``).

    Args:
        generate_id: makes the id of each new node; defaults to a uuid4 string (npm:
            ``crypto.randomUUID()``). It must return a new non-empty ``str`` each time.

    Unknown node ids raise :class:`NodeNotFoundError` (both a ``KeyError`` and a
    ``ValueError``) where npm throws ``Error``; a non-``str`` id raises :class:`TypeError`.

    Example::

        tree: MessageTree[ConversationMessage] = MessageTree()
        tree.append({"role": "user", "content": "Hello"})
        tree.append({"role": "assistant", "content": "Hi!"})
        messages, node_ids = tree.get_active_path()
    """

    __slots__ = ("_active_leaf_id", "_encoded", "_generate_id", "_nodes", "_root_ids", "_shared")

    def __init__(self, *, generate_id: Callable[[], str] | None = None) -> None:
        self._nodes: dict[str, RawNode] = {}  # wire objects, never handed out
        self._root_ids: list[str] = []
        self._active_leaf_id: str | None = None
        self._generate_id = generate_id if generate_id is not None else _uuid4
        self._encoded = EncodedNodes()
        # The nodes also held by a TreeShare (aibind.core._tree_share), copied before a change.
        self._shared: Mapping[str, RawNode] | None = None

    def __repr__(self) -> str:
        return f"MessageTree(size={self.size}, active_leaf_id={self._active_leaf_id!r})"

    # ─── Queries ────────────────────────────────────────────────

    @property
    def size(self) -> int:
        """Number of nodes in the tree, across all branches."""
        return len(self._nodes)

    @property
    def is_empty(self) -> bool:
        """``True`` when the tree holds no node."""
        return not self._nodes

    @property
    def active_leaf_id(self) -> str | None:
        """Id of the node ending the current conversation, or ``None`` (empty tree)."""
        return self._active_leaf_id

    @property
    def root_ids(self) -> tuple[str, ...]:
        """Ids of the root nodes, in creation order."""
        return tuple(self._root_ids)

    def get(self, node_id: str) -> TreeNode[M] | None:
        """Return the node ``node_id``, or ``None`` if the tree has no such node.

        Raises:
            TypeError: ``node_id`` is not a ``str``.
        """
        raw = self._nodes.get(self._check_id(node_id))
        return None if raw is None else tree_json.node_view(raw)

    def has(self, node_id: str) -> bool:
        """Return whether the tree holds a node ``node_id``.

        Raises:
            TypeError: ``node_id`` is not a ``str``.
        """
        return self._check_id(node_id) in self._nodes

    def get_active_path(self) -> tuple[list[M], list[str]]:
        """Return the current conversation: ``(messages, node_ids)`` from a root down to the
        active leaf (two empty lists when there is no active leaf)."""
        if self._active_leaf_id is None:
            return [], []
        return self.get_path_to(self._active_leaf_id)

    def get_path_to(self, node_id: str) -> tuple[list[M], list[str]]:
        """Return ``(messages, node_ids)`` from the root down to ``node_id`` (inclusive).

        Raises:
            TypeError: ``node_id`` is not a ``str``.
            NodeNotFoundError: no such node.
        """
        nodes = self._nodes
        current: str | None = self._raw(node_id)["id"]
        ids: list[str] = []
        messages: list[M] = []
        while current is not None:
            raw = nodes[current]
            ids.append(current)
            messages.append(raw["message"])
            current = raw["parentId"]
        ids.reverse()
        messages.reverse()
        return messages, ids

    def get_siblings(self, node_id: str) -> tuple[list[TreeNode[M]], int]:
        """Return ``(siblings, index)``: every child of the node's parent (every root, for a
        root), the node included, and the node's 0-based position among them.

        Raises:
            TypeError: ``node_id`` is not a ``str``.
            NodeNotFoundError: no such node.
        """
        sibling_ids = self._sibling_ids(self._raw(node_id))
        siblings = [tree_json.node_view(self._nodes[i]) for i in sibling_ids]
        return siblings, sibling_ids.index(node_id)

    def depth(self, node_id: str) -> int:
        """Return how many ancestors ``node_id`` has (a root has depth 0).

        Raises:
            TypeError: ``node_id`` is not a ``str``.
            NodeNotFoundError: no such node.
        """
        raw = self._raw(node_id)
        depth = 0
        while raw["parentId"] is not None:
            raw = self._nodes[raw["parentId"]]
            depth += 1
        return depth

    def leaves(self) -> list[TreeNode[M]]:
        """Return every node without children, in creation order (npm ``getLeaves()``)."""
        return [tree_json.node_view(raw) for raw in self._nodes.values() if not raw["children"]]

    # ─── Mutations ──────────────────────────────────────────────

    def append(self, message: M, metadata: Mapping[str, Any] | None = None) -> str:
        """Add ``message`` as a child of the active leaf (as a new root when there is none)
        and make it the active leaf.

        Args:
            message: a JSON value; deep-copied.
            metadata: optional JSON-able mapping stored on the node; copied.

        Returns:
            the new node's id.

        Raises:
            TypeError/ValueError: ``message`` or ``metadata`` is not JSON-able (named in the
                message), or ``generate_id`` returned a bad or duplicate id.
        """
        if self._active_leaf_id is None:
            return self.add_root(message, metadata)
        node_id = self._create(message, self._active_leaf_id, metadata)
        self._active_leaf_id = node_id
        return node_id

    def add_child(
        self, parent_id: str, message: M, metadata: Mapping[str, Any] | None = None
    ) -> str:
        """Add ``message`` as the last child of ``parent_id``; the active leaf does not move.

        Returns:
            the new node's id.

        Raises:
            TypeError: ``parent_id`` is not a ``str``, or a value is not JSON-able.
            ValueError: a value is not JSON-able (NaN, infinities).
            NodeNotFoundError: no node ``parent_id``.
        """
        parent: str = self._raw(parent_id, "parent_id")["id"]
        return self._create(message, parent, metadata)

    def add_root(self, message: M, metadata: Mapping[str, Any] | None = None) -> str:
        """Add ``message`` as a new root (after the existing ones) and make it the active
        leaf.

        Returns:
            the new node's id.

        Raises:
            TypeError/ValueError: ``message`` or ``metadata`` is not JSON-able.
        """
        node_id = self._create(message, None, metadata)
        self._active_leaf_id = node_id
        return node_id

    def branch(self, parent_id: str, message: M, metadata: Mapping[str, Any] | None = None) -> str:
        """Add ``message`` as the last child of ``parent_id`` and make it the active leaf: a
        new sibling branch, as edit and regenerate need.

        Returns:
            the new node's id.

        Raises:
            TypeError: ``parent_id`` is not a ``str``, or a value is not JSON-able (as
                :meth:`add_child`).
            ValueError: a value is not JSON-able (NaN, infinities).
            NodeNotFoundError: no node ``parent_id``.
        """
        node_id = self.add_child(parent_id, message, metadata)
        self._active_leaf_id = node_id
        return node_id

    def clear(self) -> None:
        """Remove every node; the tree is empty and has no active leaf."""
        self._encoded.clear()
        self._nodes.clear()
        self._shared = None
        self._root_ids.clear()
        self._active_leaf_id = None

    def remove(self, node_id: str) -> None:
        """Remove ``node_id`` and all its descendants.

        When the active leaf was among them it moves, as npm does: to the leaf reached by
        following first children from the parent's *last* remaining child, or to the parent
        itself if it has none left; for a removed root, likewise from the last remaining root;
        to ``None`` when the tree is left empty. Otherwise it stays put.

        Raises:
            TypeError: ``node_id`` is not a ``str``.
            NodeNotFoundError: no such node.
        """
        raw = self._raw(node_id)
        removed: set[str] = set()
        stack = [node_id]
        while stack:
            current = stack.pop()
            removed.add(current)
            stack.extend(self._nodes[current]["children"])
        parent = self._own(raw["parentId"]) if raw["parentId"] is not None else None
        if parent is not None:
            parent["children"].remove(node_id)
            self._encoded.forget(parent["id"])
        else:
            self._root_ids.remove(node_id)
        for current in removed:
            del self._nodes[current]
            self._encoded.forget(current)
        if self._active_leaf_id is None or self._active_leaf_id not in removed:
            return
        if parent is not None:
            children = parent["children"]
            self._active_leaf_id = (
                self._first_child_leaf(children[-1]) if children else parent["id"]
            )
        elif self._root_ids:
            self._active_leaf_id = self._first_child_leaf(self._root_ids[-1])
        else:
            self._active_leaf_id = None

    # ─── Navigation ─────────────────────────────────────────────

    def set_active_leaf(self, node_id: str) -> None:
        """Make ``node_id`` the active leaf (it may have children: the active path then ends
        there, as in npm).

        Raises:
            TypeError: ``node_id`` is not a ``str``.
            NodeNotFoundError: no such node.
        """
        self._active_leaf_id = self._raw(node_id)["id"]

    def next_sibling(self, node_id: str) -> str | None:
        """Switch to the sibling right of ``node_id``: follow its first children down to a
        leaf and make that the active leaf.

        Returns:
            the new active leaf id, or ``None`` (nothing changes) when ``node_id`` is already
            the last sibling: no wrap-around, as in npm.

        Raises:
            TypeError: ``node_id`` is not a ``str``.
            NodeNotFoundError: no such node.
        """
        return self._switch_sibling(node_id, 1)

    def prev_sibling(self, node_id: str) -> str | None:
        """Switch to the sibling left of ``node_id`` (see :meth:`next_sibling`).

        Returns:
            the new active leaf id, or ``None`` (nothing changes) when ``node_id`` is already
            the first sibling.

        Raises:
            TypeError: ``node_id`` is not a ``str``.
            NodeNotFoundError: no such node.
        """
        return self._switch_sibling(node_id, -1)

    # ─── Serialization ──────────────────────────────────────────

    def serialize(self) -> SerializedTree:
        """Return the tree as the npm wire object (``{"version": 1, "nodes": ..., "rootIds":
        ..., "activeLeafId": ...}``, see :mod:`aibind.core.tree_json`); messages are shared,
        not copied."""
        return tree_json.tree_to_dict(self._nodes, self._root_ids, self._active_leaf_id)

    @classmethod
    def deserialize(
        cls, data: Mapping[str, Any], *, generate_id: Callable[[], str] | None = None
    ) -> MessageTree[M]:
        """Build a tree from a wire object (what :meth:`serialize` returns, or parsed npm
        JSON), validating it fully; messages and metadata are deep-copied.

        Raises:
            CorruptDataError: the object is not a valid tree; the message names the node.
        """
        parts = tree_json.parse_tree(data, copy_values=True)
        return cls._from_parts(parts, generate_id)

    def to_json(self) -> str:
        """Return the tree as wire JSON text, byte for byte what npm's
        ``JSON.stringify(tree.serialize())`` writes for the same tree.

        Each node's text is kept between calls and reused while the node is unchanged, so
        saving a long conversation again after a turn encodes only the new nodes. A message
        changed in place (which the tree's API never does; its messages are not to be mutated)
        is noticed by comparing it with a copy taken when its text was made, and encoded
        again; a change that ``==`` cannot see (``1`` for ``True``, or only the order of a
        dict's keys) is not.
        """
        return self._encoded.dumps_tree(self._nodes, self._root_ids, self._active_leaf_id)

    @classmethod
    def from_json(
        cls, json: str | bytes | bytearray, *, generate_id: Callable[[], str] | None = None
    ) -> MessageTree[M]:
        """Parse and validate wire JSON text (as npm's ``ChatHistory.toJSON()`` writes it).

        Raises:
            TypeError: ``json`` is not ``str``/``bytes``.
            CorruptDataError: invalid JSON or an invalid tree; the message names the node.
        """
        return cls._from_parts(tree_json.loads_tree(json), generate_id)

    @classmethod
    def _from_parts(
        cls, parts: tree_json.TreeParts, generate_id: Callable[[], str] | None
    ) -> MessageTree[M]:
        tree = cls(generate_id=generate_id)
        nodes, tree._root_ids, tree._active_leaf_id = parts
        tree._nodes = nodes
        return tree

    # ─── Internal ───────────────────────────────────────────────

    @staticmethod
    def _check_id(node_id: object, name: str = "node_id") -> str:
        if not isinstance(node_id, str):
            raise TypeError(f"{name} must be a str, not {type(node_id).__name__}")
        return node_id

    def _raw(self, node_id: object, name: str = "node_id") -> RawNode:
        raw = self._nodes.get(self._check_id(node_id, name))
        if raw is None:
            raise NodeNotFoundError(cast(str, node_id), name)
        return raw

    def _create(self, message: M, parent_id: str | None, metadata: Mapping[str, Any] | None) -> str:
        copied = jsjson.copy_json_value(message, "message")
        meta: dict[str, Any] = {}
        if metadata is not None:
            if not isinstance(metadata, Mapping):
                raise TypeError(f"metadata must be a mapping, not {type(metadata).__name__}")
            meta = cast("dict[str, Any]", jsjson.copy_json_value(dict(metadata), "metadata"))
        node_id = self._generate_id()
        if not isinstance(node_id, str) or not node_id:
            raise ValueError(f"generate_id returned {node_id!r}; it must return a non-empty str")
        if node_id in self._nodes:
            raise ValueError(f"generate_id returned {node_id!r}, which the tree already holds")
        stamp = format_timestamp(utc_now())
        self._nodes[node_id] = tree_json.new_raw_node(node_id, copied, parent_id, meta, stamp)
        if parent_id is None:
            self._root_ids.append(node_id)
        else:
            self._own(parent_id)["children"].append(node_id)
            self._encoded.forget(parent_id)
        return node_id

    def _own(self, node_id: str) -> RawNode:
        """The raw node ``node_id``, copied first if a :class:`TreeShare` holds it too (the
        only field a tree changes in place is ``children``)."""
        raw = self._nodes[node_id]
        shared = self._shared
        if shared is not None and shared.get(node_id) is raw:
            raw = {**raw, "children": list(raw["children"])}
            self._nodes[node_id] = raw
        return raw

    def _sibling_ids(self, raw: RawNode) -> list[str]:
        if raw["parentId"] is None:
            return self._root_ids
        children: list[str] = self._nodes[raw["parentId"]]["children"]
        return children

    def _first_child_leaf(self, node_id: str) -> str:
        raw = self._nodes[node_id]
        while raw["children"]:
            raw = self._nodes[raw["children"][0]]
        leaf: str = raw["id"]
        return leaf

    def _switch_sibling(self, node_id: str, step: int) -> str | None:
        raw = self._raw(node_id)
        sibling_ids = self._sibling_ids(raw)
        target = sibling_ids.index(node_id) + step
        if not 0 <= target < len(sibling_ids):
            return None
        leaf = self._first_child_leaf(sibling_ids[target])
        self._active_leaf_id = leaf
        return leaf
