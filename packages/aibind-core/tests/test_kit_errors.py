"""Translating driver exceptions by type (aibind.core.kit.backend_error)."""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest

from aibind.core.errors import (
    AibindError,
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    ConnectionLostError,
    SchemaError,
)
from aibind.core.kit import backend_error, describe, loaded_types


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), BackendUnavailableError),
        (socket.gaierror(-2, "Name or service not known"), BackendUnavailableError),
        (OSError(errno.ECONNREFUSED, "Connect call failed"), BackendUnavailableError),
        (OSError("Multiple exceptions: [Errno 111] ..."), BackendUnavailableError),
        (ConnectionResetError(errno.ECONNRESET, "reset"), ConnectionLostError),
        (BrokenPipeError(errno.EPIPE, "pipe"), ConnectionLostError),
        (asyncio.IncompleteReadError(b"", 4), ConnectionLostError),
        (TimeoutError(), BackendTimeoutError),
        (PermissionError(errno.EACCES, "denied"), BackendError),
        (RuntimeError(""), BackendError),
    ],
)
def test_classification(exc: Exception, kind: type[AibindError]) -> None:
    error = backend_error(exc, "GET 'k'")
    assert type(error) is kind
    assert str(error).startswith("GET 'k': ")
    assert type(exc).__name__ in str(error)


def test_an_aibind_error_is_returned_unchanged() -> None:
    error = SchemaError("missing")
    assert backend_error(error) is error


def test_timeout_error_is_also_a_builtin_timeout() -> None:
    assert isinstance(backend_error(TimeoutError()), TimeoutError)


def test_describe_is_never_blank() -> None:
    assert describe(RuntimeError()) == "RuntimeError"
    assert describe(ValueError("two\nlines")) == "ValueError: two lines"


def test_loaded_types_never_imports() -> None:
    assert loaded_types("aibind_no_such_driver.exceptions", "Error") == ()
    assert loaded_types("socket", "gaierror", "nope") == (socket.gaierror,)


async def test_within_passes_a_backend_timeout_through() -> None:
    """The conformance helper must not report a call's own TimeoutError as a hang."""
    from aibind.conformance import within

    async def times_out() -> None:
        raise BackendTimeoutError("pool_timeout")

    with pytest.raises(BackendTimeoutError):
        await within(times_out(), 5)


async def test_cancelling_within_cancels_what_it_awaits() -> None:
    from aibind.conformance import within

    started = asyncio.Event()
    ended: list[str] = []

    async def follow() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            ended.append("cancelled")
            raise

    outer = asyncio.create_task(within(follow(), 30))
    await started.wait()
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert ended == ["cancelled"]
