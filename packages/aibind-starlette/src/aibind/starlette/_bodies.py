"""Reading and validating request bodies: a size limit, JSON, and each field's shape. Every
problem is a :class:`RequestError` (answered ``{"error": message}`` with its status), never an
unhandled exception; the messages the npm handler defines are kept word for word."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, cast

from aibind.core.types import ConversationMessage
from aibind.core.validation import check_id
from starlette.requests import ClientDisconnect, Request

__all__ = [
    "MAX_AFTER",
    "RequestError",
    "message_list",
    "optional_str",
    "parse_after",
    "read_json_object",
    "required_text",
    "session_id_of",
    "stream_id_of",
]

MAX_AFTER = 2**63 - 1
"""Largest ``after`` accepted (what every store can compare a seq with)."""

_DIGITS = re.compile(r"[0-9]{1,19}")


class RequestError(Exception):
    """A request the handler refuses; becomes ``{"error": message}`` with ``status``.

    Args:
        status: the HTTP status (400, 403, 404, 413, 503...).
        message: the text of the ``error`` field.
        headers: extra response headers (e.g. ``WWW-Authenticate``).
    """

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    """Read the body (at most ``limit`` bytes) and parse it as a JSON object.

    Raises:
        RequestError: 413 if the body (or its ``Content-Length``) exceeds ``limit``; 400 if it
            is not UTF-8 JSON, is nested too deeply, or is not an object.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body is larger than {limit} bytes")
    body = bytearray()
    try:
        async for piece in request.stream():
            body += piece
            if len(body) > limit:
                raise RequestError(413, f"request body is larger than {limit} bytes")
    except ClientDisconnect:
        raise RequestError(400, "the client disconnected while sending the body") from None
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(400, f"request body must be JSON: {exc}") from None
    except RecursionError:
        raise RequestError(400, "request body must be JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise RequestError(400, "request body must be a JSON object")
    return value


def required_text(body: Mapping[str, Any], key: str) -> str:
    """The non-blank string ``body[key]`` (npm: ``"<key> is required"`` otherwise)."""
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RequestError(400, f"{key} is required")
    return value


def optional_str(body: Mapping[str, Any], key: str) -> str | None:
    """``body[key]`` if it is a string, ``None`` if absent or null; 400 for another type."""
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    raise RequestError(400, f"{key} must be a string")


def session_id_of(body: Mapping[str, Any]) -> str | None:
    """The body's ``sessionId``: ``None`` when absent, null or ``""`` (as npm ignores it); 400
    when it is not a string or not a valid id."""
    value = optional_str(body, "sessionId")
    if not value:
        return None
    try:
        return check_id(value, "sessionId")
    except ValueError as exc:
        raise RequestError(400, str(exc)) from None


def stream_id_of(value: object, missing: str) -> str:
    """A stream id from a body or query: ``missing`` (npm's message) when absent or not a
    string, 400 naming the problem when it is not a valid id."""
    if not isinstance(value, str) or not value:
        raise RequestError(400, missing)
    try:
        return check_id(value, "id")
    except ValueError as exc:
        raise RequestError(400, str(exc)) from None


def parse_after(value: str | None) -> int:
    """The ``after`` query parameter: ``0`` when absent, else a decimal integer in
    ``0..2**63-1`` (npm's ``parseInt`` accepts ``"5abc"``; a clear 400 is safer)."""
    if value is None:
        return 0
    if not _DIGITS.fullmatch(value) or int(value) > MAX_AFTER:
        raise RequestError(400, "after must be a non-negative integer")
    return int(value)


def message_list(body: Mapping[str, Any], *, allow_empty: bool) -> list[ConversationMessage]:
    """``body["messages"]``: a list of ``{"role": str, "content": str}`` objects (an
    ``attachments`` list, as the npm chat client sends, is kept). npm's message
    ``"messages is required"`` when it is missing, not a list, or empty where not allowed.

    Returns:
        fresh dicts, so the model may change them freely.
    """
    value = body.get("messages")
    if not isinstance(value, list) or (not value and not allow_empty):
        raise RequestError(400, "messages is required")
    messages: list[ConversationMessage] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise RequestError(400, f"messages[{index}] must be an object")
        role, content = item.get("role"), item.get("content")
        if not isinstance(role, str) or not role:
            raise RequestError(400, f"messages[{index}].role must be a non-empty string")
        if not isinstance(content, str):
            raise RequestError(400, f"messages[{index}].content must be a string")
        message: dict[str, Any] = {"role": role, "content": content}
        attachments = item.get("attachments")
        if attachments is not None:
            if not isinstance(attachments, list) or not all(
                isinstance(a, dict) for a in attachments
            ):
                raise RequestError(400, f"messages[{index}].attachments must be a list of objects")
            message["attachments"] = attachments
        messages.append(cast(ConversationMessage, message))
    return messages
