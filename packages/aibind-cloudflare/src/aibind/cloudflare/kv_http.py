"""``KVHttpClient``: a Workers KV namespace over Cloudflare's REST API, with the calls of a KV
binding (``get``, ``put``, ``delete``, ``list``) in Python spelling, for
:class:`~aibind.cloudflare.KVConversationStore` outside a Worker.

Source: ``GET|PUT|DELETE /accounts/{account_id}/storage/kv/namespaces/{namespace_id}/values/{key}``
(``PUT`` body = the value, ``expiration_ttl`` in seconds, at least 60, as a query parameter; a
missing key is HTTP 404) and ``GET .../keys?prefix=&cursor=`` (at most 1,000 names a page).
KV is eventually consistent: another location may read an old value for up to 60 s after a
write, and a key takes at most one write per second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from aibind.cloudflare._api import CloudflareApi
from aibind.cloudflare._client_base import ApiClientBase
from aibind.cloudflare._values import check_kv_key, check_kv_ttl, check_resource_id
from aibind.cloudflare.errors import CloudflareApiError

if TYPE_CHECKING:
    import httpx

__all__ = ["LIST_PAGE", "KVHttpClient", "KVKey"]

LIST_PAGE = 1000
"""Keys asked for per listing request (KV's maximum)."""


@dataclass(frozen=True, slots=True)
class KVKey:
    """One key of a listing.

    Attributes:
        name: the key.
        expiration: when it expires, in epoch seconds, or ``None`` if it does not.
    """

    name: str
    expiration: float | None


class KVHttpClient(ApiClientBase):
    """One KV namespace through Cloudflare's REST API.

    Args:
        account_id: the Cloudflare account id.
        namespace_id: the KV namespace id (``wrangler kv namespace list`` shows it).
        api_token: a token with Workers KV Storage edit permission; ``None`` reads
            ``CLOUDFLARE_API_TOKEN``.
        base_url: ``None`` reads ``CLOUDFLARE_BASE_URL``, else
            ``https://api.cloudflare.com/client/v4``.
        http_client: an ``httpx.AsyncClient`` to use (not closed by :meth:`aclose`; share one
            with :class:`~aibind.cloudflare.D1HttpClient`); ``None`` opens its own.
        timeout: seconds per request (for the client it opens).
        max_retry_wait: the most seconds one call waits on HTTP 429 answers (0: never).

    Raises:
        TypeError, ValueError: a bad argument, or no token.
        MissingDriverError: httpx is not installed.
    """

    def __init__(
        self,
        account_id: str,
        namespace_id: str,
        *,
        api_token: str | None = None,
        base_url: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
        max_retry_wait: float = 10.0,
    ) -> None:
        self.account_id = check_resource_id(account_id, "account_id")
        self.namespace_id = check_resource_id(namespace_id, "namespace_id")
        super().__init__(
            CloudflareApi(
                api_token=api_token,
                base_url=base_url,
                http_client=http_client,
                timeout=timeout,
                max_retry_wait=max_retry_wait,
            )
        )
        self._root = f"/accounts/{account_id}/storage/kv/namespaces/{namespace_id}"

    def _value_path(self, key: str) -> str:
        return f"{self._root}/values/{quote(check_kv_key(key), safe='')}"

    async def get(self, key: str) -> str | None:
        """The value of ``key`` as text (UTF-8; invalid bytes become U+FFFD, as a binding's
        ``get`` does), or ``None`` if the key does not exist or has expired.

        Raises:
            TypeError, ValueError: a bad key (not a str, empty, over 512 bytes).
            CloudflareApiError, CloudflareAuthError, CloudflareRateLimitError: the API
                answered with an error.
            BackendUnavailableError, ConnectionLostError, BackendTimeoutError: the network
                failed.
        """
        path = self._value_path(key)
        response = await self._api.send("GET", path)
        if response.status_code == 404:
            return None
        if not response.is_success:
            raise self._api.error(response, "GET", path)
        return response.content.decode("utf-8", "replace")

    async def put(
        self, key: str, value: str | bytes, *, expiration_ttl: float | None = None
    ) -> None:
        """Write ``value`` under ``key`` (last write wins).

        Args:
            key: at most 512 bytes in UTF-8.
            value: text (sent as UTF-8) or bytes; KV takes up to 25 MiB.
            expiration_ttl: seconds until KV deletes the key (at least 60, rounded up to whole
                seconds); ``None`` keeps it until deleted.

        Raises:
            TypeError, ValueError: a bad key, value or TTL.
            CloudflareApiError, ...: the API refused or failed.
        """
        path = self._value_path(key)
        if isinstance(value, str):
            body = value.encode("utf-8")
        elif isinstance(value, (bytes, bytearray, memoryview)):
            body = bytes(value)
        else:
            raise TypeError(f"value must be str or bytes, not {type(value).__name__}")
        params = None
        if expiration_ttl is not None:
            params = {"expiration_ttl": str(check_kv_ttl(expiration_ttl, "expiration_ttl"))}
        response = await self._api.send("PUT", path, content=body, params=params)
        self._api.result(response, "PUT", path)

    async def delete(self, key: str) -> None:
        """Delete ``key``; a no-op if it does not exist.

        Raises:
            TypeError, ValueError: a bad key.
            CloudflareApiError, ...: the API refused or failed.
        """
        path = self._value_path(key)
        response = await self._api.send("DELETE", path)
        if response.status_code == 404:
            return
        self._api.result(response, "DELETE", path)

    async def list_keys(self, prefix: str = "") -> list[KVKey]:
        """Every key starting with ``prefix`` (all pages), in KV's order (lexicographic).

        Raises:
            TypeError: ``prefix`` is not a str.
            CloudflareApiError, ...: the API refused or failed.
        """
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
        path = f"{self._root}/keys"
        found: list[KVKey] = []
        cursor = ""
        while True:
            params = {"prefix": prefix, "limit": str(LIST_PAGE)}
            if cursor:
                params["cursor"] = cursor
            response = await self._api.send("GET", path, params=params)
            envelope = self._api.envelope(response, "GET", path)
            result = envelope.get("result")
            if not isinstance(result, list):
                raise CloudflareApiError(
                    f"KV key listing is not a list: {result!r:.200}",
                    status_code=response.status_code,
                )
            for item in result:
                expiration = item.get("expiration") if isinstance(item, dict) else None
                name = item.get("name") if isinstance(item, dict) else None
                if isinstance(name, str):
                    found.append(KVKey(name, float(expiration) if expiration is not None else None))
            info = envelope.get("result_info")
            cursor = str(info.get("cursor") or "") if isinstance(info, dict) else ""
            if not cursor:
                return found

    def __repr__(self) -> str:
        return (
            f"KVHttpClient(account_id={self.account_id!r}, namespace_id={self.namespace_id!r}, "
            f"base_url={self.base_url!r})"
        )
