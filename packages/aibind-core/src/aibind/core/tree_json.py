"""The conversation wire format: a :class:`~aibind.core.message_tree.MessageTree` as the JSON
the npm ``@aibind/core`` package writes (``MessageTree.serialize()`` / ``ChatHistory.toJSON()``)::

    {"version":1,
     "nodes":{"<id>":{"id":"<id>","message":{...},"parentId":"<id>"|null,
                      "children":["<id>",...],"metadata":{...},
                      "createdAt":"2026-11-21T13:03:00.123Z"}, ...},
     "rootIds":["<id>",...],
     "activeLeafId":"<id>"|null}

Keys are written in that order, nodes in creation (or loaded) order, compactly, as
``JSON.stringify`` does, so a tree loaded from npm output is written back byte for byte.

Loading validates everything npm's ``MessageTree.deserialize`` checks and more; any fault is a
:class:`~aibind.core.errors.CorruptDataError` whose message names the node. Keys a loaded node
holds beyond the six above are kept and written back, as npm keeps them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from itertools import chain, repeat
from operator import contains, itemgetter, lt
from types import MappingProxyType
from typing import Any, Literal, TypedDict, cast

from aibind.core import jsjson
from aibind.core.errors import CorruptDataError
from aibind.core.tree_node import TreeNode, check_timestamp, parse_timestamp

__all__ = [
    "FORMAT_VERSION",
    "RawNode",
    "SerializedNode",
    "SerializedTree",
    "TreeParts",
    "dumps_tree",
    "loads_tree",
    "new_raw_node",
    "node_view",
    "parse_tree",
    "tree_to_dict",
]

FORMAT_VERSION: Literal[1] = 1
"""The only ``version`` the npm package writes and reads."""

RawNode = dict[str, Any]
"""A node as a tree holds it internally: its wire object (``SerializedNode`` keys in wire
order, plus any extra keys a loaded node carried), owned by the tree and never handed out."""

TreeParts = tuple[dict[str, RawNode], list[str], "str | None"]
"""A validated tree: raw nodes by id (in order), root ids, active leaf id."""


class SerializedNode(TypedDict):
    """One node on the wire (camelCase, as npm writes it)."""

    id: str
    message: Any
    parentId: str | None
    children: list[str]
    metadata: dict[str, Any]
    createdAt: str


class SerializedTree(TypedDict):
    """A whole tree on the wire: the object ``ChatHistory.toJSON()`` stringifies."""

    version: Literal[1]
    nodes: dict[str, SerializedNode]
    rootIds: list[str]
    activeLeafId: str | None


def new_raw_node(
    node_id: str, message: Any, parent_id: str | None, metadata: dict[str, Any], created_at: str
) -> RawNode:
    """Return a new childless raw node (keys in the order npm writes them)."""
    return {
        "id": node_id,
        "message": message,
        "parentId": parent_id,
        "children": [],
        "metadata": metadata,
        "createdAt": created_at,
    }


def node_view(raw: RawNode) -> TreeNode[Any]:
    """Return the immutable :class:`TreeNode` view of a raw node (children copied, metadata
    behind a read-only proxy, ``createdAt`` parsed)."""
    return TreeNode(
        raw["id"],
        raw["message"],
        raw["parentId"],
        tuple(raw["children"]),
        MappingProxyType(raw["metadata"]),
        parse_timestamp(raw["createdAt"]),
    )


def tree_to_dict(
    nodes: Mapping[str, RawNode], root_ids: list[str], active_leaf_id: str | None
) -> SerializedTree:
    """Build the wire object of a tree.

    Args:
        nodes: the raw nodes by id, in the order to write them.
        root_ids: the root ids in order.
        active_leaf_id: the active leaf, or ``None``.

    Returns:
        a fresh :class:`SerializedTree` (node objects, children lists and metadata copied;
        messages shared, not copied).
    """
    return {
        "version": FORMAT_VERSION,
        "nodes": {
            node_id: cast(
                SerializedNode,
                {**raw, "children": list(raw["children"]), "metadata": dict(raw["metadata"])},
            )
            for node_id, raw in nodes.items()
        },
        "rootIds": list(root_ids),
        "activeLeafId": active_leaf_id,
    }


def dumps_tree(
    nodes: Mapping[str, RawNode], root_ids: list[str], active_leaf_id: str | None
) -> str:
    """Return the wire JSON text of a tree, as ``JSON.stringify`` writes it (see
    :func:`tree_to_dict` for the arguments)."""
    return jsjson.dumps(
        {
            "version": FORMAT_VERSION,
            "nodes": nodes,
            "rootIds": root_ids,
            "activeLeafId": active_leaf_id,
        }
    )


def loads_tree(text: str | bytes | bytearray) -> TreeParts:
    """Parse and validate wire JSON text.

    Args:
        text: the JSON (``bytes`` are decoded as UTF-8).

    Returns:
        the validated :data:`TreeParts`.

    Raises:
        TypeError: ``text`` is not ``str``/``bytes``.
        CorruptDataError: the text is not valid JSON, or not a valid tree (see
            :func:`parse_tree`).
    """
    if not isinstance(text, (str, bytes, bytearray)):
        raise TypeError(f"json must be a str or bytes, not {type(text).__name__}")
    try:
        data = jsjson.loads(text)
    except ValueError as exc:
        raise CorruptDataError(f"conversation JSON is not valid JSON: {exc}") from exc
    return parse_tree(data, copy_values=False)


_FIELDS_IN_ORDER = ("id", "message", "parentId", "children", "metadata", "createdAt")
_FIELDS = frozenset(_FIELDS_IN_ORDER)


def _fail(node_id: object, problem: str) -> CorruptDataError:
    return CorruptDataError(f"corrupt conversation tree: node {node_id!r} {problem}")


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _parse_node(key: object, raw: object, copy_values: bool) -> RawNode:
    if not isinstance(key, str):
        raise _fail(key, "has a key that is not a string")
    if not isinstance(raw, dict):
        raise _fail(key, f"must be an object, not {_type_name(raw)}")
    if not raw.keys() >= _FIELDS:
        missing = next(field for field in _FIELDS_IN_ORDER if field not in raw)
        raise _fail(key, f'has no "{missing}" field')
    node_id = raw["id"]
    if node_id != key:
        raise _fail(key, f'has "id" {node_id!r}, which differs from its key')
    parent_id = raw["parentId"]
    if parent_id is not None and not isinstance(parent_id, str):
        raise _fail(key, f'has a "parentId" that is {_type_name(parent_id)}, not a string/null')
    children = raw["children"]
    if not isinstance(children, list) or not all(isinstance(c, str) for c in children):
        raise _fail(key, '"children" must be a list of strings')
    if len(set(children)) != len(children):
        raise _fail(key, 'lists a child twice in "children"')
    metadata = raw["metadata"]
    if not isinstance(metadata, dict):
        raise _fail(key, f'"metadata" must be an object, not {_type_name(metadata)}')
    created_at = raw["createdAt"]
    if not isinstance(created_at, str):
        raise _fail(key, f'"createdAt" must be a string, not {_type_name(created_at)}')
    try:
        check_timestamp(created_at)
    except ValueError as exc:
        raise _fail(key, f'has an invalid "createdAt": {exc}') from exc
    if not copy_values:
        return raw
    try:
        return cast(RawNode, jsjson.copy_json_value(raw, "node"))
    except (TypeError, ValueError) as exc:
        raise _fail(key, f"holds a value JSON cannot: {exc}") from exc


def _check_links(nodes: dict[str, RawNode], root_ids: list[str]) -> None:
    for node_id, node in nodes.items():
        parent_id = node["parentId"]
        if parent_id is not None:
            parent = nodes.get(parent_id)
            if parent is None:
                raise _fail(node_id, f"names a missing parent {parent_id!r}")
            if node_id not in parent["children"]:
                raise _fail(
                    node_id, f"names parent {parent_id!r}, which does not list it as a child"
                )
        for child_id in node["children"]:
            child = nodes.get(child_id)
            if child is None:
                raise _fail(node_id, f"lists a missing child {child_id!r}")
            if child["parentId"] != node_id:
                raise _fail(
                    child_id,
                    f"is listed as a child of {node_id!r} but its parentId is "
                    f"{child['parentId']!r}",
                )
    seen: set[str] = set()
    for root_id in root_ids:
        root = nodes.get(root_id)
        if root is None:
            raise _fail(root_id, "is listed in rootIds but does not exist")
        if root["parentId"] is not None:
            raise _fail(root_id, f"is listed in rootIds but has parent {root['parentId']!r}")
        if root_id in seen:
            raise _fail(root_id, "is listed in rootIds twice")
        seen.add(root_id)
    for node_id, node in nodes.items():
        if node["parentId"] is None and node_id not in seen:
            raise _fail(node_id, "has no parent but is not listed in rootIds")


def _check_reachable(nodes: dict[str, RawNode], root_ids: list[str]) -> None:
    # After _check_links every node has at most one parent and parentless nodes are roots, so a
    # node the roots do not reach hangs under a cycle of parent links.
    reached: set[str] = set()
    stack = list(root_ids)
    while stack:
        node_id = stack.pop()
        reached.add(node_id)
        stack.extend(nodes[node_id]["children"])
    if len(reached) == len(nodes):
        return
    current = next(node_id for node_id in nodes if node_id not in reached)
    walked: set[str] = set()
    while current not in walked:
        walked.add(current)
        current = nodes[current]["parentId"]
    raise _fail(current, "is part of a cycle of parent links")


def parse_tree(data: object, *, copy_values: bool = True) -> TreeParts:
    """Validate a wire object (parsed JSON) and build the tree's nodes from it.

    Checks, each failure a :class:`CorruptDataError` naming the node: the object shape and
    ``version == 1``; per node: an object with the six fields, ``id`` equal to its key,
    ``parentId`` a string or null, ``children`` distinct strings, ``metadata`` an object,
    ``createdAt`` an ISO-8601 timestamp (extra keys are kept, as npm keeps them); then the
    links: every parent and child exists, a child names its parent and its parent lists it,
    ``rootIds`` are distinct existing parentless nodes and every parentless node is one of
    them, no cycle, and ``activeLeafId`` is null or an
    existing node (as in npm it need not be a leaf).

    Args:
        data: the parsed JSON.
        copy_values: deep-copy each node, checking it holds only JSON values; needed for
            objects that did not come from :func:`jsjson.loads` (the nodes are kept as they
            are otherwise).

    Returns:
        the validated :data:`TreeParts`.

    Raises:
        CorruptDataError: as above.
    """
    if not isinstance(data, dict):
        raise CorruptDataError(f"conversation JSON must be an object, not {_type_name(data)}")
    version = data.get("version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise CorruptDataError(
            f"unsupported conversation format version {version!r} (expected {FORMAT_VERSION})"
        )
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, dict):
        raise CorruptDataError(
            f'conversation JSON: "nodes" must be an object, not {_type_name(raw_nodes)}'
        )
    root_ids = data.get("rootIds")
    if not isinstance(root_ids, list) or not all(isinstance(r, str) for r in root_ids):
        raise CorruptDataError('conversation JSON: "rootIds" must be a list of strings')
    if "activeLeafId" not in data:
        raise CorruptDataError('conversation JSON has no "activeLeafId" field')
    active = data["activeLeafId"]
    if active is not None and not isinstance(active, str):
        raise CorruptDataError(
            f'conversation JSON: "activeLeafId" must be a string or null, not {_type_name(active)}'
        )
    if not copy_values and _valid_fast(raw_nodes, root_ids, active):
        return dict(raw_nodes), list(root_ids), active
    nodes = {key: _parse_node(key, raw, copy_values) for key, raw in raw_nodes.items()}
    _check_links(nodes, root_ids)
    _check_reachable(nodes, root_ids)
    if active is not None and active not in nodes:
        raise _fail(active, "is the activeLeafId but does not exist")
    return nodes, list(root_ids), active


# Canonical toISOString timestamps, one per line, every date valid in every year (a 29th of
# February is left to datetime, below).
_FAST_STAMPS = re.compile(
    r"(?:(?!0000)\d{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
    r"|(?:0[13578]|1[02])-31)T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z\n)*",
    re.ASCII,
)
# The same with any day of the month 01-31, whose dates datetime then checks.
_SLOW_STAMPS = re.compile(
    r"(?:\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z\n)*", re.ASCII
)
_ID = itemgetter("id")
_PARENT = itemgetter("parentId")
_CHILDREN = itemgetter("children")
_METADATA = itemgetter("metadata")
_CREATED = itemgetter("createdAt")
_MESSAGE = itemgetter("message")
_DATE = itemgetter(slice(0, 10))
_NONE = type(None)


def _stamps_valid(stamps: list[str]) -> bool:
    lines = "\n".join(stamps) + "\n"  # TypeError if one is not a str
    if len(lines) != 25 * len(stamps):  # also refuses a stamp holding a line break
        return False
    if _FAST_STAMPS.fullmatch(lines) is not None:
        return True
    if _SLOW_STAMPS.fullmatch(lines) is None:
        return False
    try:
        for date in set(map(_DATE, stamps)):
            datetime.fromisoformat(date)
    except ValueError:
        return False
    return True


def _valid_fast(raw_nodes: dict[Any, Any], root_ids: list[str], active: object) -> bool:
    """Every check :func:`parse_tree` makes, over parsed JSON, in bulk operations, answering
    only "valid or not": ``False`` sends the caller to the detailed checks, which find and name
    the fault (so this never decides an error message, and must never accept what they
    refuse; ``test_tree_json`` checks that on random corruptions)."""
    if not raw_nodes:
        return not root_ids and active is None
    keys = list(raw_nodes)
    values = list(raw_nodes.values())
    if set(map(type, values)) != {dict}:
        return False
    try:
        "".join(keys)  # every key is a str
        ids = list(map(_ID, values))
        parents = list(map(_PARENT, values))
        childrens = list(map(_CHILDREN, values))
        metadatas = list(map(_METADATA, values))
        stamps = list(map(_CREATED, values))
        list(map(_MESSAGE, values))  # KeyError if one has no message
        if not _stamps_valid(stamps):  # TypeError if a createdAt is not a str
            return False
    except (KeyError, TypeError):
        return False
    if ids != keys or set(map(type, childrens)) != {list}:
        return False
    if set(map(type, metadatas)) != {dict} or not set(map(type, parents)) <= {str, _NONE}:
        return False
    # Links: each node is listed by its parent (the roots: in rootIds), no id is listed twice,
    # and as many ids are listed as there are nodes naming a parent, so nothing else is listed.
    parentless = parents.count(None)
    children = list(chain.from_iterable(childrens))
    listing: dict[str | None, Any] = dict(zip(ids, childrens, strict=True))
    roots = set(root_ids)
    listing[None] = roots
    try:
        if len(children) != len(ids) - parentless or len(set(children)) != len(children):
            return False  # TypeError: an unhashable child
        if not all(map(contains, map(listing.__getitem__, parents), ids)):
            return False
    except (KeyError, TypeError):  # KeyError: a missing parent
        return False
    if len(roots) != len(root_ids) or len(root_ids) != parentless:
        return False  # rootIds has a duplicate, or an id that is not a parentless node
    if active is not None and active not in listing:
        return False
    # With one parent per node, nodes the roots do not reach hang under a parent-link cycle;
    # none can when every parent comes before its children (how trees are written).
    position = dict(zip(ids, range(len(ids)), strict=True))
    if all(map(lt, map(position.get, parents, repeat(-1)), range(len(ids)))):
        return True
    reached = 0
    stack = list(root_ids)
    while stack:
        reached += 1
        stack.extend(listing[stack.pop()])
    return reached == len(ids)
