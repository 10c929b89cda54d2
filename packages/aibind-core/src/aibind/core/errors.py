"""The errors every aibind store raises.

All are subclasses of :class:`AibindError`, so ``except AibindError`` catches anything a store
raises on purpose. Backends raise these (or subclasses of them) and chain the driver error that
caused them (``raise SchemaError(...) from exc``); they never leak a bare driver exception.

Argument errors are the exception: a wrong type raises the built-in :class:`TypeError` and a bad
value the built-in :class:`ValueError`, each naming the argument, as Python code expects.
"""

from __future__ import annotations

__all__ = [
    "AibindError",
    "BackendNotFoundError",
    "CorruptDataError",
    "SchemaError",
    "StoreClosedError",
    "StreamError",
    "StreamExistsError",
    "StreamExpiredError",
    "StreamNotActiveError",
    "StreamNotFoundError",
]


class AibindError(Exception):
    """Base class of every error an aibind store raises on purpose."""


class StreamError(AibindError):
    """Base class of the errors about one stream; ``stream_id`` names it.

    Args:
        stream_id: the stream the error is about.
        message: the human-readable text; a default is built from ``stream_id`` when omitted.
    """

    default_message = "stream error"

    def __init__(self, stream_id: str, message: str | None = None) -> None:
        self.stream_id = stream_id
        super().__init__(message or f"{self.default_message}: {stream_id!r}")


class StreamExistsError(StreamError):
    """``create()`` was called with a stream id that is already taken."""

    default_message = "stream already exists"


class StreamNotFoundError(StreamError):
    """The stream does not exist (never created, deleted, or expired and cleaned up)."""

    default_message = "stream not found"


class StreamNotActiveError(StreamError):
    """``append()`` was called on a stream that is already ``done``, ``stopped`` or ``error``.

    ``state`` holds the state the stream was found in.
    """

    default_message = "stream is not active"

    def __init__(self, stream_id: str, state: str, message: str | None = None) -> None:
        self.state = state
        super().__init__(stream_id, message or f"stream {stream_id!r} is {state}, not active")


class StreamExpiredError(StreamError):
    """A reader gave up on a stream: it stayed active with no new chunk for longer than the
    store's ``ttl`` (the producer is presumed dead), or its records expired while it was read.
    """

    default_message = "stream expired while being read (no chunk within the store's ttl)"


class CorruptDataError(AibindError):
    """Stored data could not be decoded: invalid JSON, an unknown format version, or a
    conversation tree whose links disagree. The message names the key, row or node."""


class SchemaError(AibindError):
    """The tables a SQL store needs are missing or have the wrong shape.

    The message names the table and says how to create it: call the store's ``setup()``, or
    run the DDL that ``aibind schema <backend>`` prints.
    """


class StoreClosedError(AibindError):
    """The store, or the client it was opened with, has been closed."""


class BackendNotFoundError(AibindError, LookupError):
    """No installed package registers a backend for a URL's scheme (entry-point group
    ``aibind.backends``). The message lists the schemes that are installed."""
