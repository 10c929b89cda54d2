"""Translating redis-py and valkey exceptions into :mod:`aibind.core.errors`, by type.

The driver classes are looked up with :func:`aibind.core.kit.loaded_types` (only from modules
already imported), so neither driver is imported here. Connection failures are told apart by
the operating-system exception redis-py chains to its ``ConnectionError`` (it raises it inside
``except OSError``): a refused connection or an unknown host is
:class:`~aibind.core.errors.BackendUnavailableError`, anything else during a call
:class:`~aibind.core.errors.ConnectionLostError`; a connection pool that had no free connection
within its timeout (redis-py chains an ``asyncio.TimeoutError``) or that is exhausted
(``MaxConnectionsError``) is :class:`~aibind.core.errors.BackendTimeoutError`.
"""

from __future__ import annotations

import asyncio
import errno
import socket

from aibind.core.errors import (
    AibindError,
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    ConnectionLostError,
    CorruptDataError,
)
from aibind.core.kit import backend_error, describe, loaded_types
from aibind.redis.errors import RedisBackendError

__all__ = ["driver_types", "error_code", "translate"]

_DRIVERS = ("redis.exceptions", "valkey.exceptions")
_REFUSED = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENOENT})


def driver_types(*names: str) -> tuple[type[BaseException], ...]:
    """The exception classes ``names`` of every loaded Redis driver (redis-py, valkey)."""
    return tuple(cls for module in _DRIVERS for cls in loaded_types(module, *names))


def error_code(exc: BaseException) -> str | None:
    """The Redis error code of an error reply (its first word: ``NOGROUP``, ``BUSYGROUP``,
    ``NOSCRIPT``, ``ERR``...; RESP "simple errors"), or ``None`` if ``exc`` is no error reply."""
    if not isinstance(exc, driver_types("ResponseError")):
        return None
    text = str(exc)
    return text.split(" ", 1)[0] if text else None


def _cause(exc: BaseException) -> BaseException | None:
    return exc.__cause__ if exc.__cause__ is not None else exc.__context__


def _unreachable(exc: BaseException) -> bool:
    cause = _cause(exc)
    if isinstance(cause, (ConnectionRefusedError, socket.gaierror)):
        return True
    return isinstance(cause, OSError) and cause.errno in _REFUSED


def translate(exc: BaseException, context: str = "") -> AibindError:
    """The :mod:`aibind.core.errors` exception to raise (``from exc``) for a driver exception.

    Args:
        exc: what the driver (or the OS, or asyncio) raised.
        context: what was being done (``"append to 's1'"``), prepended to the message.

    Returns:
        an :class:`~aibind.core.errors.AibindError` whose message names ``exc``'s type:
        ``CorruptDataError`` for stored bytes that are not UTF-8 (a client with
        ``decode_responses=True``), ``BackendTimeoutError`` for timeouts and an exhausted pool,
        ``BackendUnavailableError`` for a server that cannot be reached, is loading its data,
        refuses the credentials or has its cluster down, ``ConnectionLostError`` for a
        connection dropped during a call, :class:`~aibind.redis.RedisBackendError` for an
        error reply or another driver failure.
    """
    if isinstance(exc, AibindError):
        return exc
    message = f"{context}: {describe(exc)}" if context else describe(exc)
    if isinstance(exc, UnicodeDecodeError):
        return CorruptDataError(f"{message} (stored bytes are not UTF-8 text)")
    if isinstance(exc, driver_types("MaxConnectionsError")):
        return BackendTimeoutError(f"{message} (the connection pool is exhausted)")
    if isinstance(exc, driver_types("TimeoutError")):
        return BackendTimeoutError(message)
    unavailable = driver_types(
        "BusyLoadingError",
        "AuthenticationError",
        "AuthorizationError",
        "ClusterDownError",
        "TryAgainError",
    )
    if isinstance(exc, unavailable):
        return BackendUnavailableError(message)
    if isinstance(exc, driver_types("ConnectionError")):
        if isinstance(_cause(exc), (TimeoutError, asyncio.TimeoutError)):
            return BackendTimeoutError(f"{message} (no pooled connection became free in time)")
        if _unreachable(exc):
            return BackendUnavailableError(message)
        return ConnectionLostError(message)
    if isinstance(exc, driver_types("RedisClusterException")):
        if isinstance(_cause(exc), driver_types("ConnectionError", "TimeoutError")):
            return BackendUnavailableError(message)
        return RedisBackendError(message)
    if isinstance(exc, driver_types("RedisError")):
        return RedisBackendError(message)
    error = backend_error(exc, context)
    return RedisBackendError(str(error)) if type(error) is BackendError else error
