"""Sending a write to Redis exactly once: no driver retry may re-send it.

redis-py (6+) retries a command whose connection failed or timed out after it was sent
(``Retry`` on every connection, 10 attempts by default), and ``RedisCluster.execute_command``
retries a command on ``ConnectionError``/``TimeoutError`` after re-initialising its slot map.
For an idempotent read that is harmless; for a write script it applies the write twice when
the first attempt did reach the server: an ``append`` stored twice and returning seq 2, a
``create`` answered with ``StreamExistsError`` for the stream it had just created.

The cluster case is the one measured in issue #7: a brand-new ``RedisCluster`` given 50
concurrent commands routes those started before its slot map is loaded to the default node;
the ``MOVED`` replies make it call ``RedisCluster.aclose()`` every ``reinitialize_steps``
(5) redirections, which closes the connections other commands are waiting on; their
``ConnectionError`` is in ``RedisCluster.ERRORS_ALLOW_RETRY``, so each is sent again, although
many had already run.

So the stores send writes through :func:`send_once`:

* a cluster client is initialised first (so commands are routed to the right node at once) and
  given the command with an explicit ``target_nodes`` (the node owning the key's slot):
  redis-py then makes no cluster-level retry (``retry_attempts = 0``); ``MOVED``/``ASK``
  redirections, which mean the command did not run, are still followed;
* a standalone redis-py / valkey client lends a connection from its own pool, the command is
  sent and its reply read on it once (the driver's ``Connection.send_command`` /
  ``Redis.parse_response``), and a connection that failed is closed, never re-used;
* any other client (Upstash over HTTP, a minimal protocol client) is called through its own
  method: its retry policy is its own.

A write whose connection failed after sending therefore raises
:class:`~aibind.core.errors.ConnectionLostError` / :class:`~aibind.core.errors.BackendTimeoutError`
("it may or may not have been applied; a read tells which") instead of being applied twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from aibind.core.kit import keep_cancellation
from aibind.redis._errors import driver_types

__all__ = [
    "exchange_many_once",
    "exchange_once",
    "is_cluster_client",
    "lent",
    "pack_commands",
    "prepare_cluster",
    "send_once",
    "send_packed_many_once",
    "send_packed_once",
    "supports_once",
    "within",
    "write_packed",
]

T = TypeVar("T")

_NEEDS_COMMAND: dict[type, bool] = {}


def is_cluster_client(client: object) -> bool:
    """``True`` for a Redis Cluster client (``redis.asyncio.cluster.RedisCluster`` or the valkey
    equivalent): it routes commands by key slot."""
    return hasattr(client, "nodes_manager") and hasattr(client, "get_node_from_key")


def _standalone_pool(client: Any) -> Any:
    """The driver connection pool ``send_once`` may borrow from, or ``None``."""
    if getattr(client, "single_connection_client", False):
        return None
    if getattr(client, "connection", None) is not None:
        return None
    pool = getattr(client, "connection_pool", None)
    if pool is None or not callable(getattr(client, "parse_response", None)):
        return None
    if not callable(getattr(pool, "get_connection", None)):
        return None
    return pool


def supports_once(client: object) -> bool:
    """``True`` if :func:`send_once` can send commands through ``client`` without retries."""
    return is_cluster_client(client) or _standalone_pool(client) is not None


async def prepare_cluster(client: Any) -> None:
    """Load a cluster client's slot map now (a no-op once loaded or for other clients), so no
    command is routed before it."""
    if is_cluster_client(client):
        initialize = getattr(client, "initialize", None)
        if callable(initialize):
            await initialize()


async def _checkout(pool: Any, command: str) -> Any:
    kind = type(pool)
    needs = _NEEDS_COMMAND.get(kind)
    if needs is None:
        params = list(inspect.signature(pool.get_connection).parameters.values())
        needs = bool(params) and params[0].default is inspect.Parameter.empty
        _NEEDS_COMMAND[kind] = needs
    if needs:  # valkey, redis-py < 5.3: get_connection(command_name, *keys)
        return await pool.get_connection(command)
    return await pool.get_connection()


@contextlib.asynccontextmanager
async def lent(client: Any, command: str) -> AsyncIterator[Any]:
    """A connection lent by ``client``'s pool for the block (``command`` names what it is
    for, as some pools ask), returned to the pool after it, whatever happened.

    Raises:
        TypeError: ``client`` is not a standalone redis-py / valkey client (no pool to lend
            from: a cluster client, another driver).
        Exception: whatever the pool raises (a pool timeout...).
    """
    pool = _standalone_pool(client)
    if pool is None:
        raise TypeError(
            f"{type(client).__name__} cannot send a command exactly once "
            "(it has no connection pool to lend from)"
        )
    conn = await _checkout(pool, command)
    try:
        yield conn
    finally:
        await pool.release(conn)


async def _fresh(conn: Any) -> None:
    """Drop a pooled connection the server closed meanwhile (EOF or unread bytes), so the
    command goes out on a new one: a restart leaves every pooled socket dead, and redis-py
    relies on its retry to notice (redis-py 8 skips its checkout check while maintenance
    notifications are on, older versions read EOF as "no data"), which a write sent once
    does not have. The EOF test reads the connection's ``asyncio.StreamReader``."""
    if not getattr(conn, "is_connected", False):
        return
    reader = getattr(conn, "_reader", None)
    if reader is not None and reader.at_eof():
        await conn.disconnect()
        return
    check = getattr(conn, "can_read", None) or conn.can_read_destructive  # redis-py 8 / older
    try:
        stale = await check()
    except Exception:
        stale = True
    if stale:
        await conn.disconnect()


