"""A minimal client: only the seed's eight methods plus ``eval``/``evalsha``, forwarded to a
real redis-py connection (no pub/sub, so stores on it must poll)."""

from __future__ import annotations

from typing import Any

import redis.asyncio


class MinimalClient:
    """Implements :class:`aibind.redis.RedisClient` and nothing else."""

    def __init__(self, url: str) -> None:
        self._r = redis.asyncio.from_url(url)

    async def get(self, name: str) -> Any:
        return await self._r.get(name)

    async def set(self, name: str, value: str, ex: int | None = None, px: int | None = None) -> Any:
        return await self._r.set(name, value, ex=ex, px=px)

    async def exists(self, *names: str) -> Any:
        return await self._r.exists(*names)

    async def rpush(self, name: str, *values: str) -> Any:
        return await self._r.rpush(name, *values)

    async def lrange(self, name: str, start: int, end: int) -> Any:
        return await self._r.lrange(name, start, end)

    async def llen(self, name: str) -> Any:
        return await self._r.llen(name)

    async def expire(self, name: str, time: int) -> Any:
        return await self._r.expire(name, time)

    async def delete(self, *names: str) -> Any:
        return await self._r.delete(*names)

    async def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> Any:
        return await self._r.eval(script, numkeys, *keys_and_args)  # type: ignore[no-untyped-call,unused-ignore]

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        return await self._r.evalsha(sha, numkeys, *keys_and_args)  # type: ignore[no-untyped-call,unused-ignore]

    async def aclose(self) -> None:
        await self._r.aclose()
