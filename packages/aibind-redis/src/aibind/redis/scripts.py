"""The Lua scripts behind every state change of :class:`~aibind.redis.streams.RedisStreamStore`.

Each write is one script, so it is atomic on the server (the npm package does separate
``RPUSH``/``GET``/``SET`` calls and can lose counts under concurrency). Every script takes
``KEYS = [status, chunks]`` and ``ARGV = [ttl_unit ("EX"|"PX"), ttl_amount, channel,
publish_command ("PUBLISH"|"SPUBLISH"), ...]``. The status JSON is assembled as text so it is
byte-for-byte what ``JSON.stringify`` writes in the npm package: ``{"state":"active",
"totalChunks":3}`` (plus ``,"error":"..."`` when failed; the error arrives pre-encoded).

Return codes: ``-1`` not found, ``-2`` not active (with the state), ``-3`` corrupt status.

Scripts run with ``EVALSHA`` and fall back to ``EVAL`` (which caches them again) on a
``NOSCRIPT`` reply, so ``SCRIPT FLUSH``, a restart or a failover are transparent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from aibind.redis.client import RedisClient, is_noscript_error

__all__ = ["APPEND", "CREATE", "DELETE", "FINISH", "READ", "Script"]

_STATUS = """
local raw = redis.call('GET', KEYS[1])
if not raw then return {-1} end
local ok, st = pcall(cjson.decode, raw)
if not ok or type(st) ~= 'table' or type(st.state) ~= 'string' then return {-3} end
"""

_TTL = """
local function touch(body)
  redis.call('SET', KEYS[1], body, ARGV[1], ARGV[2])
  if ARGV[1] == 'EX' then redis.call('EXPIRE', KEYS[2], ARGV[2])
  else redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
end
"""


class Script:
    """One Lua script, run by SHA with a transparent reload.

    Args:
        source: the Lua text.
    """

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def run(self, client: RedisClient, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run the script with ``EVALSHA``; on ``NOSCRIPT`` run it with ``EVAL`` (which loads it
        into the server's cache for the next call).

        Returns:
            the script's reply as the driver decodes it.

        Raises:
            Exception: whatever the driver raises (callers translate it).
        """
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except Exception as exc:
            if not is_noscript_error(exc):
                raise
        return await client.eval(self.source, len(keys), *keys, *args)


CREATE = Script(
    """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], '{"state":"active","totalChunks":0}', ARGV[1], ARGV[2])
redis.call(ARGV[4], ARGV[3], '0')
return 1
"""
)
"""Create an active stream only if absent (``1``), else ``0``. Drops a stale chunk list."""

APPEND = Script(
    _STATUS
    + _TTL
    + """
if st.state ~= 'active' then return {-2, st.state} end
local n = redis.call('LLEN', KEYS[2])
if #ARGV < 5 then return {n} end
for i = 5, #ARGV, 1000 do
  n = redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
touch('{"state":"active","totalChunks":' .. n .. '}')
redis.call(ARGV[4], ARGV[3], tostring(n))
return {n}
"""
)
"""Append ``ARGV[5:]`` to an active stream, update ``totalChunks``, refresh both TTLs and
publish; returns ``{last_seq}`` (an empty batch appends nothing and returns the count)."""

FINISH = Script(
    _STATUS
    + _TTL
    + """
if st.state ~= 'active' then return {0} end
local body = '{"state":"' .. ARGV[5] .. '","totalChunks":' .. redis.call('LLEN', KEYS[2])
if ARGV[5] == 'error' then body = body .. ',"error":' .. ARGV[6] end
touch(body .. '}')
redis.call(ARGV[4], ARGV[3], ARGV[5])
return {1}
"""
)
"""Move an active stream to ``ARGV[5]`` (``done``/``stopped``/``error``, with the JSON-encoded
message ``ARGV[6]``); a no-op (``{0}``) if already terminal."""

DELETE = Script(
    """
local n = redis.call('DEL', KEYS[1], KEYS[2])
if n > 0 then redis.call(ARGV[4], ARGV[3], 'deleted') end
return n
"""
)
"""Delete both keys and wake followers (they then end with ``StreamExpiredError``)."""

READ = Script(
    """
local raw = redis.call('GET', KEYS[1])
if not raw then return {false} end
local first = tonumber(ARGV[1])
return {raw, redis.call('LRANGE', KEYS[2], first, first + tonumber(ARGV[2]) - 1)}
"""
)
"""Read-only: ``{status_json, chunks[after:after+limit]}`` atomically, or ``{nil}`` if absent.
``KEYS = [status, chunks]``, ``ARGV = [after, limit]``."""
