"""``KVConversationStore``: chat histories in Workers KV (the npm ``@aibind/cloudflare``
``KVConversationStore``), on a KV binding inside a Worker or on a
:class:`~aibind.cloudflare.KVHttpClient` outside one.

Source: the KV Worker API (``get(key)`` -> string or ``null``; ``put(key, value,
{expirationTtl})``, at least 60 s; ``delete(key)``) and its limits: keys up to 512 bytes, values
up to 25 MiB, at most one write per second to one key, last write wins, and eventual
consistency (another location may read the previous value for up to 60 s).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from aibind.cloudflare._js import is_js_proxy, js_global, require_ffi
from aibind.cloudflare._values import check_kv_key, check_kv_ttl
from aibind.cloudflare.errors import CloudflareError
from aibind.cloudflare.kv_http import KVHttpClient
from aibind.core.chat_history import ChatHistory
from aibind.core.errors import CorruptDataError, StoreClosedError
from aibind.core.types import ConversationMessage
from aibind.core.validation import check_chat, check_id

__all__ = ["KVConversationStore"]


class _BindingKV:
    """The three KV calls on a Worker binding: raw (``JsProxy``: options need ``to_js`` with
    ``Object.fromEntries``, ``null`` is ``jsnull``) or the SDK's wrapper (Python values)."""

    def __init__(self, binding: Any) -> None:
        for method in ("get", "put", "delete"):
            if not callable(getattr(binding, method, None)):
                raise TypeError(
                    "kv must be a KV binding (self.env.KV in a Python Worker) or a "
                    f"KVHttpClient, not {type(binding).__name__}"
                )
        ffi = require_ffi("KVConversationStore")
        self.binding = binding
        self._raw = is_js_proxy(binding)
        self._ffi = ffi
        self._error: type[BaseException] = ffi.JsException

    async def get(self, key: str) -> str | None:
        try:
            value = await self.binding.get(key)
        except self._error as exc:
            raise CloudflareError(f"KV get of {key!r} failed: {exc}") from exc
        if value is None or value is self._ffi.jsnull:
            return None
        if not isinstance(value, str):
            raise CorruptDataError(f"KV key {key!r} holds {type(value).__name__}, not text")
        return value

    async def put(self, key: str, value: str, ttl: int) -> None:
        options: Any = {"expirationTtl": ttl}
        if self._raw:
            options = self._ffi.to_js(options, dict_converter=js_global().Object.fromEntries)
        try:
            await self.binding.put(key, value, options)
        except self._error as exc:
            raise CloudflareError(f"KV put of {key!r} failed: {exc}") from exc

    async def delete(self, key: str) -> None:
        try:
            await self.binding.delete(key)
        except self._error as exc:
            raise CloudflareError(f"KV delete of {key!r} failed: {exc}") from exc


class _HttpKV:
    def __init__(self, client: KVHttpClient) -> None:
        self.client = client

    async def get(self, key: str) -> str | None:
        return await self.client.get(key)

    async def put(self, key: str, value: str, ttl: int) -> None:
        await self.client.put(key, value, expiration_ttl=ttl)

    async def delete(self, key: str) -> None:
        await self.client.delete(key)


class KVConversationStore:
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
            least 60, KV's minimum.

    Raises:
        TypeError: ``kv`` is neither, or a bad option type.
        ValueError: ``ttl`` below 60 s, or a prefix so long no key would fit in 512 bytes.
    """

    def __init__(self, kv: Any, *, prefix: str = "aibind:conv", ttl: float = 1800.0) -> None:
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
        check_kv_key(f"{prefix}:x", "prefix")
        self.prefix = prefix
        self._ttl_seconds = check_kv_ttl(ttl, "ttl")
        self.ttl = float(ttl)
        self._kv: _BindingKV | _HttpKV = (
            _HttpKV(kv) if isinstance(kv, KVHttpClient) else _BindingKV(kv)
        )
        self.kv = kv
        self._closed = False

    def key(self, session_id: str) -> str:
        """The KV key of ``session_id``: ``{prefix}:{session_id}``.

        Raises:
            TypeError, ValueError: a bad session id, or a key over 512 bytes in UTF-8.
        """
        check_id(session_id, "session_id")
        return check_kv_key(f"{self.prefix}:{session_id}", "session_id (with the prefix)")

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("KVConversationStore is closed")

    async def load(self, session_id: str) -> ChatHistory[ConversationMessage]:
        """Return the session's history, or an empty one if the key is missing, expired or
        empty.

        Raises:
            CorruptDataError: the stored JSON is invalid (the key is left untouched).
            CloudflareError: KV failed (through a binding; over HTTP the
                :class:`~aibind.cloudflare.KVHttpClient` errors).
        """
        key = self.key(session_id)
        self._check_open()
        value = await self._kv.get(key)
        if not value:
            return ChatHistory()
        try:
            return ChatHistory.from_json(value)
        except CorruptDataError as exc:
            raise CorruptDataError(f"conversation {session_id!r} in KV key {key!r}: {exc}") from exc

    async def save(self, session_id: str, chat: ChatHistory[ConversationMessage]) -> None:
        """Store ``chat`` under the session's key with ``expirationTtl = ttl``.

        Raises:
            TypeError: ``chat`` is not a :class:`~aibind.core.chat_history.ChatHistory`.
            CloudflareError: KV refused or failed (e.g. more than one write per second to the
                key, or a value over 25 MiB).
        """
        key = self.key(session_id)
        check_chat(chat)
        self._check_open()
        await self._kv.put(key, chat.to_json(), self._ttl_seconds)

    async def delete(self, session_id: str) -> None:
        """Delete the session's history; a no-op if absent."""
        key = self.key(session_id)
        self._check_open()
        await self._kv.delete(key)

    async def aclose(self) -> None:
        """Close the store (the KV binding or client stays open). Idempotent; later calls raise
        :class:`~aibind.core.errors.StoreClosedError`."""
        self._closed = True

    async def __aenter__(self) -> KVConversationStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
