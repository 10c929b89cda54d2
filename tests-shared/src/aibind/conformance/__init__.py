"""The aibind conformance suite: pytest-native base classes every backend's tests subclass.

* :class:`StreamStoreConformance` — every :class:`~aibind.core.protocols.StreamStore` case.
* :class:`ConversationStoreConformance` — every
  :class:`~aibind.core.protocols.ConversationStore` case.

See :mod:`aibind.conformance.base` for the fixtures a backend provides.
"""

from __future__ import annotations

from importlib.metadata import version as _distribution_version

from aibind.conformance.base import (
    ConversationStoreFactory,
    RawConversations,
    StreamStoreFactory,
    collect,
    new_id,
    within,
)
from aibind.conformance.conversations import ConversationStoreConformance
from aibind.conformance.streams_capabilities import StreamCapabilityTests
from aibind.conformance.streams_concurrency import StreamConcurrencyTests
from aibind.conformance.streams_follow import StreamFollowTests
from aibind.conformance.streams_lifecycle import StreamLifecycleTests

__version__ = _distribution_version("aibind-conformance")
"""The installed distribution's version (from its metadata: the one source is pyproject.toml)."""

__all__ = [
    "ConversationStoreConformance",
    "ConversationStoreFactory",
    "RawConversations",
    "StreamStoreConformance",
    "StreamStoreFactory",
    "__version__",
    "collect",
    "new_id",
    "within",
]


class StreamStoreConformance(
    StreamLifecycleTests, StreamFollowTests, StreamConcurrencyTests, StreamCapabilityTests
):
    """Every stream-store conformance case. Subclass it, set ``push`` and ``capabilities``
    and override the ``make_store`` fixture (see :mod:`aibind.conformance.base`)."""
