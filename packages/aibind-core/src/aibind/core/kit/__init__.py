"""The backend kit: what every aibind backend is built from, decided once in core.

A backend package is a thin layer over these pieces (see ``packages/aibind-_template`` and
docs/contributing-a-backend.md):

* **Lifecycle** — :class:`StoreBase`: ``from_url`` returns the store itself, opened lazily on
  first use or eagerly by ``async with`` / ``await store.open()``; ``aclose()`` is idempotent and
  closes only what the store opened (an :class:`Owned` client, shared by the two stores of a
  pair and closed with the last).
* **Streams** — :class:`StreamStoreBase` implements every
  :class:`~aibind.core.protocols.StreamStore` method (argument checks, error translation,
  wake-ups, ``read_from`` with push, idle expiry and retries) over a few storage hooks.
* **Conversations** — :class:`ConversationStoreBase` implements
  :class:`~aibind.core.protocols.ConversationStore` over get / set-with-TTL / delete.
* **Coalescing** — :class:`Coalescer`: concurrent calls (appends) that arrive while one is in
  flight run as one group (one pipeline, one statement) next.
* **One poll policy** — :class:`Sweeper`: one safety sweep per store every ``poll_interval``,
  one round trip however many followers, for writers that do not notify.
* **One error model** — backends translate driver exceptions by type with
  :func:`loaded_types` and :func:`backend_error` into :mod:`aibind.core.errors`, and wrap
  driver calls in :func:`keep_cancellation` so a cancelled caller stays cancelled.
* **One URL syntax** — :class:`ClientOpener`, :func:`store_from_url`, :func:`open_pair`,
  :func:`split_url_options` and the ``parse_*`` option parsers.
* **Values** — :func:`make_status`, :func:`as_text`, :func:`now_ms`, :func:`ttl_ms`, and
  :func:`chunks_from_rows` / :func:`chunk_run` (a read's page of chunks, :class:`ChunkPage`:
  the hot loop of a replay).

The pieces ``read_from`` is built from stay in their own modules: :mod:`aibind.core.follow`,
:mod:`aibind.core.notify`, :mod:`aibind.core.validation`.
"""

from __future__ import annotations

from aibind.core.kit._cancel import keep_cancellation
from aibind.core.kit._chunks import ChunkPage, chunk_run, chunks_from_rows
from aibind.core.kit._coalesce import Coalescer, Outcome
from aibind.core.kit._conversations import ConversationStoreBase
from aibind.core.kit._errors import backend_error, describe, loaded_types
from aibind.core.kit._lifecycle import Owned, StoreBase
from aibind.core.kit._open import CONVERSATION_PREFIX, ClientOpener, open_pair, store_from_url
from aibind.core.kit._options import (
    Parser,
    parse_bool,
    parse_float,
    parse_int,
    parse_optional_float,
    parse_str,
    split_url_options,
)
from aibind.core.kit._streams import StreamStoreBase
from aibind.core.kit._sweep import Markers, Probe, Sweeper, Watch
from aibind.core.kit._values import as_text, make_status, now_ms, ttl_ms

__all__ = [
    "CONVERSATION_PREFIX",
    "ChunkPage",
    "ClientOpener",
    "Coalescer",
    "ConversationStoreBase",
    "Markers",
    "Outcome",
    "Owned",
    "Parser",
    "Probe",
    "StoreBase",
    "StreamStoreBase",
    "Sweeper",
    "Watch",
    "as_text",
    "backend_error",
    "chunk_run",
    "chunks_from_rows",
    "describe",
    "keep_cancellation",
    "loaded_types",
    "make_status",
    "now_ms",
    "open_pair",
    "parse_bool",
    "parse_float",
    "parse_int",
    "parse_optional_float",
    "parse_str",
    "split_url_options",
    "store_from_url",
    "ttl_ms",
]
