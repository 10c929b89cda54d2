"""JSON text exactly as JavaScript writes it, so Python and Node services share stored data
byte for byte.

``JSON.stringify`` and :func:`json.dumps` agree on almost everything once ``json.dumps`` is told
``separators=(",", ":")`` and ``ensure_ascii=False``. They differ in three places, all handled
here:

* numbers: JavaScript has one number type, so ``1.0`` is written ``1``, ``1e16`` is written
  ``10000000000000000`` and ``1e-7`` is written ``1e-7`` (Python: ``1.0``, ``1e+16``,
  ``1e-07``). Integral floats below ``1e21`` become ``int`` when a value enters a tree
  (:func:`copy_json_value`) or is parsed (:func:`loads`); the few floats Python would still
  spell differently (magnitudes below ``1e-4``) are formatted by :func:`format_js_number`;
* lone surrogates: ``JSON.stringify`` escapes them (``"\\ud800"``), Python would write them raw
  (which is not even valid UTF-8);
* ``NaN`` and the infinities: JavaScript writes ``null``; we refuse them on the way in
  (:func:`copy_json_value` raises :class:`ValueError`, :func:`loads` rejects the literals).

Integers are kept exact (JavaScript would round those beyond 2**53 to the nearest double; a
Node reader still parses what we write).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeAlias

__all__ = ["JsonValue", "copy_json_value", "dumps", "dumps_many", "format_js_number", "loads"]

JsonValue: TypeAlias = "dict[str, JsonValue] | list[JsonValue] | str | int | float | bool | None"
"""A value JSON can hold: objects (``str`` keys), arrays, strings, numbers, booleans, null."""

_INT_LIMIT = 1e21
"""Integral floats below this magnitude are written as plain digits by JavaScript."""

_SURROGATE = re.compile("[\ud800-\udfff]")
# A float Python wrote with a negative exponent (only magnitudes below 1e-4; Python pads the
# exponent to two digits, JavaScript does not). A match inside a string only costs the slow
# path, which is always right.
_PY_TINY_FLOAT = re.compile(r"e-\d\d+(?:[,}\]]|$)")

_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
)
"""The one configuration of the fast path: ``_encode_fast`` and ``_encode_chunks`` use it."""
_encode_fast: Callable[[Any], str] = _ENCODER.encode
_encode_str: Callable[[str], str] = json.encoder.encode_basestring


def format_js_number(value: float) -> str:
    """Format a finite float as JavaScript's ``Number.prototype.toString`` does (ECMA-262
    ``Number::toString``): plain digits for magnitudes in ``[1e-6, 1e21)``, exponent form
    ``1.5e-7`` / ``1e+21`` outside, ``0`` for both zeros.

    Args:
        value: a finite float.

    Returns:
        the JavaScript spelling, e.g. ``"1e-7"``, ``"0.00001"``, ``"100000000000000000000"``.

    Raises:
        ValueError: ``value`` is NaN or infinite.
    """
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a JSON number")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # Python's repr and JavaScript both pick the shortest digit string that round-trips.
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = int_part + frac_part
    point = len(int_part) + int(exp_text or "0")  # value = 0.<digits> * 10**point
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= point <= 21:
        text = digits + "0" * (point - k)
    elif 0 < point <= 21:
        text = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        text = "0." + "0" * -point + digits
    else:
        exponent = point - 1
        text = digits[0] + ("." + digits[1:] if k > 1 else "") + "e"
        text += ("+" if exponent >= 0 else "-") + str(abs(exponent))
    return sign + text


def _has_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")  # fails on surrogates only; faster than a regex search
    except UnicodeEncodeError:
        return True
    return False


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _encode_slow(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_SURROGATE.sub(_escape_surrogate, _encode_str(value)))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(format_js_number(value))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            _encode_slow(key, out)
            out.append(":")
            _encode_slow(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode_slow(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not a JSON value")


def dumps(value: Any) -> str:
    """Serialise ``value`` exactly as JavaScript's ``JSON.stringify(value)`` would (no spaces,
    non-ASCII characters raw, lone surrogates escaped, numbers spelled the JavaScript way).

    Args:
        value: a JSON value (dicts with ``str`` keys, lists, str, int, finite float, bool,
            None); tuples are written as arrays. Integral floats must already be ``int`` (as
            :func:`copy_json_value` and :func:`loads` leave them): a float ``1.0`` is written
            ``1.0`` where JavaScript, which has no such float, writes ``1``.

    Returns:
        the JSON text.

    Raises:
        TypeError: ``value`` holds something that is not a JSON value.
        ValueError: it holds NaN or an infinity, or is nested too deeply (Python's recursion
            limit, about a thousand levels).
    """
    try:
        text = _encode_fast(value)
        if _PY_TINY_FLOAT.search(text) is None and not _has_surrogate(text):
            return text
        out: list[str] = []
        _encode_slow(value, out)
    except RecursionError:
        raise ValueError("the value is nested too deeply to write as JSON") from None
    return "".join(out)


_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
# The C encoder behind _encode_fast, made once from _ENCODER's settings, as
# JSONEncoder.iterencode makes it (which it does on every call).
_encode_chunks: Callable[[Any, int], Any] | None = (
    None
    if _c_make_encoder is None
    else _c_make_encoder(
        None,  # no circular-reference markers (check_circular=False)
        _ENCODER.default,
        _encode_str,  # what ensure_ascii=False selects
        _ENCODER.indent,
        _ENCODER.key_separator,
        _ENCODER.item_separator,
        _ENCODER.sort_keys,
        _ENCODER.skipkeys,
        _ENCODER.allow_nan,
    )
)


def dumps_many(values: Iterable[Any]) -> list[str]:
    """Return ``[dumps(value) for value in values]``, faster for many small values (the encoder
    is made once and the text checked once for what Python spells unlike JavaScript).

    Raises:
        TypeError, ValueError: as :func:`dumps`.
    """
    values = list(values)
    encode = _encode_chunks
    if encode is None:  # no C accelerator (another Python implementation)
        return [dumps(value) for value in values]
    try:
        texts = ["".join(encode(value, 0)) for value in values]
    except RecursionError:
        raise ValueError("the value is nested too deeply to write as JSON") from None
    whole = ",".join(texts)
    if _PY_TINY_FLOAT.search(whole) is None and not _has_surrogate(whole):
        return texts
    return [dumps(value) for value in values]


def _parse_float(text: str) -> float | int:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text} is out of range")
    if number.is_integer() and abs(number) < _INT_LIMIT:
        return int(number)
    return number


def _reject_constant(text: str) -> Any:
    raise ValueError(f"{text} is not valid JSON")


_decode: Callable[[str], Any] = json.JSONDecoder(
    parse_float=_parse_float, parse_constant=_reject_constant
).decode  # made once: json.loads with options builds a decoder and scanner per call


def loads(text: str | bytes | bytearray) -> Any:
    """Parse JSON text as JavaScript's ``JSON.parse`` would: ``NaN``/``Infinity`` are
    refused, and a number JavaScript would hold as an integer (``1.0``, ``1e3``) becomes an
    ``int``, so :func:`dumps` writes it back as JavaScript does.

    Args:
        text: the JSON text (``bytes`` are decoded as UTF-8).

    Returns:
        the parsed value.

    Raises:
        ValueError: the text is not valid JSON (:class:`json.JSONDecodeError`), not UTF-8
            (:class:`UnicodeDecodeError`), or nested too deeply to parse (arrays or objects
            about a thousand levels deep, Python's recursion limit).
    """
    try:
        if type(text) is str:
            return _decode(text)
        return json.loads(text, parse_float=_parse_float, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply to parse") from None


def copy_json_value(value: object, where: str) -> JsonValue:
    """Return a deep copy of ``value`` checked to be a JSON value, with integral floats below
    ``1e21`` turned into ``int`` (JavaScript makes no difference) and ``str``/``int``
    subclasses (enums) turned into the plain types.

    Args:
        value: the value to copy.
        where: how to name ``value`` in an error message, e.g. ``"message"``.

    Returns:
        the copy.

    Raises:
        TypeError: ``value`` holds something JSON cannot (tuples, sets, bytes, objects, dict
            keys that are not ``str``); the message gives its path, e.g. ``message['a'][0]``.
        ValueError: it holds NaN or an infinity, or is nested too deeply (Python's recursion
            limit).
    """
    try:
        return _copy(value, where)
    except RecursionError:
        raise ValueError(f"{where} is nested too deeply for JSON") from None


def _copy(value: object, where: str) -> JsonValue:
    if isinstance(value, str):
        return str(value)
    if value is None or value is True or value is False:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value!r}, which JSON cannot hold")
        if value.is_integer() and abs(value) < _INT_LIMIT:
            return int(value)
        return float(value)
    if isinstance(value, dict):
        copied: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"{where} has a {type(key).__name__} key {key!r}; JSON object keys are str"
                )
            copied[str(key)] = _copy(item, f"{where}[{key!r}]")
        return copied
    if isinstance(value, list):
        return [_copy(item, f"{where}[{index}]") for index, item in enumerate(value)]
    raise TypeError(
        f"{where} must be a JSON value (dict, list, str, int, float, bool or None), "
        f"not {type(value).__name__}"
    )