async def send_once(client: Any, key: str, *args: Any) -> Any:
    """Send the command ``args`` (a write on ``key``) exactly once and return its reply.

    Args:
        client: a client for which :func:`supports_once` is ``True``.
        key: the key the command writes (its slot picks the cluster node).
        args: the command and its arguments, e.g. ``("EVALSHA", sha, 2, k1, k2, ...)``.

    Raises:
        whatever the driver raises (the caller translates it); nothing is sent twice.
    """
    if is_cluster_client(client):
        await prepare_cluster(client)
        node = client.get_node_from_key(key)
        return await client.execute_command(*args, target_nodes=node)
    async with lent(client, str(args[0])) as conn:
        return await exchange_once(client, conn, pack_commands(conn, (args,)), args[0])


async def send_packed_once(client: Any, packed: bytes, command: str) -> Any:
    """:func:`send_once` of a command already packed (:func:`pack_commands`) on a standalone
    client (the pool lends the connection).

    Raises:
        TypeError: the client cannot send exactly once (a cluster client, another driver).
        Exception: whatever the driver raises; nothing is sent twice.
    """
    async with lent(client, command) as conn:
        return await exchange_once(client, conn, packed, command)


async def exchange_once(
    client: Any, conn: Any, packed: bytes, command: str, *, watched: bool = False
) -> Any:
    """Send one packed command on ``conn`` (a connection of ``client``'s pool, or one the
    caller owns) and read its reply, once: a connection found closed by the server is
    reconnected before sending; one that failed after sending is disconnected (never used
    again as it is). An error reply leaves ``conn`` usable.

    Args:
        client: the client ``conn`` belongs to (its response callbacks are applied).
        conn: the connection.
        packed: the command in the Redis protocol (:func:`pack_commands`).
        command: the command's name (``"EVALSHA"``), for the response callbacks.
        watched: ``True`` if the caller bounds the call's time itself (the reply is then read
            without redis-py's ``socket_timeout`` around it, which costs a timer a read).

    Raises:
        whatever the driver raises.
    """
    try:
        await _fresh(conn)
        await write_packed(conn, packed)
        if not watched:
            return await client.parse_response(conn, command)
        reply = await conn.read_response(timeout=math.inf)
        callback = _callbacks(client).get(command)
        return reply if callback is None else await _applied(callback, reply)
    except BaseException as exc:
        if not isinstance(exc, driver_types("ResponseError")):
            # the reply may be unread or the socket broken: never hand this connection out
            await conn.disconnect(nowait=True)
        raise


async def write_packed(conn: Any, packed: bytes) -> None:
    """Send the packed commands ``packed`` on ``conn`` (connecting it first if needed).

    What redis-py's ``Connection.send_packed_command`` does, without the
    ``asyncio.wait_for`` it wraps each write in when ``socket_timeout`` is set: on Python
    < 3.12 that makes a task per command and costs two more turns of the event loop than the
    write itself (measured: a fifth of a sequential append's time). The write goes straight
    to the connection's stream writer; waiting for a full socket buffer to drain, the only
    part that can block, still has ``socket_timeout``. A connection without a stream writer
    (another driver) is sent through ``send_packed_command``.

    Raises:
        OSError: the connection was lost (``ConnectionResetError``...); ``conn`` is then
            disconnected.
        TimeoutError: the buffer did not drain within ``socket_timeout``; ``conn`` is then
            disconnected.
    """
    if not conn.is_connected:
        await conn.connect()
    writer = getattr(conn, "_writer", None)
    transport = getattr(writer, "transport", None)
    if writer is None or transport is None:
        await conn.send_packed_command(packed, check_health=False)
        return
    try:
        writer.write(packed)
        if transport.get_write_buffer_size():
            await within(writer.drain(), getattr(conn, "socket_timeout", None))
        else:
            await writer.drain()  # does not wait; raises if the connection was lost
    except BaseException:
        await conn.disconnect(nowait=True)
        raise


