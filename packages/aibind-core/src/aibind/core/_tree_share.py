"""A tree's state handed to a cache (:class:`TreeShare`, taken by :func:`share_tree`), from
which new trees are made without parsing or copying the nodes: the trees and the share hold the
same node objects, and a tree copies a node before it changes it (copy on write, see
``MessageTree._own``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from aibind.core._tree_text import EncodedNodes
from aibind.core.message_tree import MessageTree
from aibind.core.tree_json import RawNode

__all__ = ["TreeShare", "share_tree"]


class TreeShare(NamedTuple):
    """A tree as it was when it was written as some text: its nodes (never changed in place
    by anyone once shared), root ids, active leaf and node texts."""

    nodes: Mapping[str, RawNode]
    root_ids: tuple[str, ...]
    active_leaf_id: str | None
    encoded: EncodedNodes

    def intact(self) -> bool:
        """Whether every shared message and metadata still equals the copy taken when it was
        encoded. A tree's messages are not to be changed in place, but a caller holding one
        could: such a share is not used again (a change ``==`` cannot see, ``1`` for ``True``
        or only the order of a dict's keys, is not noticed, as for ``to_json``)."""
        return self.encoded.current(self.nodes)

    def tree(self, generate_id: Callable[[], str] | None = None) -> MessageTree[Any]:
        """A new tree equal to the one this was taken from: its nodes shared (each copied
        before the tree changes it), its node texts kept (so writing it again unchanged takes
        microseconds)."""
        tree: MessageTree[Any] = MessageTree(generate_id=generate_id)
        tree._nodes = dict(self.nodes)
        tree._shared = self.nodes
        tree._root_ids = list(self.root_ids)
        tree._active_leaf_id = self.active_leaf_id
        tree._encoded = self.encoded.fork()
        return tree


def share_tree(tree: MessageTree[Any]) -> TreeShare:
    """Take ``tree``'s current state (call right after its ``to_json()``, whose text the share
    then stands for). Its nodes are shared from then on, so ``tree`` copies each before
    changing it. Microseconds: only the id table is copied."""
    shared = dict(tree._nodes)
    tree._shared = shared
    return TreeShare(shared, tuple(tree._root_ids), tree._active_leaf_id, tree._encoded.fork())
