"""aibind-replaceme: <REPLACE ME: one line saying which storage holds the streams and the
conversations>.

* :class:`ReplacemeStreamStore` — durable, resumable LLM token streams.
* :class:`ReplacemeConversationStore` — branching chat histories (the npm JSON format).
* :func:`open_replaceme_stores` — the ``replaceme://`` backend of
  :func:`aibind.core.open_stores`.
* :class:`ReplacemeClient` — the client the stores talk to.
"""

from __future__ import annotations

from importlib.metadata import version as _distribution_version

from aibind.replaceme.backend import open_replaceme_stores
from aibind.replaceme.client import ReplacemeClient
from aibind.replaceme.conversations import ReplacemeConversationStore
from aibind.replaceme.streams import ReplacemeStreamStore

__version__ = _distribution_version("aibind-replaceme")
"""The installed distribution's version (from its metadata: the one source is pyproject.toml)."""

__all__ = [
    "ReplacemeClient",
    "ReplacemeConversationStore",
    "ReplacemeStreamStore",
    "__version__",
    "open_replaceme_stores",
]
