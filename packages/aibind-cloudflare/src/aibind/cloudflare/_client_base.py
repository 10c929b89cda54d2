"""``ApiClientBase``: what :class:`~aibind.cloudflare.D1HttpClient` and
:class:`~aibind.cloudflare.KVHttpClient` share around their :class:`CloudflareApi` — the
``base_url``/``http_client`` properties and the close / async-context-manager lifecycle."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from aibind.cloudflare._api import CloudflareApi

if TYPE_CHECKING:
    import httpx

__all__ = ["ApiClientBase"]

_C = TypeVar("_C", bound="ApiClientBase")


class ApiClientBase:
    """Base of the REST clients: holds one :class:`CloudflareApi` (built by each client from
    the options it documents) and closes it with :meth:`aclose`.

    Args:
        api: the client's :class:`CloudflareApi`.
    """

    def __init__(self, api: CloudflareApi) -> None:
        self._api = api

    @property
    def base_url(self) -> str:
        """The API base URL in use."""
        return self._api.base_url

    @property
    def http_client(self) -> httpx.AsyncClient:
        """The ``httpx.AsyncClient`` in use (share it between a D1 and a KV client)."""
        return self._api.http_client

    async def aclose(self) -> None:
        """Close the ``httpx.AsyncClient`` if this client opened it. Idempotent."""
        await self._api.aclose()

    async def __aenter__(self: _C) -> _C:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
