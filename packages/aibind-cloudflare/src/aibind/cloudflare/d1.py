"""``wrap_d1``: a D1 binding inside a Python Worker as a
:class:`~aibind.sqlite.client.SqliteClient` (the npm ``@aibind/cloudflare`` ``wrapD1``).

Source: the D1 Worker API (``env.DB.prepare(sql).bind(...values).all()`` ->
``{results: [row objects], success, meta}``; ``env.DB.batch([statements])`` runs them as one
transaction that rolls back as a whole) and the Python Workers SDK (``workers``), whose
``_BindingWrapper`` converts arguments (``None`` -> JS ``null``) and results (``to_py``, JS
``null`` -> ``None``) itself. Conversion facts are in :mod:`aibind.cloudflare._js`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aibind.cloudflare._js import plain, require_ffi
from aibind.cloudflare._values import check_sql, normalise_args
from aibind.cloudflare.errors import translate_d1_message
from aibind.sqlite.client import Row, Statement

__all__ = ["D1BindingClient", "wrap_d1"]


class D1BindingClient:
    """A :class:`~aibind.sqlite.client.SqliteClient` over a D1 binding; build it with
    :func:`wrap_d1`.

    Attributes:
        binding: the binding it wraps (never closed: it belongs to the Worker's runtime).
        raw: ``True`` for a raw JS binding, ``False`` for the SDK's wrapped binding (or any
            object that takes and returns Python values the same way).
    """

    def __init__(self, binding: Any) -> None:
        ffi = require_ffi("wrap_d1")
        if not callable(getattr(binding, "prepare", None)) or not callable(
            getattr(binding, "batch", None)
        ):
            raise TypeError(
                "binding must be a D1 binding (self.env.DB in a Python Worker), not "
                f"{type(binding).__name__}"
            )
        self.binding = binding
        self.raw = isinstance(binding, ffi.JsProxy)
        self._ffi = ffi
        self._jsnull = ffi.jsnull
        self._js_exception: type[BaseException] = ffi.JsException

    def _value(self, value: Any) -> Any:
        if value is None:
            # the SDK's wrapper turns None into null itself; a raw call would send undefined
            return self._jsnull if self.raw else None
        if isinstance(value, int):
            # a number, never a BigInt (which D1 refuses); exact within the checked range
            return float(value)
        if isinstance(value, bytes):
            return self._ffi.to_js(value) if self.raw else value  # a Uint8Array: a BLOB
        return value

    def _prepare(self, sql: str, args: Sequence[Any]) -> Any:
        values = [self._value(v) for v in normalise_args(args, blobs=True)]
        stmt = self.binding.prepare(check_sql(sql))
        return stmt.bind(*values) if values else stmt

    def _rows(self, result: Any) -> list[Row]:
        found = getattr(result, "results", None)
        if found is None or found is self._jsnull:
            return []
        if isinstance(found, self._ffi.JsProxy):
            found = found.to_py()
        jsnull = self._jsnull
        return [{str(k): plain(v, jsnull) for k, v in row.items()} for row in found]

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """``binding.prepare(sql).bind(*args).all()``; returns the rows as ``dict`` objects.

        Args:
            sql: one statement with ``?`` placeholders.
            args: ``None`` (sent as JS ``null``), ``bool``/``int`` (within ±2**53-1, sent as
                numbers; D1 binds them as REAL and an INTEGER column stores them back as
                integers), finite ``float``, ``str``, ``bytes`` (a BLOB).

        Raises:
            TypeError, ValueError: a value D1 cannot bind, or more than 100 of them.
            SchemaError: a table or column is missing (the message says how to create them).
            D1ConstraintError, D1Error: another error D1 reported; the ``JsException`` is
                chained.
        """
        try:
            return self._rows(await self._prepare(sql, args).all())
        except self._js_exception as exc:
            raise translate_d1_message(str(exc)) from exc

    async def batch(self, statements: Sequence[Statement]) -> list[list[Row]]:
        """``binding.batch([...])``: ``statements`` in order as ONE D1 transaction (all or
        nothing); returns each one's rows. An empty sequence sends nothing and returns ``[]``
        (D1 refuses an empty batch).

        Raises:
            TypeError, ValueError: a value D1 cannot bind, or more than 100 of them.
            SchemaError: a table or column is missing.
            D1ConstraintError, D1Error: another error D1 reported (nothing was applied).
        """
        try:
            prepared = [self._prepare(sql, args) for sql, args in statements]
            if not prepared:
                return []
            # a raw binding needs a JS array (a Python list is not converted implicitly)
            results = await self.binding.batch(self._ffi.to_js(prepared) if self.raw else prepared)
            return [self._rows(result) for result in results]
        except self._js_exception as exc:
            raise translate_d1_message(str(exc)) from exc

    async def aclose(self) -> None:
        """Nothing to release: the binding belongs to the Worker's runtime."""

    def __repr__(self) -> str:
        return f"D1BindingClient({'raw' if self.raw else 'SDK-wrapped'} binding)"


def wrap_d1(binding: Any) -> D1BindingClient:
    """Wrap a D1 binding (``self.env.DB`` in a Python Worker) as a
    :class:`~aibind.sqlite.client.SqliteClient` for
    :class:`~aibind.sqlite.SqliteStreamStore` and :class:`~aibind.sqlite.SqliteConversationStore`::

        from aibind.cloudflare import wrap_d1
        from aibind.sqlite import SqliteStreamStore

        streams = SqliteStreamStore(wrap_d1(self.env.DB), poll_interval=0.25)

    Both a raw binding (a ``pyodide.ffi.JsProxy``) and the ``workers`` SDK's wrapped binding
    (what ``self.env.DB`` is in a ``WorkerEntrypoint``) are accepted; a
    :class:`D1BindingClient` is returned as it is.

    Raises:
        TypeError: not a D1 binding, or not running in Pyodide 0.28+ (outside a Worker use
            :class:`~aibind.cloudflare.D1HttpClient`).
    """
    if isinstance(binding, D1BindingClient):
        return binding
    return D1BindingClient(binding)