async def send_packed_many_once(
    client: Any, packed: bytes, commands: Sequence[str]
) -> list[tuple[Any, BaseException | None]]:
    """Send several write commands exactly once, in ONE pipeline (one write, one round trip;
    what ioredis does with commands issued together), and read every reply; the pool lends
    the connection.

    Args:
        client: a standalone client for which :func:`supports_once` is ``True`` (not a
            cluster client: its commands may belong to different nodes).
        packed: the commands in the Redis protocol (:func:`pack_commands`), one after another.
        commands: their names, in order (for the client's response callbacks).

    Returns:
        one ``(reply, None)`` or ``(None, error)`` per command, in order: an error reply
        (``NOSCRIPT``...) concerns its command alone; a failure of the connection is the error
        of every command whose reply was not read (each may or may not have run).

    Raises:
        TypeError: the client cannot send exactly once.
    """
    async with lent(client, commands[0]) as conn:
        return await exchange_many_once(client, conn, packed, commands)


async def exchange_many_once(
    client: Any, conn: Any, packed: bytes, commands: Sequence[str]
) -> list[tuple[Any, BaseException | None]]:
    """Send the packed commands ``packed`` (named by ``commands``, in order) on ``conn`` (of
    ``client``'s pool, or one the caller owns) and read every reply under one deadline
    (``socket_timeout``), as :func:`send_packed_many_once` describes; a connection that failed
    is disconnected."""
    reply_error = driver_types("ResponseError")
    outcomes: list[tuple[Any, BaseException | None]] = []
    try:
        await _fresh(conn)
        await write_packed(conn, packed)
        await within(
            _read_replies(client, conn, commands, outcomes, reply_error),
            getattr(conn, "socket_timeout", None),
        )
    except Exception as exc:
        await conn.disconnect(nowait=True)
        outcomes += [(None, exc)] * (len(commands) - len(outcomes))
    except BaseException:
        await conn.disconnect(nowait=True)
        raise
    return outcomes


async def _read_replies(
    client: Any,
    conn: Any,
    commands: Sequence[str],
    outcomes: list[tuple[Any, BaseException | None]],
    reply_error: tuple[type[BaseException], ...],
) -> None:
    """Read one reply per command into ``outcomes``; ``timeout=math.inf``: no timeout of
    redis-py's own around each (the caller keeps one deadline for them all)."""
    callbacks = _callbacks(client)
    for command in commands:
        try:
            reply = await conn.read_response(timeout=math.inf)
        except reply_error as exc:
            outcomes.append((None, exc))
            continue
        callback = callbacks.get(command)
        if callback is not None:
            reply = await _applied(callback, reply)
        outcomes.append((reply, None))


def _callbacks(client: Any) -> Mapping[str, Callable[..., Any]]:
    """``client``'s response callbacks by command name (none for a client without them)."""
    return getattr(client, "response_callbacks", None) or {}


async def _applied(callback: Callable[..., Any], reply: Any) -> Any:
    """``reply`` through a response callback, as redis-py's ``parse_response`` applies one
    (awaiting what it returns when that is awaitable)."""
    parsed = callback(reply)
    return await parsed if inspect.isawaitable(parsed) else parsed


def pack_commands(conn: Any, commands: Sequence[Sequence[Any]]) -> bytes:
    """``commands`` in the Redis protocol, as one buffer, encoded as ``conn`` encodes (its
    encoding for text, the driver's encoder for numbers): a few microseconds a command, where
    the driver's general packer takes several times that."""
    encoder = conn.encoder
    encoding, errors = encoder.encoding, encoder.encoding_errors
    out: list[bytes] = []
    add = out.append
    for args in commands:
        add(b"*%d\r\n" % len(args))
        for arg in args:
            if type(arg) is str:
                data = arg.encode(encoding, errors)
            elif type(arg) is bytes:
                data = arg
            else:
                data = encoder.encode(arg)
            add(b"$%d\r\n" % len(data))
            add(data)
            add(b"\r\n")
    return b"".join(out)


async def within(call: Awaitable[T], timeout: float | None) -> T:
    """``await call`` for at most ``timeout`` seconds (``None``: no limit); raises
    ``TimeoutError`` after that (the read in flight is cancelled, which makes the driver
    close its connection)."""
    if timeout is None:
        return await call
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(timeout):
            return await call
    return await keep_cancellation(asyncio.wait_for(call, timeout))  # pragma: no cover
