"""The aibind conformance suite: pytest-native base classes every backend's tests subclass.

* :class:`StreamStoreConformance` — every :class:`~aibind.core.protocols.StreamStore` case.
* :class:`ConversationStoreConformance` — every
  :class:`~aibind.core.protocols.ConversationStore` case.

See :mod:`aibind.conformance.base` for the fixtures a backend provides.
"""

from __future__ import annotations

from importlib.metadata import version as _distribution_version

from aibind.conformance.base import (
    Closer,
    ConversationBuilder,
    ConversationStoreFactory,
    RawConversations,
    StreamBuilder,
    StreamStoreFactory,
    collect,
    conversation_factory,
    new_id,
    stream_factory,
    within,
)
from aibind.conformance.conversations import ConversationStoreConformance
from aibind.conformance.store_lifecycle import StreamStoreLifecycleTests
from aibind.conformance.streams_capabilities import StreamCapabilityTests
from aibind.conformance.streams_concurrency import StreamConcurrencyTests
from aibind.conformance.streams_follow import StreamFollowTests
from aibind.conformance.streams_lifecycle import StreamLifecycleTests
from aibind.conformance.streams_model import StreamModelTests
from aibind.conformance.streams_pages import StreamPagesTests

__version__ = _distribution_version("aibind-conformance")
"""The installed distribution's version (from its metadata: the one source is pyproject.toml)."""

__all__ = [
    "Closer",
    "ConversationBuilder",
    "ConversationStoreConformance",
    "ConversationStoreFactory",
    "RawConversations",
    "StreamBuilder",
    "StreamStoreConformance",
    "StreamStoreFactory",
    "__version__",
    "collect",
    "conversation_factory",
    "new_id",
    "stream_factory",
    "within",
]


class StreamStoreConformance(
    StreamLifecycleTests,
    StreamFollowTests,
    StreamPagesTests,
    StreamConcurrencyTests,
    StreamCapabilityTests,
    StreamStoreLifecycleTests,
    StreamModelTests,
):
    """Every stream-store conformance case. Subclass it, set ``push``, ``capabilities`` and
    ``expiry`` and override the ``make_store`` fixture (see :mod:`aibind.conformance.base`)."""
