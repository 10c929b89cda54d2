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
import inspect
import math
import sys
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from aibind.core.kit import keep_cancellation
from aibind.redis._errors import driver_types

__all__ = [
    "is_cluster_client",
    "pack_commands",
    "prepare_cluster",
    "send_many_once",
    "send_once",
    "supports_once",
    "within",
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
    pool = _standalone_pool(client)
    if pool is None:
        raise TypeError(f"{type(client).__name__} cannot send a command exactly once")
    conn = await _checkout(pool, str(args[0]))
    try:
        await _fresh(conn)
        await conn.send_command(*args)
        return await client.parse_response(conn, args[0])
    except BaseException as exc:
        if not isinstance(exc, driver_types("ResponseError")):
            # the reply may be unread or the socket broken: never hand this connection out
            await conn.disconnect(nowait=True)
        raise
    finally:
        await pool.release(conn)


async def send_many_once(
    client: Any, commands: list[tuple[Any, ...]]
) -> list[tuple[Any, BaseException | None]]:
    """Send several write commands exactly once, in ONE pipeline (one write, one round trip;
    what ioredis does with commands issued together), and read every reply.

    Args:
        client: a standalone client for which :func:`supports_once` is ``True`` (not a
            cluster client: its commands may belong to different nodes).
        commands: each command with its arguments, as for :func:`send_once`.

    Returns:
        one ``(reply, None)`` or ``(None, error)`` per command, in order: an error reply
        (``NOSCRIPT``...) concerns its command alone; a failure of the connection is the error
        of every command whose reply was not read (each may or may not have run).

    Raises:
        TypeError: the client cannot send exactly once.
    """
    pool = _standalone_pool(client)
    if pool is None:
        raise TypeError(f"{type(client).__name__} cannot send a command exactly once")
    reply_error = driver_types("ResponseError")
    outcomes: list[tuple[Any, BaseException | None]] = []
    conn = await _checkout(pool, str(commands[0][0]))
    try:
        await _fresh(conn)
        await conn.send_packed_command(pack_commands(conn, commands))
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
    finally:
        await pool.release(conn)
    return outcomes


async def _read_replies(
    client: Any,
    conn: Any,
    commands: list[tuple[Any, ...]],
    outcomes: list[tuple[Any, BaseException | None]],
    reply_error: tuple[type[BaseException], ...],
) -> None:
    """Read one reply per command into ``outcomes``; ``timeout=math.inf``: no timeout of
    redis-py's own around each (the caller keeps one deadline for them all)."""
    callbacks = getattr(client, "response_callbacks", None) or {}
    for args in commands:
        try:
            reply = await conn.read_response(timeout=math.inf)
        except reply_error as exc:
            outcomes.append((None, exc))
            continue
        callback = callbacks.get(args[0])
        if callback is not None:
            reply = callback(reply)
        outcomes.append((reply, None))


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
