"""Each node's wire text kept between a tree's ``to_json()`` calls (:class:`EncodedNodes`), so
saving a long conversation again after a turn encodes only what changed; the text is the same,
byte for byte, as :func:`aibind.core.tree_json.dumps_tree` writes."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import chain
from operator import itemgetter
from typing import Any

from aibind.core import jsjson
from aibind.core.tree_json import FORMAT_VERSION, RawNode

__all__ = ["EncodedNodes"]


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _snapshot(value: Any) -> Any:
    """A copy of a JSON value's containers (its strings and numbers are immutable)."""
    if type(value) is dict:
        if set(map(type, value.values())) <= _SCALARS:  # a flat object: the common message
            return value.copy()
        return {key: _snapshot(item) for key, item in value.items()}
    if type(value) is list:
        return [_snapshot(item) for item in value]
    return value


_MESSAGE = itemgetter("message")
_METADATA = itemgetter("metadata")
_TEXT, _SNAP_MESSAGE, _SNAP_METADATA = itemgetter(0), itemgetter(1), itemgetter(2)


class EncodedNodes:
    """Each node's wire text (``"<id>":{...}``), kept by a tree between :meth:`dumps_tree`
    calls with a copy of the node's message and metadata as they were encoded.

    A node's text is reused while its message and metadata still equal those copies; the tree
    calls :meth:`forget` when it changes a node's children (the only field it changes). When
    no node changed since the last call (the same ids in the same order, every message and
    metadata equal to its copy, compared in bulk), the whole text of the nodes is reused."""

    __slots__ = ("_ids", "_joined", "_messages", "_metadatas", "_roots", "_texts")

    def __init__(self) -> None:
        self._texts: dict[str, tuple[str, Any, Any]] = {}
        self._joined: str | None = None  # the nodes' texts joined, as of the last call
        self._ids: list[str] = []  # ... and the ids, message and metadata copies behind it
        self._messages: list[Any] = []
        self._metadatas: list[Any] = []
        self._roots: tuple[list[str], str] = ([], "[]")  # root ids and their text

    def forget(self, node_id: str) -> None:
        """Drop the text of ``node_id`` (its children changed, or it was removed)."""
        self._texts.pop(node_id, None)
        self._joined = None

    def clear(self) -> None:
        """Drop every text."""
        self._texts.clear()
        self._joined = None

    def current(self, nodes: Mapping[str, RawNode]) -> bool:
        """Whether the last :meth:`dumps_tree` text of the nodes still holds for ``nodes``: the
        same ids in the same order, each message and metadata equal to the copy taken when it
        was encoded (compared in bulk). Children lists are not compared: the tree calls
        :meth:`forget` when it changes one."""
        raws = nodes.values()
        return (
            self._joined is not None
            and list(nodes) == self._ids
            and list(map(_MESSAGE, raws)) == self._messages
            and list(map(_METADATA, raws)) == self._metadatas
        )

    def fork(self) -> EncodedNodes:
        """An independent copy holding the same texts (the kept texts and copies are never
        changed in place, so only the table of them is copied: microseconds)."""
        twin = EncodedNodes()
        twin._texts = self._texts.copy()
        twin._joined, twin._ids = self._joined, self._ids
        twin._messages, twin._metadatas, twin._roots = self._messages, self._metadatas, self._roots
        return twin

    def dumps_tree(
        self, nodes: Mapping[str, RawNode], root_ids: list[str], active_leaf_id: str | None
    ) -> str:
        """The same text as :func:`dumps_tree`, from the kept node texts where they hold.

        Raises:
            TypeError, ValueError: as :func:`aibind.core.jsjson.dumps`.
        """
        joined = self._joined
        if joined is None or not self.current(nodes):
            joined = self._join(nodes)
        roots = self._roots
        if roots[0] != root_ids:
            roots = self._roots = (list(root_ids), jsjson.dumps(root_ids))
        active = "null" if active_leaf_id is None else jsjson.dumps(active_leaf_id)
        return (
            f'{{"version":{FORMAT_VERSION},"nodes":{{{joined}}},'
            f'"rootIds":{roots[1]},"activeLeafId":{active}}}'
        )

    def _join(self, nodes: Mapping[str, RawNode]) -> str:
        self._joined = None  # until every text below is made
        texts = self._texts
        stale = [
            (node_id, raw)
            for node_id, raw in nodes.items()
            if (kept := texts.get(node_id)) is None
            or kept[1] != raw["message"]
            or kept[2] != raw["metadata"]
        ]
        if stale:  # encoded in one batch: keys and node objects
            made = iter(jsjson.dumps_many(chain.from_iterable(stale)))
            for (node_id, raw), key, value in zip(stale, made, made, strict=True):
                texts[node_id] = (
                    key + ":" + value,
                    _snapshot(raw["message"]),
                    _snapshot(raw["metadata"]),
                )
        if len(texts) > len(nodes):  # nodes replaced wholesale: keep only the present ones
            for node_id in [n for n in texts if n not in nodes]:
                del texts[node_id]
        kept_all = list(map(texts.__getitem__, nodes))
        joined = ",".join(map(_TEXT, kept_all))
        self._ids = list(nodes)
        self._messages = list(map(_SNAP_MESSAGE, kept_all))
        self._metadatas = list(map(_SNAP_METADATA, kept_all))
        self._joined = joined
        return joined
