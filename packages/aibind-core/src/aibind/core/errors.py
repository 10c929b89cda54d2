"""The errors every aibind store raises.

All are subclasses of :class:`AibindError`, so ``except AibindError`` catches anything a store
raises on purpose. Backends raise these (or subclasses of them) and chain the driver error that
caused them (``raise SchemaError(...) from exc``); they never leak a bare driver exception.

Argument errors are the exception: a wrong type raises the built-in :class:`TypeError` and a bad
value the built-in :class:`ValueError`, each naming the argument, as Python code expects.

The hierarchy::

    AibindError
    ├── StreamError (stream_id)
    │   ├── StreamExistsError          create() of a taken id
    │   ├── StreamNotFoundError        unknown (or cleaned-up) stream
    │   ├── StreamNotActiveError       append() to a done / stopped / failed stream (state)
    │   └── StreamExpiredError         a follower gave up: no chunk within the ttl, or deleted
    ├── CorruptDataError               stored bytes that cannot be decoded or disagree
    ├── SchemaError                    missing tables; says how to create them
    ├── StoreClosedError               the store (or its client) was closed
    ├── BackendNotFoundError           no installed package serves a URL scheme (LookupError)
    ├── MissingDriverError             the driver package is not installed (ImportError)
    ├── NodeNotFoundError              a chat tree has no such node (KeyError, ValueError)
    └── BackendError                   the server, driver, network or file failed
        ├── BackendUnavailableError    cannot connect or open (refused, unknown host, bad path)
        ├── ConnectionLostError        the connection dropped during a call
        └── BackendTimeoutError        no answer in time, or no pooled connection (TimeoutError)

Every backend translates its driver's exceptions into these by exception *type* (one hook per
backend, ``_errors.py``) and chains them, so ``except ConnectionLostError`` works the same on
SQLite, Redis, PostgreSQL and Cloudflare. :data:`TRANSIENT_ERRORS` are the ones a caller (and the
follower loop) may retry: the call can be repeated once the server is back.
"""

from __future__ import annotations

__all__ = [
    "TRANSIENT_ERRORS",
    "AibindError",
    "BackendError",
    "BackendNotFoundError",
    "BackendTimeoutError",
    "BackendUnavailableError",
    "ConnectionLostError",
    "CorruptDataError",
    "MissingDriverError",
    "NodeNotFoundError",
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


class MissingDriverError(AibindError, ImportError):
    """The driver a backend needs is not installed (or not the one asked for). The message names
    what to install, e.g. ``pip install "aibind-postgres[psycopg]"``."""


class BackendError(AibindError):
    """The storage backend failed: the server, the driver, the network or the file. The
    driver's exception is chained as ``__cause__`` and the message names its type, so a log
    line alone says what happened (``ConnectionError: Connection reset by peer``).

    Raised as is for failures that fit no subclass (a permission error, a server-side script
    error, a constraint the store did not expect); the subclasses below say more.
    """


class BackendUnavailableError(BackendError):
    """The store could not reach or open its backend: connection refused, unknown host,
    authentication failed, a database file that cannot be opened. Nothing was done; the call
    may be retried once the backend is reachable."""


class ConnectionLostError(BackendError):
    """The connection dropped while a call was in flight (server restart, killed connection,
    network cut). A read may be repeated; a write may or may not have been applied (reads
    tell which)."""


class BackendTimeoutError(BackendError, TimeoutError):
    """The backend did not answer in time, or no pooled connection became free in time (the
    pool's ``pool_timeout``). Also a :class:`TimeoutError`."""


TRANSIENT_ERRORS: tuple[type[BackendError], ...] = (
    BackendUnavailableError,
    ConnectionLostError,
    BackendTimeoutError,
)
"""The failures worth retrying after a pause: the backend may be back a moment later."""


class NodeNotFoundError(AibindError, KeyError, ValueError):
    """A tree or chat operation named a node id the tree does not hold.

    It is both a :class:`KeyError` (a failed lookup) and a :class:`ValueError` (a bad argument
    value), so either ``except`` clause catches it. ``node_id`` holds the id.

    Args:
        node_id: the unknown id.
        name: the argument it was passed as, used in the message.
    """

    def __init__(self, node_id: str, name: str = "node_id") -> None:
        self.node_id = node_id
        super().__init__(f"{name} {node_id!r}: no such node in the tree")

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message; show it as written.
        return str(self.args[0])
