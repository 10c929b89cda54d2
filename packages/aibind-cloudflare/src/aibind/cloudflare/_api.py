"""The HTTP core shared by :class:`~aibind.cloudflare.D1HttpClient` and
:class:`~aibind.cloudflare.KVHttpClient`: token and base URL, one ``httpx.AsyncClient`` (the
caller's or its own), the 429 wait, and Cloudflare's response envelope.

Source: Cloudflare API v4 (``https://api.cloudflare.com/client/v4``): ``Authorization: Bearer``
tokens; JSON envelopes ``{"success", "errors": [{"code", "message"}], "messages", "result"}``;
HTTP 429 with ``retry-after`` when a token exceeds 1,200 requests per 5 minutes. The
environment variables are those the official ``cloudflare`` SDK reads.

``httpx`` is imported when a client is made, never at import time, so this package imports
where httpx is absent (inside a Python Worker).
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import os
import time
from typing import TYPE_CHECKING, Any

from aibind.cloudflare._values import check_wait
from aibind.cloudflare.errors import (
    CloudflareApiError,
    CloudflareAuthError,
    CloudflareRateLimitError,
)
from aibind.core.errors import (
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    ConnectionLostError,
    MissingDriverError,
    StoreClosedError,
)
from aibind.core.kit import describe
from aibind.core.validation import check_ttl

if TYPE_CHECKING:
    import httpx

__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "TOKEN_ENV",
    "CloudflareApi",
    "envelope_errors",
    "retry_after_seconds",
]

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
"""Cloudflare's API base URL."""
TOKEN_ENV = "CLOUDFLARE_API_TOKEN"
"""Environment variable read for the API token when none is passed."""
BASE_URL_ENV = "CLOUDFLARE_BASE_URL"
"""Environment variable read for the base URL when none is passed."""

_AUTH_CODES = frozenset({9106, 9109, 10000, 10001})
_FIRST_BACKOFF = 0.25


def _missing_httpx() -> MissingDriverError:
    return MissingDriverError(
        "the Cloudflare HTTP clients need httpx (pip install aibind-cloudflare installs it); "
        "inside a Python Worker use wrap_d1(self.env.DB) and the KV binding instead"
    )


def _transport_error(exc: Exception, httpx: Any, method: str, path: str) -> BackendError:
    """The kit's error for an httpx transport failure (the caller chains ``exc``)."""
    message = f"Cloudflare API request {method} {path} failed: {describe(exc)}"
    if isinstance(exc, httpx.TimeoutException):
        return BackendTimeoutError(message)
    if isinstance(exc, httpx.ConnectError):
        return BackendUnavailableError(message)
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.NetworkError)):
        return ConnectionLostError(message)  # sent, then the connection failed
    return BackendError(message)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse a ``retry-after`` header: seconds (``"3"``, ``"0.5"``) or an HTTP date.

    Returns:
        seconds to wait (never negative), or ``None`` if absent or unreadable.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def envelope_errors(body: object) -> list[tuple[int, str]]:
    """The ``(code, message)`` pairs of an envelope's ``errors`` (empty if none/unreadable)."""
    if not isinstance(body, dict):
        return []
    found = []
    for item in body.get("errors") or []:
        if isinstance(item, dict):
            code = item.get("code")
            found.append((code if isinstance(code, int) else 0, str(item.get("message", ""))))
    return found


