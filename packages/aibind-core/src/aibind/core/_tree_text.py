"""Each node's wire text kept between a tree's ``to_json()`` calls (:class:`EncodedNodes`), so
saving a long conversation again after a turn encodes only what changed; the text is the same,
byte for byte, as :func:`aibind.core.tree_json.dumps_tree` writes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aibind.core import jsjson
from aibind.core.tree_json import FORMAT_VERSION, RawNode

__all__ = ["EncodedNodes"]


def _snapshot(value: Any) -> Any:
    """A copy of a JSON value's containers (its strings and numbers are immutable)."""
    if type(value) is dict:
        return {key: _snapshot(item) for key, item in value.items()}
    if type(value) is list:
        return [_snapshot(item) for item in value]
    return value


class EncodedNodes:
    """Each node's wire text (``"<id>":{...}``), kept by a tree between :meth:`dumps_tree`
    calls with a copy of the node's message and metadata as they were encoded.

    A node's text is reused while its message and metadata still equal those copies; the tree
    calls :meth:`forget` when it changes a node's children (the only field it changes)."""

    __slots__ = ("_texts",)

    def __init__(self) -> None:
        self._texts: dict[str, tuple[str, Any, Any]] = {}

    def forget(self, node_id: str) -> None:
        """Drop the text of ``node_id`` (its children changed, or it was removed)."""
        self._texts.pop(node_id, None)

    def clear(self) -> None:
        """Drop every text."""
        self._texts.clear()

    def dumps_tree(
        self, nodes: Mapping[str, RawNode], root_ids: list[str], active_leaf_id: str | None
    ) -> str:
        """The same text as :func:`dumps_tree`, from the kept node texts where they hold.

        Raises:
            TypeError, ValueError: as :func:`aibind.core.jsjson.dumps`.
        """
        texts = self._texts
        dumps = jsjson.dumps
        parts = []
        for node_id, raw in nodes.items():
            kept = texts.get(node_id)
            if kept is None or kept[1] != raw["message"] or kept[2] != raw["metadata"]:
                text = dumps(node_id) + ":" + dumps(raw)
                kept = (text, _snapshot(raw["message"]), _snapshot(raw["metadata"]))
                texts[node_id] = kept
            parts.append(kept[0])
        if len(texts) > len(nodes):  # nodes replaced wholesale: keep only the present ones
            for node_id in [n for n in texts if n not in nodes]:
                del texts[node_id]
        return (
            f'{{"version":{FORMAT_VERSION},"nodes":{{{",".join(parts)}}},'
            f'"rootIds":{dumps(root_ids)},"activeLeafId":{dumps(active_leaf_id)}}}'
        )
