"""Pyodide helpers for the Worker bindings, looked up when used (``pyodide`` exists only inside
a Python Worker or another Pyodide runtime, so nothing here is imported at module import).

Facts this relies on (Pyodide 0.28+, seen in 0.29.3 and 314.0.7 on local workerd): a Python
``None`` passed to a JS function arrives as ``undefined`` (D1 refuses it), so ``pyodide.ffi.jsnull``
is passed instead; JS ``null`` comes back as ``jsnull``; a Python ``int`` from 2**53-1 up is sent
as a ``BigInt`` (D1 refuses it), a ``float`` always as a number; a Python ``list`` or ``dict``
is not converted implicitly (``to_js`` does it, ``Object.fromEntries`` for plain objects).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["ffi", "is_js_proxy", "js_global", "plain", "require_ffi"]


def ffi() -> ModuleType | None:
    """``pyodide.ffi``, or ``None`` outside Pyodide."""
    try:
        return importlib.import_module("pyodide.ffi")
    except ImportError:
        return None


def require_ffi(what: str) -> ModuleType:
    """``pyodide.ffi`` with ``jsnull`` (Pyodide 0.28+).

    Raises:
        TypeError: not running in Pyodide, or a Pyodide older than 0.28 (the message says what
            to use instead).
    """
    module = ffi()
    if module is None:
        raise TypeError(
            f"{what} takes a Worker binding, which exists only inside a Python Worker "
            "(Pyodide); from any other Python process use D1HttpClient / KVHttpClient"
        )
    if not hasattr(module, "jsnull"):
        raise TypeError(f"{what} needs Pyodide 0.28 or later (pyodide.ffi.jsnull)")
    return module


def js_global() -> ModuleType:
    """The ``js`` module (JavaScript's global scope); exists wherever ``pyodide.ffi`` does."""
    return importlib.import_module("js")


def is_js_proxy(obj: object) -> bool:
    """Whether ``obj`` is a raw JavaScript object (``pyodide.ffi.JsProxy``)."""
    module = ffi()
    return module is not None and isinstance(obj, module.JsProxy)


def plain(value: Any, jsnull: Any) -> Any:
    """One value of a converted D1 row as a plain Python value: ``jsnull`` -> ``None``; a BLOB
    (D1 returns it as an array of byte values, or a buffer) -> ``bytes``; anything else as is."""
    if value is None or value is jsnull:
        return None
    if isinstance(value, (int, float, str)):
        return value
    if isinstance(value, (list, tuple, bytearray, memoryview)):
        return bytes(value)
    to_py = getattr(value, "to_py", None)
    if callable(to_py):  # an ArrayBuffer / typed array left as a JsProxy
        return plain(to_py(), jsnull)
    return value
