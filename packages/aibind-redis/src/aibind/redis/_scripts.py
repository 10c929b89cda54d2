"""The Lua scripts behind every state change of :class:`~aibind.redis.RedisStreamStore`.

Each write is one script, so it is atomic on the server (the npm package does separate
``RPUSH``/``GET``/``SET`` calls and can lose counts under concurrency). Every write script takes
``KEYS = [status, chunks]`` and ``ARGV = [ttl_unit ("EX"|"PX"), ttl_amount, channel,
publish_command ("PUBLISH"|"SPUBLISH"), ...]``. The status JSON is assembled as text so it is
byte-for-byte what ``JSON.stringify`` writes in the npm package: ``{"state":"active",
"totalChunks":3}`` (plus ``,"error":"..."`` when failed; the error arrives pre-encoded).

Return codes: ``-1`` not found, ``-2`` not active (with the state), ``-3`` corrupt status,
``-4`` the chunk list holds fewer chunks than the status counts (with both numbers): a list
evicted (``maxmemory-policy`` ``allkeys-*``/``volatile-*`` can drop one key of the two) or
deleted. An append never renumbers such a stream: seqs already handed out would be handed out
again for other data.

Scripts run with ``EVALSHA`` and fall back to ``EVAL`` (which caches them again) on a
``NOSCRIPT`` reply, so ``SCRIPT FLUSH``, a restart or a failover are transparent. Write scripts
are sent exactly once (:mod:`aibind.redis._once`); a ``NOSCRIPT`` reply means the script did
not run, so the ``EVAL`` that follows cannot apply it twice.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aibind.redis._errors import driver_types, error_code
from aibind.redis._lane import WriteLane
from aibind.redis._once import send_once, supports_once

__all__ = ["APPEND", "CREATE", "DELETE", "FINISH", "HINT_BYTES", "READ", "Script", "is_noscript"]

HINT_BYTES = 4096
"""A one-chunk append publishes ``seq \\x1f chunk`` (followers in other processes deliver the
chunk without reading it) when the chunk takes at most this many bytes; else just the seq."""

_STATUS = """
local raw = redis.call('GET', KEYS[1])
if not raw then return {-1} end
local ok, st = pcall(cjson.decode, raw)
if not ok or type(st) ~= 'table' or type(st.state) ~= 'string'
  or type(st.totalChunks) ~= 'number' then return {-3} end
local total = st.totalChunks
local n = redis.call('LLEN', KEYS[2])
"""

_TTL = """
local function touch(body)
  redis.call('SET', KEYS[1], body, ARGV[1], ARGV[2])
  if ARGV[1] == 'EX' then redis.call('EXPIRE', KEYS[2], ARGV[2])
  else redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
end
"""


async def _send_on(lane: WriteLane, key: str, *args: Any) -> Any:
    """:func:`~aibind.redis._once.send_once`'s signature, sent on ``lane``."""
    del key  # the lane's connection is the one node there is
    return await lane.send(lane.pack((args,)), str(args[0]))


def is_noscript(exc: BaseException) -> bool:
    """``True`` for a ``NOSCRIPT`` reply: the server does not have the script (it did not
    run)."""
    if isinstance(exc, driver_types("NoScriptError")):
        return True
    # clients without exception classes of their own (Upstash...): the reply's error code
    return error_code(exc) == "NOSCRIPT" or str(exc).startswith("NOSCRIPT")


