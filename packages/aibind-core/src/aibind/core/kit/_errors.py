"""The pieces every backend's error translation is built from.

A backend's ``_errors.py`` maps its driver's exceptions to :mod:`aibind.core.errors` by exception
*type* (never by class-name strings): it looks the driver's classes up with :func:`loaded_types`
(only from modules already imported, so a backend never imports a driver it does not use), handles
what is specific to it (a missing table, a script error), and hands the rest to
:func:`backend_error`, which classifies the operating system's and asyncio's own exceptions.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import sys

from aibind.core.errors import (
    AibindError,
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    ConnectionLostError,
)

__all__ = ["backend_error", "describe", "loaded_types"]

_LOST: tuple[type[BaseException], ...] = (
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    EOFError,
    asyncio.IncompleteReadError,
)
_UNAVAILABLE: tuple[type[BaseException], ...] = (ConnectionRefusedError, socket.gaierror)
_TIMEOUT: tuple[type[BaseException], ...] = (TimeoutError, asyncio.TimeoutError)
# asyncio reports a failed connect as a plain OSError carrying the errno (or "Multiple
# exceptions" for several addresses), not as ConnectionRefusedError.
_UNAVAILABLE_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}
)
_LOST_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ENOTCONN})


def describe(exc: BaseException) -> str:
    """``"<Type>: <message>"`` for an exception, or just ``"<Type>"`` when its message is empty
    (so an error message is never blank), on one line."""
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def loaded_types(module: str, *names: str) -> tuple[type[BaseException], ...]:
    """The exception classes ``names`` of ``module`` if that module is already imported (else
    none), for ``isinstance`` checks that never import a driver the process does not use.

    Args:
        module: a module path, e.g. ``"redis.exceptions"``.
        names: attribute names of exception classes in it; missing ones are skipped (older
            driver versions).

    Returns:
        the classes found, possibly an empty tuple.
    """
    mod = sys.modules.get(module)
    if mod is None:
        return ()
    found = []
    for name in names:
        cls = getattr(mod, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


def backend_error(exc: BaseException, context: str = "") -> AibindError:
    """The error to raise (``from exc``) for an exception no backend-specific rule matched.

    An :class:`~aibind.core.errors.AibindError` is returned unchanged. Refused connections and
    unknown hosts become :class:`BackendUnavailableError`, resets and broken pipes
    :class:`ConnectionLostError`, timeouts :class:`BackendTimeoutError`, anything else a plain
    :class:`BackendError`; the message is ``"<context>: <Type>: <message>"``.

    Args:
        exc: what the driver raised.
        context: what was being done (``"GET 'aibind:conv:s1'"``), prepended to the message.
    """
    if isinstance(exc, AibindError):
        return exc
    message = f"{context}: {describe(exc)}" if context else describe(exc)
    code = exc.errno if isinstance(exc, OSError) else None
    if isinstance(exc, _UNAVAILABLE) or code in _UNAVAILABLE_ERRNOS:
        return BackendUnavailableError(message)
    if isinstance(exc, _LOST) or code in _LOST_ERRNOS:
        return ConnectionLostError(message)
    if isinstance(exc, _TIMEOUT):
        return BackendTimeoutError(message)
    if isinstance(exc, OSError) and str(exc).startswith("Multiple exceptions"):  # asyncio
        return BackendUnavailableError(message)
    return BackendError(message)
