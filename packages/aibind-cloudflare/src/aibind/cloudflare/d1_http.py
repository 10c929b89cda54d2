"""``D1HttpClient``: a D1 database as a :class:`~aibind.sqlite.client.SqliteClient` over
Cloudflare's REST API, for any Python process (a FastAPI service on a VM, a job runner).

Source: ``POST /accounts/{account_id}/d1/database/{database_id}/query`` with
``{"sql", "params"}`` for one statement or ``{"batch": [{"sql", "params"}, ...]}`` for several
run as one D1 batch; the envelope's ``result`` holds one ``{"results": [row objects], "meta"}``
per statement. SQL errors are HTTP 400 with the SQLite message (code 7500).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aibind.cloudflare._api import CloudflareApi
from aibind.cloudflare._client_base import ApiClientBase
from aibind.cloudflare._values import check_resource_id, check_sql, normalise_args
from aibind.cloudflare.errors import CloudflareApiError, translate_d1_message
from aibind.core.errors import AibindError
from aibind.sqlite.client import Row, Statement

if TYPE_CHECKING:
    import httpx

__all__ = ["D1HttpClient"]

_SQL_ERROR_CODE = 7500


class D1HttpClient(ApiClientBase):
    """A :class:`~aibind.sqlite.client.SqliteClient` on one D1 database through Cloudflare's
    REST API, so :class:`~aibind.sqlite.SqliteStreamStore` and
    :class:`~aibind.sqlite.SqliteConversationStore` run on D1 from outside a Worker::

        async with D1HttpClient(account_id, database_id) as d1:
            streams = SqliteStreamStore(d1, poll_interval=1.0)
            await streams.setup()

    ``execute`` sends one statement, ``batch`` sends all of its statements in one request as
    one D1 batch (a transaction on D1: the stream store's atomic append relies on it). Rows
    come back as ``dict`` objects keyed by column name (JSON values: ``int``, ``float``,
    ``str``, ``None``). Every statement is one HTTP request, counted against Cloudflare's
    limit of 1,200 requests per 5 minutes per token: give the stream store a
    ``poll_interval`` of a second or more for followers of streams written elsewhere.

    Args:
        account_id: the Cloudflare account id.
        database_id: the D1 database's id (a UUID; ``wrangler d1 list`` shows it).
        api_token: an API token with D1 edit permission; ``None`` reads
            ``CLOUDFLARE_API_TOKEN``.
        base_url: ``None`` reads ``CLOUDFLARE_BASE_URL``, else
            ``https://api.cloudflare.com/client/v4``.
        http_client: an ``httpx.AsyncClient`` to use (not closed by :meth:`aclose`); ``None``
            opens one with ``timeout``, closed by :meth:`aclose`.
        timeout: seconds per request (for the client it opens).
        max_retry_wait: the most seconds one call waits on HTTP 429 ``retry-after`` answers
            before raising :class:`~aibind.cloudflare.errors.CloudflareRateLimitError`
            (0: never wait).

    Raises:
        TypeError, ValueError: a bad argument, or no token.
        MissingDriverError: httpx is not installed.
    """

    def __init__(
        self,
        account_id: str,
        database_id: str,
        *,
        api_token: str | None = None,
        base_url: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
        max_retry_wait: float = 10.0,
    ) -> None:
        self.account_id = check_resource_id(account_id, "account_id")
        self.database_id = check_resource_id(database_id, "database_id")
        super().__init__(
            CloudflareApi(
                api_token=api_token,
                base_url=base_url,
                http_client=http_client,
                timeout=timeout,
                max_retry_wait=max_retry_wait,
            )
        )
        self._path = f"/accounts/{account_id}/d1/database/{database_id}/query"

    async def _query(self, body: dict[str, Any], expected: int) -> list[list[Row]]:
        api = self._api
        response = await api.send("POST", self._path, json=body)
        if response.status_code == 400:
            error = api.error(response, "POST", self._path)
            translated = _sql_error(error)
            if translated is error:
                raise error
            raise translated from error
        results = api.result(response, "POST", self._path)
        if not isinstance(results, list) or len(results) != expected:
            raise CloudflareApiError(
                f"D1 answered {len(results) if isinstance(results, list) else results!r} "
                f"results for {expected} statement(s)",
                status_code=response.status_code,
            )
        rows = []
        for item in results:
            found = item.get("results") if isinstance(item, dict) else None
            if found is None:
                found = []
            if not isinstance(found, list):
                raise CloudflareApiError(
                    f"D1 answered rows that are not a list: {found!r:.200}",
                    status_code=response.status_code,
                )
            rows.append(found)
        return rows

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """Run one statement and return its rows (``[]`` when it returns none).

        Args:
            sql: one statement with ``?`` placeholders.
            args: its values: ``None``, ``bool``, ``int`` (within ±2**53-1), finite ``float``,
                ``str`` (no ``bytes``: the REST API takes JSON).

        Raises:
            TypeError, ValueError: a value D1 cannot bind, more than 100 of them.
            SchemaError: a table or column is missing (the message says how to create them).
            D1Error, D1ConstraintError: another SQL error.
            CloudflareApiError, CloudflareAuthError, CloudflareRateLimitError: the API
                answered with an error.
            BackendUnavailableError, ConnectionLostError, BackendTimeoutError: the network
                failed.
            StoreClosedError: the client is closed.
        """
        body = {"sql": check_sql(sql), "params": normalise_args(args, blobs=False)}
        return (await self._query(body, 1))[0]

    async def batch(self, statements: Sequence[Statement]) -> list[list[Row]]:
        """Run ``statements`` in order as one D1 batch in one request (all or nothing) and
        return each one's rows; an empty sequence sends nothing and returns ``[]``.

        Raises:
            TypeError, ValueError: a value D1 cannot bind, or more than 100 of them.
            SchemaError: a table or column is missing.
            D1Error, D1ConstraintError: another SQL error (nothing was applied).
            CloudflareApiError, CloudflareAuthError, CloudflareRateLimitError: the API
                answered with an error.
            BackendUnavailableError, ConnectionLostError, BackendTimeoutError: the network
                failed.
            StoreClosedError: the client is closed.
        """
        batch = [
            {"sql": check_sql(sql), "params": normalise_args(args, blobs=False)}
            for sql, args in statements
        ]
        if not batch:
            return []
        return await self._query({"batch": batch}, len(batch))

    def __repr__(self) -> str:
        return (
            f"D1HttpClient(account_id={self.account_id!r}, database_id={self.database_id!r}, "
            f"base_url={self.base_url!r})"
        )


def _sql_error(error: CloudflareApiError) -> AibindError:
    """A 400 answer: a SQL error (code 7500, or a SQLite message) becomes the D1 error class
    its message calls for; anything else (a malformed request) stays the API error."""
    for code, message in error.errors:
        if code == _SQL_ERROR_CODE or "SQLITE_" in message:
            return translate_d1_message(message, code=code)
    return error