class CloudflareApi:
    """One configured connection to Cloudflare's API (see the module docstring).

    Args:
        api_token: the API token; ``None`` reads ``CLOUDFLARE_API_TOKEN``.
        base_url: the API base URL; ``None`` reads ``CLOUDFLARE_BASE_URL``, else
            :data:`DEFAULT_BASE_URL`.
        http_client: an ``httpx.AsyncClient`` to use (never closed here); ``None`` opens one on
            first use, closed by :meth:`aclose`.
        timeout: seconds per request of the client it opens.
        max_retry_wait: the most seconds spent waiting on HTTP 429 answers for one call.

    Raises:
        ValueError: no token, a base URL that is not ``http(s)://``, bad numbers.
        TypeError: ``http_client`` is not an ``httpx.AsyncClient``.
        MissingDriverError: httpx is not installed (also an ImportError).
    """

    def __init__(
        self,
        *,
        api_token: str | None,
        base_url: str | None,
        http_client: httpx.AsyncClient | None,
        timeout: float,
        max_retry_wait: float,
    ) -> None:
        try:
            import httpx
        except ImportError as exc:
            raise _missing_httpx() from exc
        self._httpx = httpx
        token = api_token if api_token is not None else os.environ.get(TOKEN_ENV, "")
        if not isinstance(token, str):
            raise TypeError(f"api_token must be a str, not {type(token).__name__}")
        if not token.strip():
            raise ValueError(f"no Cloudflare API token: pass api_token= or set {TOKEN_ENV}")
        url = base_url if base_url is not None else os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        if not isinstance(url, str):
            raise TypeError(f"base_url must be a str, not {type(url).__name__}")
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"base_url must start with https:// or http://, got {url!r}")
        self.base_url = url.rstrip("/")
        self.max_retry_wait = check_wait(max_retry_wait, "max_retry_wait")
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise TypeError(
                f"http_client must be an httpx.AsyncClient, not {type(http_client).__name__}"
            )
        self._headers = {"Authorization": f"Bearer {token.strip()}"}
        self._timeout = check_ttl(timeout, "timeout")
        self._owns_client = http_client is None
        self._client: httpx.AsyncClient | None = http_client
        self._closed = False
        self._in_flight: set[asyncio.Future[httpx.Response]] = set()

    def _request_done(self, request: asyncio.Future[httpx.Response]) -> None:
        self._in_flight.discard(request)
        if not request.cancelled():
            request.exception()  # retrieved: a cancelled caller's outcome concerns nobody

    @property
    def http_client(self) -> httpx.AsyncClient:
        """The ``httpx.AsyncClient`` in use: the caller's, or one opened now on first use."""
        if self._client is None:
            if self._closed:
                raise StoreClosedError("the Cloudflare API client is closed")
            self._client = self._httpx.AsyncClient(timeout=self._timeout)
        return self._client

    async def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request to ``base_url + path``; on HTTP 429 wait as ``retry-after`` says
        (else 0.25 s, doubling) and resend, while the total wait stays within
        ``max_retry_wait``. Other statuses are returned for the caller to read.

        A caller cancelled while its request is in flight gets ``CancelledError`` at once; the
        request itself is not interrupted (httpx can lose a pool slot to a request cancelled
        mid-way, encode/httpcore#1093) and completes in the background, so a write may still
        be applied; :meth:`aclose` waits for it.

        Raises:
            CloudflareRateLimitError: still 429 once the next wait would exceed the bound.
            BackendUnavailableError: the API cannot be reached (nothing was sent).
            ConnectionLostError, BackendTimeoutError: the connection failed or timed out after
                the request was sent (no retry: a write may have been applied).
            StoreClosedError: this client, or the caller's ``httpx.AsyncClient``, is closed.
        """
        httpx = self._httpx
        waited = 0.0
        backoff = _FIRST_BACKOFF
        while True:
            if self._closed or self.http_client.is_closed:
                raise StoreClosedError("the Cloudflare API client is closed")
            request = asyncio.ensure_future(
                self.http_client.request(
                    method,
                    self.base_url + path,
                    json=json,
                    content=content,
                    params=params,
                    headers=self._headers,
                )
            )
            self._in_flight.add(request)
            request.add_done_callback(self._request_done)
            try:
                # A cancelled caller leaves at once and its request finishes on its own: a
                # request cancelled inside httpx can leak a connection slot for good
                # (encode/httpcore#1093: enough of them and every call is a PoolTimeout), and
                # before Python 3.12 anyio's timeouts lose a cancellation that lands as the
                # response arrives (the caller would run on). The shield is a plain future.
                response = await asyncio.shield(request)
            except httpx.HTTPError as exc:
                raise _transport_error(exc, httpx, method, path) from exc
            if response.status_code != 429:
                return response
            asked = retry_after_seconds(response.headers.get("retry-after"))
            delay = asked if asked is not None else backoff
            if waited + delay > self.max_retry_wait:
                body = _json_or_none(response)
                raise CloudflareRateLimitError(
                    f"Cloudflare API rate limit (HTTP 429) on {method} {path}: waited "
                    f"{waited:g} s, the API asks for {delay:g} s more, over max_retry_wait="
                    f"{self.max_retry_wait:g} s",
                    errors=envelope_errors(body),
                    retry_after=asked,
                )
            await asyncio.sleep(delay)
            waited += delay
            backoff *= 2

    def error(self, response: httpx.Response, method: str, path: str) -> CloudflareApiError:
        """The error for a non-success answer (the caller raises it)."""
        body = _json_or_none(response)
        errors = envelope_errors(body)
        detail = "; ".join(f"[{code}] {message}" for code, message in errors)
        if not detail:
            detail = response.text[:300] if body is None else "no error details"
        message = f"Cloudflare API error (HTTP {response.status_code}) on {method} {path}: {detail}"
        status = response.status_code
        if status in (401, 403) or any(code in _AUTH_CODES for code, _ in errors):
            return CloudflareAuthError(
                f"{message} (check api_token / {TOKEN_ENV} and its permissions)",
                status_code=status,
                errors=errors,
            )
        return CloudflareApiError(message, status_code=status, errors=errors)

    def envelope(self, response: httpx.Response, method: str, path: str) -> dict[str, Any]:
        """The whole envelope of a successful answer (``result``, ``result_info``, ...).

        Raises:
            CloudflareApiError: an error status, ``success: false``, or not an envelope.
        """
        body = _json_or_none(response)
        if response.is_success and isinstance(body, dict) and body.get("success") is True:
            return body
        if response.is_success:
            raise CloudflareApiError(
                f"Cloudflare API answered {method} {path} with HTTP {response.status_code} but "
                f"no successful envelope: {response.text[:300]!r}",
                status_code=response.status_code,
                errors=envelope_errors(body),
            )
        raise self.error(response, method, path)

    def result(self, response: httpx.Response, method: str, path: str) -> Any:
        """The ``result`` of a successful envelope (raises as :meth:`envelope`)."""
        return self.envelope(response, method, path).get("result")

    async def aclose(self) -> None:
        """Wait for the requests still in flight (those of cancelled callers included; at
        most ``timeout`` seconds, then they are cancelled), then close the ``httpx.AsyncClient``
        if this object opened it (a caller's client stays open). Idempotent; later requests
        raise :class:`StoreClosedError`."""
        if self._closed:
            return
        self._closed = True
        if self._in_flight:
            pending = set(self._in_flight)
            _, late = await asyncio.wait(pending, timeout=self._timeout)
            for request in late:
                request.cancel()
            if late:
                await asyncio.wait(late)
        if self._owns_client and self._client is not None:
            await self._client.aclose()


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
