"""Stream ids: unguessable, and bound to an owner when the ``authorize`` hook names one.

An id is ``str(uuid4())`` (the format of npm's ``crypto.randomUUID()``), or
``<uuid4>.<tag>`` where ``tag`` is the first 128 bits (hex) of SHA-256 over the owner. Binding
needs no storage and works across worker processes: a request may use a bound stream only if
the tag of its own owner matches, and since a caller cannot choose who it is authenticated as,
knowing someone else's stream id is not enough.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid

__all__ = ["may_access", "new_stream_id", "owner_tag"]

_BOUND = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.(?P<tag>[0-9a-f]{32})"
)


def owner_tag(owner: str) -> str:
    """The 32-hex-digit tag of ``owner`` (SHA-256, domain-separated, truncated to 128 bits)."""
    digest = hashlib.sha256(b"aibind-starlette owner\x00" + owner.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


def new_stream_id(owner: str | None) -> str:
    """A new stream id: a uuid4, followed by ``.<owner tag>`` when ``owner`` is given."""
    base = str(uuid.uuid4())
    return base if owner is None else f"{base}.{owner_tag(owner)}"


def may_access(stream_id: str, owner: str | None) -> bool:
    """Whether a request acting for ``owner`` may read or stop ``stream_id``: always for an
    unbound id, only the same owner for a bound one (constant-time comparison)."""
    match = _BOUND.fullmatch(stream_id)
    if match is None:
        return True
    if owner is None:
        return False
    return hmac.compare_digest(match["tag"], owner_tag(owner))
