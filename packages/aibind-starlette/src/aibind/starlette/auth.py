"""The ``authorize`` hook: who may start, read and stop streams, and whose conversation a request
uses.

A hook receives an :class:`AuthRequest` and either refuses by raising
``starlette.exceptions.HTTPException`` (FastAPI's ``HTTPException`` is a subclass), answered as
``{"error": detail}`` with that status (401, 403...) and headers, or returns a :class:`Grant`
(``None`` grants everything, binding nothing). Example::

    async def authorize(auth: AuthRequest) -> Grant:
        user = await current_user(auth.request)          # your session / token check
        if user is None:
            raise HTTPException(401, "sign in first")
        return Grant(owner=user.id, session_id=f"{user.id}:{auth.session_id or 'main'}")

The npm handler has no such hook (its docs wrap each route by hand); the typed methods of
:class:`~aibind.starlette.StreamHandler` still allow that, with ``owner=``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aibind.core.validation import check_id
from starlette.requests import Request

__all__ = ["Action", "AuthRequest", "Authorize", "Grant"]

Action = Literal["stream", "chat", "compact", "complete", "title", "stop", "resume"]
"""The endpoint a request is for (``POST {prefix}/stream`` is ``"stream"``, ``POST
{prefix}/stream/stop`` is ``"stop"``, ``GET {prefix}/stream/resume`` is ``"resume"``...)."""


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """What the ``authorize`` hook is asked about.

    Attributes:
        request: the Starlette request (headers, cookies, client address...). Its body has been
            read already: use the fields below rather than reading it again.
        action: the endpoint.
        session_id: the body's ``sessionId`` (``stream`` and ``compact``), if it is a string.
        stream_id: the stream the request names (``stop``, ``resume``), if any.
    """

    request: Request
    action: Action
    session_id: str | None = None
    stream_id: str | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    """What the ``authorize`` hook allows.

    Attributes:
        owner: who the caller is (a user id). Streams started by the request are bound to
            it: their id carries a 128-bit tag derived from it (still unguessable: a uuid4
            before the tag), and ``stop`` / ``resume`` of a bound stream are refused with 403
            unless the request's owner is the same. ``None``: streams started are bound to
            nobody, and bound streams are refused.
        session_id: the conversation to use, replacing the body's ``sessionId`` (``stream``
            and ``compact``), so a client cannot name another user's session. ``None`` keeps
            the body's (check ``AuthRequest.session_id`` yourself then).

    Raises:
        TypeError / ValueError: ``owner`` is not a non-empty ``str``, or ``session_id`` is not
            a valid id (a non-empty ``str`` of at most 512 printable characters).
    """

    owner: str | None = None
    session_id: str | None = None

    def __post_init__(self) -> None:
        if self.owner is not None:
            if not isinstance(self.owner, str):
                raise TypeError(f"owner must be a str or None, not {type(self.owner).__name__}")
            if not self.owner:
                raise ValueError("owner must not be empty")
        if self.session_id is not None:
            check_id(self.session_id, "session_id")


Authorize = Callable[[AuthRequest], "Grant | Awaitable[Grant | None] | None"]
"""The hook: sync or async, called before every endpoint runs (after the body is read)."""
