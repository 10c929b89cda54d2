"""aibind-core: durable LLM streams and branching chat history for Python backends.

The contracts every backend implements (:class:`StreamStore`, :class:`ConversationStore`),
their value types and errors, the in-memory stores, :class:`ChatHistory` /
:class:`MessageTree`, SSE output with :class:`DurableStream`, and :func:`open_stores`, which
opens the stores of any installed backend from a URL.

For backend authors: :mod:`aibind.core.kit` (the store base classes, lifecycle, error
translation, poll sweep and URL options every backend is built from),
:mod:`aibind.core.validation` (argument checks), :mod:`aibind.core.follow` (the ``read_from``
loop), :mod:`aibind.core.notify` (push wake-ups), :mod:`aibind.core.sse` (SSE formatting),
:mod:`aibind.core.registry` (entry points).
"""

from __future__ import annotations

from importlib.metadata import version as _distribution_version

from aibind.core.chat_history import ChatHistory
from aibind.core.durable import DurableStream, SourceItem
from aibind.core.errors import (
    AibindError,
    BackendError,
    BackendNotFoundError,
    BackendTimeoutError,
    BackendUnavailableError,
    ConnectionLostError,
    CorruptDataError,
    MissingDriverError,
    NodeNotFoundError,
    SchemaError,
    StoreClosedError,
    StreamError,
    StreamExistsError,
    StreamExpiredError,
    StreamNotActiveError,
    StreamNotFoundError,
)
from aibind.core.memory import MemoryConversationStore, MemoryStreamStore
from aibind.core.message_tree import MessageTree, TreeNode
from aibind.core.protocols import (
    ConversationStore,
    StreamStore,
    SupportsAppendMany,
    SupportsCleanup,
    SupportsDelete,
    SupportsSetup,
)
from aibind.core.registry import Stores, open_stores
from aibind.core.types import ConversationMessage, StreamChunk, StreamState, StreamStatus

__version__ = _distribution_version("aibind-core")
"""The installed distribution's version (from its metadata: the one source is pyproject.toml)."""

__all__ = [
    "AibindError",
    "BackendError",
    "BackendNotFoundError",
    "BackendTimeoutError",
    "BackendUnavailableError",
    "ChatHistory",
    "ConnectionLostError",
    "ConversationMessage",
    "ConversationStore",
    "CorruptDataError",
    "DurableStream",
    "MemoryConversationStore",
    "MemoryStreamStore",
    "MessageTree",
    "MissingDriverError",
    "NodeNotFoundError",
    "SchemaError",
    "SourceItem",
    "StoreClosedError",
    "Stores",
    "StreamChunk",
    "StreamError",
    "StreamExistsError",
    "StreamExpiredError",
    "StreamNotActiveError",
    "StreamNotFoundError",
    "StreamState",
    "StreamStatus",
    "StreamStore",
    "SupportsAppendMany",
    "SupportsCleanup",
    "SupportsDelete",
    "SupportsSetup",
    "TreeNode",
    "__version__",
    "open_stores",
]