class Script:
    """One Lua script, run by SHA with a transparent reload.

    Args:
        source: the Lua text.
        write: ``True`` if the script changes data: it is then sent exactly once
            (:func:`aibind.redis._once.send_once`) where the client allows it.
    """

    __slots__ = ("sha", "source", "write")

    def __init__(self, source: str, *, write: bool) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        self.write = write

    async def run(
        self,
        client: Any,
        keys: Sequence[str],
        args: Sequence[Any],
        lane: WriteLane | None = None,
    ) -> Any:
        """Run the script with ``EVALSHA``; on ``NOSCRIPT`` run it with ``EVAL`` (which loads it
        into the server's cache for the next call).

        Args:
            client: the client to run it on.
            keys: its ``KEYS``.
            args: its ``ARGV``.
            lane: a write script's own connection (:class:`~aibind.redis._lane.WriteLane`),
                used instead of a pooled one; ``None``: the pool.

        Returns:
            the script's reply as the driver decodes it.

        Raises:
            Exception: whatever the driver raises (callers translate it).
        """
        once = self.write and supports_once(client)
        send: Callable[..., Awaitable[Any]] = (
            functools.partial(_send_on, lane)
            if lane is not None
            else functools.partial(send_once, client)
        )
        try:
            if once:
                return await send(keys[0], "EVALSHA", self.sha, len(keys), *keys, *args)
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except Exception as exc:
            if not is_noscript(exc):
                raise
        if once:
            return await send(keys[0], "EVAL", self.source, len(keys), *keys, *args)
        return await client.eval(self.source, len(keys), *keys, *args)


CREATE = Script(
    """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], '{"state":"active","totalChunks":0}', ARGV[1], ARGV[2])
redis.call(ARGV[4], ARGV[3], '0')
return 1
""",
    write=True,
)
"""Create an active stream only if absent (``1``), else ``0``. Drops a stale chunk list."""

APPEND = Script(
    _STATUS
    + _TTL
    + """
if st.state ~= 'active' then return {-2, st.state} end
if n < total then return {-4, total, n} end
if #ARGV < 5 then return {n} end
for i = 5, #ARGV, 1000 do
  n = redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
touch('{"state":"active","totalChunks":' .. n .. '}')
if #ARGV == 5 and #ARGV[5] <= """
    + str(HINT_BYTES)
    + """ then
  redis.call(ARGV[4], ARGV[3], n .. '\\31' .. ARGV[5])
else
  redis.call(ARGV[4], ARGV[3], tostring(n))
end
return {n}
""",
    write=True,
)
"""Append ``ARGV[5:]`` to an active stream, set ``totalChunks`` to the list's new length,
refresh both TTLs and publish; returns ``{last_seq}`` (an empty batch appends nothing and
returns the count). A list longer than ``totalChunks`` is an npm writer between its ``RPUSH``
and its status ``SET``: its chunk is counted. A shorter one is refused (``-4``)."""

FINISH = Script(
    _STATUS
    + _TTL
    + """
if st.state ~= 'active' then return {0} end
if n > total then total = n end
local body = '{"state":"' .. ARGV[5] .. '","totalChunks":' .. total
if ARGV[5] == 'error' then body = body .. ',"error":' .. ARGV[6] end
touch(body .. '}')
redis.call(ARGV[4], ARGV[3], ARGV[5])
return {1}
""",
    write=True,
)
"""Move an active stream to ``ARGV[5]`` (``done``/``stopped``/``error``, with the JSON-encoded
message ``ARGV[6]``); a no-op (``{0}``) if already terminal. The count written is never below
the stored one, so the followers of a stream whose list vanished end with
``CorruptDataError`` instead of "normally" with chunks missing."""

DELETE = Script(
    """
local n = redis.call('DEL', KEYS[1], KEYS[2])
if n > 0 then redis.call(ARGV[4], ARGV[3], 'deleted') end
return n
""",
    write=True,
)
"""Delete both keys and wake followers (they then end with ``StreamExpiredError``)."""

READ = Script(
    """
local raw = redis.call('GET', KEYS[1])
if not raw then return {false} end
local first = tonumber(ARGV[1])
local chunks = redis.call('LRANGE', KEYS[2], first, first + tonumber(ARGV[2]) - 1)
return {raw, chunks, redis.call('LLEN', KEYS[2])}
""",
    write=False,
)
"""Read-only: ``{status_json, chunks[after:after+limit], list_length}`` atomically, or
``{nil}`` if absent. ``KEYS = [status, chunks]``, ``ARGV = [after, limit]``."""
