"""``KVConversationStore``: chat histories in Workers KV (the npm ``@aibind/cloudflare``
``KVConversationStore``), on a KV binding inside a Worker or on a
:class:`~aibind.cloudflare.KVHttpClient` outside one. A thin adapter over the kit's
:class:`~aibind.core.kit.ConversationStoreBase` (argument checks, wire format, decoding and the
lifecycle live there).

Source: the KV Worker API (``get(key)`` -> string or ``null``; ``put(key, value,
{expirationTtl})``, at least 60 s; ``delete(key)``) and its limits: keys up to 512 bytes, values
up to 25 MiB, at most one write per second to one key, last write wins, and eventual
consistency (another location may read the previous value for up to 60 s).
"""

from __future__ import annotations

from typing import Any

from aibind.cloudflare._js import is_js_proxy, js_global, require_ffi
from aibind.cloudflare._values import check_kv_key, check_kv_ttl
from aibind.cloudflare.errors import CloudflareError
from aibind.cloudflare.kv_http import KVHttpClient
from aibind.core.errors import AibindError
from aibind.core.kit import ConversationStoreBase, describe
from aibind.core.validation import check_id

__all__ = ["KVConversationStore"]


class _BindingKV:
    """The three KV calls on a Worker binding: raw (a ``JsProxy``: options need ``to_js`` with
    ``Object.fromEntries``, ``null`` comes back as ``jsnull``) or the SDK's wrapper (Python
    values both ways)."""

    def __init__(self, binding: Any) -> None:
        for method in ("get", "put", "delete"):
            if not callable(getattr(binding, method, None)):
                raise TypeError(
                    "kv must be a KV binding (self.env.KV in a Python Worker) or a "
                    f"KVHttpClient, not {type(binding).__name__}"
                )
        ffi = require_ffi("KVConversationStore")
        self.binding = binding
        self.raw = is_js_proxy(binding)
        self.ffi = ffi

    async def get(self, key: str) -> str | None:
        value = await self.binding.get(key)
        return None if value is None or value is self.ffi.jsnull else value

    async def put(self, key: str, value: str, ttl: int) -> None:
        options: Any = {"expirationTtl": ttl}
        if self.raw:
            options = self.ffi.to_js(options, dict_converter=js_global().Object.fromEntries)
        await self.binding.put(key, value, options)

    async def delete(self, key: str) -> None:
        await self.binding.delete(key)


class _HttpKV:
    def __init__(self, client: KVHttpClient) -> None:
        self.client = client

    async def get(self, key: str) -> str | None:
        return await self.client.get(key)

    async def put(self, key: str, value: str, ttl: int) -> None:
        await self.client.put(key, value, expiration_ttl=ttl)

    async def delete(self, key: str) -> None:
        await self.client.delete(key)


class KVConversationStore(ConversationStoreBase):
    """A :class:`~aibind.core.protocols.ConversationStore` in Workers KV.

    Each session is one key, ``{prefix}:{session_id}``, holding ``ChatHistory.to_json()`` (the
    npm wire format), written with ``expirationTtl = ttl``: every save restarts the TTL and KV
    deletes the key when it runs out, so there is nothing to clean up. A missing or empty value
    loads as an empty history.

    KV is eventually consistent and takes at most one write per second per key: a session read
    right after a save in another location may see the previous history for up to 60 s, and
    saving one session faster than once a second is refused (or lost, last write wins). It
    suits one conversation turn every few seconds; for strict read-after-write use
    :class:`~aibind.sqlite.SqliteConversationStore` on D1.

    Args:
        kv: a KV binding (``self.env.KV`` in a Python Worker, raw or wrapped by the ``workers``
            SDK) or a :class:`~aibind.cloudflare.KVHttpClient` (never closed by the store).
        prefix: key prefix (default ``"aibind:conv"``, the npm default).
        ttl: seconds a history lives after its last save (default 1800, the npm default); at
            least 60, KV's minimum, and rounded up to whole seconds for KV.

    Raises:
        TypeError: ``kv`` is neither, or a bad option type.
        ValueError: ``ttl`` below 60 s, or a prefix so long no key fits in 512 bytes.
    """

    def __init__(self, kv: Any, *, prefix: str = "aibind:conv", ttl: float = 1800.0) -> None:
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
        check_kv_key(f"{prefix}:x", "prefix")
        self._ttl_seconds = check_kv_ttl(ttl, "ttl")
        super().__init__(ttl=ttl)
        self.prefix = prefix
        self.kv = kv
        self._kv: _BindingKV | _HttpKV = (
            _HttpKV(kv) if isinstance(kv, KVHttpClient) else _BindingKV(kv)
        )

    def _key(self, session_id: str) -> str:
        """``{prefix}:{session_id}``.

        Raises:
            ValueError: the key is over 512 bytes in UTF-8 (KV's limit).
        """
        return check_kv_key(f"{self.prefix}:{session_id}", "session_id (with the prefix)")

    def key(self, session_id: str) -> str:
        """The KV key of ``session_id``: ``{prefix}:{session_id}``.

        Raises:
            TypeError, ValueError: a bad session id, or a key over 512 bytes in UTF-8.
        """
        return self._key(check_id(session_id, "session_id"))

    def _where(self, session_id: str) -> str:
        return f"conversation {session_id!r} in KV key {self._key(session_id)!r}"

    async def _get(self, key: str) -> str | None:
        return await self._kv.get(key)

    async def _set(self, key: str, value: str, ttl: float) -> None:
        await self._kv.put(key, value, self._ttl_seconds)

    async def _delete(self, key: str) -> None:
        await self._kv.delete(key)

    def _translate(self, exc: Exception) -> AibindError:
        """A binding's ``JsException`` (KV refused or failed) -> :class:`CloudflareError`
        naming it; anything else as the kit translates it."""
        kv = self._kv
        if isinstance(kv, _BindingKV) and isinstance(exc, kv.ffi.JsException):
            return CloudflareError(f"KV failed: {describe(exc)}")
        return super()._translate(exc)
