"""Branching chat history: :class:`ChatHistory`, what conversation stores load and save.

The Python spelling of the npm ``@aibind/core`` ``ChatHistory<M>`` (``chat-history.ts``): a thin
layer over :class:`~aibind.core.message_tree.MessageTree` for the common chat operations
(append, edit, regenerate, switch between alternatives, compact) and the JSON wire format.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic

from aibind.core import jsjson
from aibind.core.message_tree import MessageTree
from aibind.core.tree_json import SerializedTree
from aibind.core.tree_node import M, NodeNotFoundError, format_timestamp, utc_now

__all__ = ["ChatHistory"]


class ChatHistory(Generic[M]):
    """A conversation with branches (npm ``ChatHistory``).

    Args:
        generate_id: makes node ids (default: uuid4 strings), passed to the tree.
        tree: wrap this existing tree instead of a new empty one (not copied).

    Attributes:
        tree: the underlying :class:`MessageTree`, for advanced operations.

    Unknown node ids raise :class:`~aibind.core.message_tree.NodeNotFoundError` (both a
    ``KeyError`` and a ``ValueError``); a non-``str`` id raises ``TypeError``.

    Example::

        chat: ChatHistory[ConversationMessage] = ChatHistory()
        m1 = chat.append({"role": "user", "content": "Hello"})
        chat.append({"role": "assistant", "content": "Hi!"})
        m1b = chat.edit(m1, {"role": "user", "content": "Hey there"})
        chat.messages            # [{"role": "user", "content": "Hey there"}]
        chat.prev_alternative(m1b)
        chat.messages            # back to "Hello", "Hi!"
    """

    __slots__ = ("tree",)

    def __init__(
        self,
        *,
        generate_id: Callable[[], str] | None = None,
        tree: MessageTree[M] | None = None,
    ) -> None:
        if tree is not None and not isinstance(tree, MessageTree):
            raise TypeError(f"tree must be a MessageTree, not {type(tree).__name__}")
        self.tree: MessageTree[M] = (
            tree if tree is not None else MessageTree(generate_id=generate_id)
        )

    def __repr__(self) -> str:
        return f"ChatHistory(size={self.size}, active_leaf_id={self.tree.active_leaf_id!r})"

    # ─── Current conversation ───────────────────────────────────

    @property
    def messages(self) -> list[M]:
        """The current conversation: messages from the root down to the active leaf."""
        return self.tree.get_active_path()[0]

    @property
    def node_ids(self) -> list[str]:
        """The node ids of :attr:`messages`, in the same order."""
        return self.tree.get_active_path()[1]

    @property
    def is_empty(self) -> bool:
        """``True`` when the history holds no message."""
        return self.tree.is_empty

    @property
    def size(self) -> int:
        """Number of messages across all branches."""
        return self.tree.size

    # ─── Simple operations ──────────────────────────────────────

    def append(self, message: M, metadata: Mapping[str, Any] | None = None) -> str:
        """Append ``message`` to the current conversation (it becomes the active leaf).

        Args:
            message: a JSON value (e.g. ``{"role": "user", "content": "..."}``); copied.
            metadata: optional JSON-able mapping stored on the node.

        Returns:
            the new node's id.

        Raises:
            TypeError/ValueError: ``message`` or ``metadata`` is not JSON-able.
        """
        return self.tree.append(message, metadata)

    def edit(
        self, message_id: str, new_message: M, metadata: Mapping[str, Any] | None = None
    ) -> str:
        """Edit a message: add ``new_message`` as a new sibling of ``message_id`` (a new root
        if it is a root) and make it the active leaf. The original stays as an alternative.

        Returns:
            the new node's id.

        Raises:
            TypeError: ``message_id`` is not a ``str``, or a value is not JSON-able.
            NodeNotFoundError: no node ``message_id``.
        """
        if not isinstance(message_id, str):
            raise TypeError(f"message_id must be a str, not {type(message_id).__name__}")
        node = self.tree.get(message_id)
        if node is None:
            raise NodeNotFoundError(message_id, "message_id")
        if node.parent_id is None:
            return self.tree.add_root(new_message, metadata)
        return self.tree.branch(node.parent_id, new_message, metadata)

    def regenerate(
        self, message_id: str, new_response: M, metadata: Mapping[str, Any] | None = None
    ) -> str:
        """Add ``new_response`` as an alternative to ``message_id`` and make it active; the
        same operation as :meth:`edit`, named for replacing an assistant response.

        Returns:
            the new node's id.

        Raises:
            TypeError: ``message_id`` is not a ``str``, or a value is not JSON-able (as
                :meth:`edit`).
            NodeNotFoundError: no node ``message_id``.
        """
        return self.edit(message_id, new_response, metadata)

    # ─── Alternatives ───────────────────────────────────────────

    def has_alternatives(self, node_id: str) -> bool:
        """Return whether ``node_id`` has siblings (other branches at its position).

        Raises:
            TypeError / NodeNotFoundError: as :meth:`MessageTree.get_siblings`.
        """
        return self.alternative_count(node_id) > 1

    def alternative_count(self, node_id: str) -> int:
        """Return how many alternatives sit at ``node_id``'s position, itself included.

        Raises:
            TypeError / NodeNotFoundError: as :meth:`MessageTree.get_siblings`.
        """
        return len(self.tree.get_siblings(node_id)[0])

    def alternative_index(self, node_id: str) -> int:
        """Return the 0-based position of ``node_id`` among its alternatives.

        Raises:
            TypeError / NodeNotFoundError: as :meth:`MessageTree.get_siblings`.
        """
        return self.tree.get_siblings(node_id)[1]

    def next_alternative(self, node_id: str) -> str | None:
        """Switch to the next alternative of ``node_id`` and follow its first replies down to
        a leaf, which becomes the active leaf.

        Returns:
            the new active leaf id, or ``None`` (nothing changes) if ``node_id`` is the last
            alternative (npm returns nothing here; the id is a Python convenience).

        Raises:
            TypeError / NodeNotFoundError: as :meth:`MessageTree.next_sibling`.
        """
        return self.tree.next_sibling(node_id)

    def prev_alternative(self, node_id: str) -> str | None:
        """Switch to the previous alternative of ``node_id`` (see :meth:`next_alternative`).

        Returns:
            the new active leaf id, or ``None`` if ``node_id`` is the first alternative.

        Raises:
            TypeError / NodeNotFoundError: as :meth:`MessageTree.prev_sibling`.
        """
        return self.tree.prev_sibling(node_id)

    # ─── Persistence ────────────────────────────────────────────

    def compact(self, summary: M) -> str:
        """Replace the whole history with one root message ``summary``, tagged with the
        metadata ``{"compacted": True, "compactedAt": "<ISO-8601 UTC>"}`` as npm does; use it
        after asking the model for a summary of a long conversation.

        Returns:
            the id of the summary node (npm returns nothing).

        Raises:
            TypeError/ValueError: ``summary`` is not JSON-able (the history is then unchanged).
        """
        jsjson.copy_json_value(summary, "summary")  # fail before clearing anything
        self.tree.clear()
        return self.tree.append(
            summary, {"compacted": True, "compactedAt": format_timestamp(utc_now())}
        )

    def to_json(self) -> str:
        """Return the history as wire JSON text, byte for byte what npm's
        ``ChatHistory.toJSON()`` writes for the same history (see
        :mod:`aibind.core.tree_json`)."""
        return self.tree.to_json()

    @classmethod
    def from_json(
        cls, json: str | bytes | bytearray, *, generate_id: Callable[[], str] | None = None
    ) -> ChatHistory[M]:
        """Restore a history from wire JSON text (written by :meth:`to_json` or by npm's
        ``ChatHistory.toJSON()``), validating it fully.

        Args:
            json: the JSON text (``bytes`` are decoded as UTF-8).
            generate_id: as for the constructor, for nodes added later.

        Raises:
            TypeError: ``json`` is not ``str``/``bytes``.
            CorruptDataError: invalid JSON, an unknown version or an inconsistent tree (a
                missing or disagreeing parent/child, a root with a parent, a cycle, an
                unknown active leaf, a field of the wrong type); the message names the node.
        """
        return cls(tree=MessageTree.from_json(json, generate_id=generate_id))

    def to_dict(self) -> SerializedTree:
        """Return the wire object (what :meth:`to_json` stringifies), e.g. for a store that
        keeps JSON documents natively (PostgreSQL ``jsonb``)."""
        return self.tree.serialize()

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, generate_id: Callable[[], str] | None = None
    ) -> ChatHistory[M]:
        """Restore a history from a wire object (see :meth:`to_dict`), validating it fully
        and deep-copying its messages.

        Raises:
            CorruptDataError: as :meth:`from_json`.
        """
        return cls(tree=MessageTree.deserialize(data, generate_id=generate_id))
