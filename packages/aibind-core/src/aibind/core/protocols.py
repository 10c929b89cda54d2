"""The store contracts: :class:`StreamStore`, :class:`ConversationStore` and the optional
capabilities a backend may add. They are structural (:class:`typing.Protocol`): a backend does
not inherit from them, it only has the methods.

The contracts are the Python spelling of the npm ``@aibind/core`` interfaces ``StreamStore``
and ``ConversationStore`` (snake_case names, seconds instead of milliseconds).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from aibind.core.types import ConversationMessage, StreamChunk, StreamStatus

if TYPE_CHECKING:
    from aibind.core.chat_history import ChatHistory

__all__ = [
    "Closeable",
    "ConversationStore",
    "StreamStore",
    "SupportsAppendMany",
    "SupportsCleanup",
    "SupportsDelete",
    "SupportsSetup",
]


@runtime_checkable
class Closeable(Protocol):
    """What every store has besides its own methods: it is an async context manager and is
    closed with :meth:`aclose`."""

    async def aclose(self) -> None:
        """Close the store and what it opened (never a client passed in); idempotent. Later
        calls raise :class:`~aibind.core.errors.StoreClosedError`."""
        ...

    async def __aenter__(self) -> Any:
        """Open the store (connecting now) and return it."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """:meth:`aclose` the store."""
        ...


@runtime_checkable
class StreamStore(Closeable, Protocol):
    """Durable, append-only streams of text chunks, each with a 1-based ``seq``.

    Every method raises :class:`TypeError`/:class:`ValueError` for a malformed argument (an
    empty or non-string ``stream_id``, a non-string chunk, a negative ``after_seq``) before it
    touches storage, so a bad call never changes what is stored.

    A store is an async context manager and is closed with :meth:`aclose` (the stores built
    on :mod:`aibind.core.kit` also have ``open()`` and ``from_url()``).
    """

    async def create(self, stream_id: str) -> None:
        """Create an empty ``active`` stream.

        Raises:
            StreamExistsError: ``stream_id`` is already taken (whatever its state).
        """
        ...

    async def append(self, stream_id: str, chunk: str) -> int:
        """Append one chunk and return its seq (1 for the first chunk).

        Atomic: concurrent appenders on one stream get distinct, gap-free seqs.

        Raises:
            StreamNotFoundError: no such stream.
            StreamNotActiveError: the stream is already done, stopped or failed.
        """
        ...

    def read_from(self, stream_id: str, after_seq: int = 0) -> AsyncIterator[StreamChunk]:
        """Yield every chunk with ``seq > after_seq``, in order, each exactly once: first those
        already stored, then new ones as they are appended; return once the stream is terminal
        and every chunk has been yielded.

        Raises (while iterating):
            StreamNotFoundError: no such stream.
            StreamExpiredError: the stream stayed active with no new chunk for longer than the
                store's ``ttl`` seconds (its producer is presumed dead), or it vanished.
        """
        ...

    def read_pages(
        self, stream_id: str, after_seq: int = 0
    ) -> AsyncIterator[Sequence[StreamChunk]]:
        """The chunks :meth:`read_from` yields, a page at a time: each item a non-empty
        sequence of consecutive chunks (those one read of the backend or one wake-up found),
        in order, each chunk exactly once. Same rules and errors as :meth:`read_from`; for
        consumers that handle chunks in bulk (an SSE replay written one page per send)."""
        ...

    async def get_status(self, stream_id: str) -> StreamStatus | None:
        """Return the stream's state and chunk count, or ``None`` if it does not exist."""
        ...

    async def stop(self, stream_id: str) -> None:
        """Mark an active stream ``stopped`` (the client cancelled); a no-op if it is already
        terminal. Raises :class:`StreamNotFoundError` for an unknown stream."""
        ...

    async def complete(self, stream_id: str) -> None:
        """Mark an active stream ``done``; a no-op if it is already terminal.
        Raises :class:`StreamNotFoundError` for an unknown stream."""
        ...

    async def fail(self, stream_id: str, error: str) -> None:
        """Mark an active stream ``error`` with the message ``error``; a no-op if it is already
        terminal. Raises :class:`StreamNotFoundError` for an unknown stream."""
        ...


@runtime_checkable
class SupportsAppendMany(Protocol):
    """Optional: append several chunks in one round trip (one transaction, one script)."""

    async def append_many(self, stream_id: str, chunks: Sequence[str]) -> int:
        """Append ``chunks`` in order, atomically, and return the seq of the last one (the
        stream's ``total_chunks`` after the call). An empty sequence appends nothing and returns
        the current ``total_chunks``. Raises as :meth:`StreamStore.append` does."""
        ...


@runtime_checkable
class SupportsDelete(Protocol):
    """Optional: remove a stream and its chunks at once."""

    async def delete(self, stream_id: str) -> None:
        """Delete the stream and all its chunks; a no-op if it does not exist. Readers still
        following it end with :class:`StreamExpiredError`."""
        ...


@runtime_checkable
class SupportsCleanup(Protocol):
    """Optional: remove expired records (for backends without native expiry)."""

    async def cleanup(self) -> int:
        """Remove every record past its expiry and return how many were removed (streams, or
        conversations)."""
        ...


@runtime_checkable
class SupportsSetup(Protocol):
    """Optional (SQL backends): create the tables the store needs."""

    async def setup(self) -> None:
        """Run ``CREATE TABLE IF NOT EXISTS`` for the store's tables; idempotent. Never run
        implicitly by any other method."""
        ...


@runtime_checkable
class ConversationStore(Closeable, Protocol):
    """Persistent chat histories keyed by session id, stored as the npm JSON wire format."""

    async def load(self, session_id: str) -> ChatHistory[ConversationMessage]:
        """Return the session's history, or an empty one if it is absent or expired.

        Raises:
            CorruptDataError: the stored JSON is invalid; the stored value is left untouched.
        """
        ...

    async def save(self, session_id: str, chat: ChatHistory[ConversationMessage]) -> None:
        """Store ``chat`` under ``session_id`` (replacing what was there) and restart its TTL."""
        ...

    async def delete(self, session_id: str) -> None:
        """Remove the session's history; a no-op if it does not exist."""
        ...
