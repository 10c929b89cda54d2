"""A minimal RESP2 connection for the pub/sub subscriber.

The subscriber needs one long-lived connection that only sends ``(S)SUBSCRIBE`` /
``(S)UNSUBSCRIBE`` and reads pushed messages, with no read timeout and reconnects under our
control. Driver pub/sub objects differ across redis-py 5-8 and valkey (sharded pub/sub and
cluster pub/sub are missing from some), so this small connection speaks the protocol itself;
where to connect and how to authenticate come from the application's client
(:func:`endpoint_of`).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any

__all__ = ["Endpoint", "RespConnection", "endpoint_of"]

Reply = bytes | int | list[Any] | None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to open a subscriber connection.

    Attributes:
        host, port: TCP address (ignored when ``path`` is set).
        path: a unix socket path, or ``None``.
        username, password: ``AUTH`` credentials, or ``None``.
        ssl_context: TLS settings for ``rediss://``, or ``None``.
        connect_timeout: seconds to wait for the connection and handshake.
        client_name: sent with ``CLIENT SETNAME`` (from the client's ``client_name``).
    """

    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None
    username: str | None = None
    password: str | None = None
    ssl_context: ssl.SSLContext | None = None
    connect_timeout: float = 10.0
    client_name: str | None = None


def _ssl_context(kwargs: dict[str, Any]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=kwargs.get("ssl_ca_certs"))
    reqs = kwargs.get("ssl_cert_reqs", "required")
    if reqs in (None, "none", ssl.CERT_NONE):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.check_hostname = bool(kwargs.get("ssl_check_hostname", True))
    if kwargs.get("ssl_certfile"):
        ctx.load_cert_chain(kwargs["ssl_certfile"], kwargs.get("ssl_keyfile"))
    return ctx


def endpoint_of(connection_kwargs: dict[str, Any], connection_class: type | None) -> Endpoint:
    """Derive an :class:`Endpoint` from a redis-py/valkey connection pool's (or cluster node's)
    ``connection_kwargs`` and ``connection_class``.

    Credentials come from ``username``/``password`` or a ``credential_provider``'s
    ``get_credentials()``; TLS from the ``ssl_*`` options when the class is an SSL connection.
    """
    username = connection_kwargs.get("username")
    password = connection_kwargs.get("password")
    provider = connection_kwargs.get("credential_provider")
    if provider is not None:
        creds = provider.get_credentials()
        username, password = (None, creds[0]) if len(creds) == 1 else (creds[0], creds[1])
    is_ssl = connection_class is not None and "SSL" in connection_class.__name__
    timeout = connection_kwargs.get("socket_connect_timeout") or 10.0
    return Endpoint(
        host=str(connection_kwargs.get("host", "127.0.0.1")),
        port=int(connection_kwargs.get("port", 6379)),
        path=connection_kwargs.get("path"),
        username=username,
        password=password,
        ssl_context=_ssl_context(connection_kwargs) if is_ssl else None,
        connect_timeout=float(timeout),
        client_name=connection_kwargs.get("client_name"),
    )


def _encode(*args: str) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class RespError(Exception):
    """An error reply (``-ERR ...``) from the server."""


class RespConnection:
    """One RESP2 connection: :meth:`send` commands, :meth:`read` replies and pushed messages.

    Use :meth:`open`; raises :class:`OSError`/:class:`ConnectionError` when the server is
    unreachable or closes the connection, :class:`RespError` for an error reply.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, endpoint: Endpoint) -> RespConnection:
        """Connect to ``endpoint``, authenticate (``AUTH``) if it has credentials and name the
        connection (``CLIENT SETNAME``) if it has a name."""

        async def connect() -> RespConnection:
            if endpoint.path is not None:
                r, w = await asyncio.open_unix_connection(endpoint.path, ssl=endpoint.ssl_context)
            else:
                r, w = await asyncio.open_connection(
                    endpoint.host, endpoint.port, ssl=endpoint.ssl_context
                )
            conn = cls(r, w)
            if endpoint.password is not None:
                auth = [endpoint.username] if endpoint.username else []
                await conn.send("AUTH", *auth, endpoint.password)
                reply = await conn.read()
                if isinstance(reply, RespError):
                    conn.close()
                    raise reply
            if endpoint.client_name:
                await conn.send("CLIENT", "SETNAME", endpoint.client_name)
                await conn.read()
            return conn

        return await asyncio.wait_for(connect(), endpoint.connect_timeout)

    async def send(self, *args: str) -> None:
        """Write one command."""
        self._writer.write(_encode(*args))
        await self._writer.drain()

    async def _line(self) -> bytes:
        line = await self._reader.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("connection closed by the server")
        return line[:-2]

    async def read(self) -> Reply | RespError:
        """Read one reply or pushed message (no timeout): bulk strings as ``bytes``, integers,
        arrays as lists, ``None`` for nulls; an error reply is returned as :class:`RespError`."""
        line = await self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = await self._reader.readexactly(size + 2)
            return data[:-2]
        if kind == b"*":
            size = int(rest)
            if size < 0:
                return None
            return [await self.read() for _ in range(size)]
        raise ConnectionError(f"unexpected RESP reply: {line[:40]!r}")

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._writer.close()
