"""Checks shared by the D1 clients (binding and HTTP): statement arguments, refused statements,
ids and keys. Every check runs before anything is sent, so a refused call changes nothing.

Sources: D1's limits (100 bound parameters per statement, 100,000-byte statements) and value
types (``null``, number, string, ``ArrayBuffer``/``Uint8Array`` for BLOBs; a JS ``BigInt`` is
refused with ``D1_TYPE_ERROR``), KV's key limit (512 bytes) and minimum ``expirationTtl`` (60 s),
from Cloudflare's documentation and seen on local workerd (Miniflare).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from aibind.cloudflare.errors import D1Error

__all__ = [
    "KV_MIN_TTL",
    "MAX_KEY_BYTES",
    "MAX_PARAMETERS",
    "MAX_SAFE_INTEGER",
    "check_kv_key",
    "check_kv_ttl",
    "check_resource_id",
    "check_sql",
    "check_wait",
    "normalise_args",
]

MAX_PARAMETERS = 100
"""D1's limit of bound parameters per statement."""

MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer a JavaScript number holds exactly (``Number.MAX_SAFE_INTEGER``); D1
takes numbers, not ``BigInt``, so larger integers cannot be bound."""

MAX_KEY_BYTES = 512
"""KV's key limit (UTF-8 bytes)."""

KV_MIN_TTL = 60
"""KV's minimum ``expirationTtl`` / ``expiration_ttl``, in seconds."""

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_DATA_VERSION = re.compile(r"\s*pragma\s+(?:main\s*\.\s*)?data_version\b", re.IGNORECASE)


def check_resource_id(value: object, name: str) -> str:
    """Check an account, database or namespace id (letters, digits, ``-``, ``_``; at most 64).

    Raises:
        TypeError: not a ``str``.
        ValueError: empty or not such an id (it is put in URL paths).
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not _ID.fullmatch(value):
        raise ValueError(
            f"{name} must be a Cloudflare id (letters, digits, '-', '_'; at most 64), got {value!r}"
        )
    return value


def check_sql(sql: object) -> str:
    """Check a statement's text before sending it.

    ``PRAGMA data_version`` is refused: on D1 it answers the same number whatever other clients
    write (every query runs on the database's one connection), so it cannot tell that the data
    changed. Refusing it makes the SQLite stream store's cross-process poller fall back to
    re-reading the stream every ``poll_interval``, which does see other writers.

    Raises:
        TypeError: ``sql`` is not a ``str``.
        D1Error: ``PRAGMA data_version``.
    """
    if not isinstance(sql, str):
        raise TypeError(f"sql must be a str, not {type(sql).__name__}")
    if _DATA_VERSION.match(sql):
        raise D1Error(
            "PRAGMA data_version is not supported on D1: it does not change when other clients "
            "write, so it cannot detect their writes"
        )
    return sql


def _argument(value: Any, index: int, *, blobs: bool) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return int(value)  # SQLite has no boolean type; D1 binds true as 1 too
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise ValueError(
                f"args[{index}] = {value} is outside the range D1 can bind exactly "
                f"(±{MAX_SAFE_INTEGER}, JavaScript's safe integers); store it as TEXT"
            )
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"args[{index}] = {value!r}: D1 cannot bind NaN or infinity")
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        if not blobs:
            raise TypeError(
                f"args[{index}] is {type(value).__name__}: the D1 REST API takes JSON "
                "parameters, so a BLOB cannot be bound over HTTP (bind it through wrap_d1 in a "
                "Worker, or store it encoded as TEXT)"
            )
        return bytes(value)
    raise TypeError(
        f"args[{index}] must be None, bool, int, float, str or bytes, not {type(value).__name__}"
    )


def normalise_args(args: Sequence[Any], *, blobs: bool) -> list[Any]:
    """Check a statement's arguments and return them as plain Python values D1 accepts.

    Args:
        args: the ``?`` values, in order.
        blobs: whether ``bytes`` may be bound (through a binding: yes; over HTTP: no).

    Returns:
        ``None``, ``int`` (``bool`` as 0/1), ``float``, ``str`` or ``bytes`` values.

    Raises:
        TypeError: ``args`` is not a sequence, or a value has a type D1 cannot bind.
        ValueError: more than :data:`MAX_PARAMETERS` values, an integer beyond
            ±:data:`MAX_SAFE_INTEGER`, or a NaN/infinite float.
    """
    if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        raise TypeError(f"args must be a sequence of values, not {type(args).__name__}")
    if len(args) > MAX_PARAMETERS:
        raise ValueError(
            f"{len(args)} arguments: D1 binds at most {MAX_PARAMETERS} parameters per statement"
        )
    return [_argument(value, i, blobs=blobs) for i, value in enumerate(args)]


def check_kv_key(key: object, name: str = "key") -> str:
    """Check a KV key: a non-empty ``str`` of at most :data:`MAX_KEY_BYTES` UTF-8 bytes, not
    ``.`` or ``..`` (refused by KV).

    Raises:
        TypeError: not a ``str``.
        ValueError: empty, ``.``/``..``, or too long (the message gives its length).
    """
    if not isinstance(key, str):
        raise TypeError(f"{name} must be a str, not {type(key).__name__}")
    size = len(key.encode("utf-8", "surrogatepass"))
    if not key or key in (".", ".."):
        raise ValueError(f"{name} must not be empty, '.' or '..'")
    if size > MAX_KEY_BYTES:
        raise ValueError(
            f"{name} is {size} bytes in UTF-8; KV keys are at most {MAX_KEY_BYTES} bytes"
        )
    return key


def check_kv_ttl(ttl: object, name: str = "ttl") -> int:
    """Check a KV expiration TTL and return it as whole seconds (rounded up).

    Raises:
        TypeError: not a real number.
        ValueError: not finite, or below :data:`KV_MIN_TTL` seconds (KV refuses it).
    """
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(ttl).__name__}")
    if not math.isfinite(ttl) or ttl < KV_MIN_TTL:
        raise ValueError(
            f"{name} must be at least {KV_MIN_TTL} seconds (KV refuses a shorter "
            f"expirationTtl), got {ttl!r}"
        )
    return math.ceil(ttl)


def check_wait(value: object, name: str) -> float:
    """Check a bound on waiting: a finite number of seconds ``>= 0`` (0: never wait).

    Raises:
        TypeError: not a real number.
        ValueError: negative, NaN or infinite.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)
