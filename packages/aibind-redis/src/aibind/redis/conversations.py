"""``RedisConversationStore``: chat histories as npm-format JSON strings in Redis, an adapter
over :class:`aibind.core.kit.ConversationStoreBase` (get / set with a TTL / delete)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from aibind.core.errors import AibindError
from aibind.core.kit import ClientOpener, ConversationStoreBase, Parser, parse_float, parse_str
from aibind.redis._connect import REDIS_CLIENT
from aibind.redis._errors import translate
from aibind.redis._keys import check_prefix, check_redis_ttl, ttl_args
from aibind.redis.client import RedisClient

__all__ = ["RedisConversationStore"]


def _expiry(ttl: float) -> dict[str, int]:
    unit, amount = ttl_args(ttl)
    return {"ex": amount} if unit == "EX" else {"px": amount}


class RedisConversationStore(ConversationStoreBase):
    """Each history is the ``ChatHistory`` JSON at ``{prefix}:{session_id}`` with a TTL restarted
    by every save (``SET ... EX``; npm ``@aibind/redis`` ``RedisConversationStore``).

    Args:
        client: any :class:`~aibind.redis.RedisClient` (only ``get``/``set``/``delete`` are
            used); never closed by the store. Share it with a ``RedisStreamStore``.
        prefix: key prefix (default ``"aibind:conv"``).
        ttl: seconds a history lives after its last save (default 1800), at most
            :data:`~aibind.redis._keys.MAX_TTL`; whole seconds use ``EX``, fractions ``PX``.

    Raises:
        TypeError, ValueError: a malformed option.
    """

    _client_opener: ClassVar[ClientOpener] = REDIS_CLIENT
    _url_options: ClassVar[Mapping[str, Parser]] = {"prefix": parse_str, "ttl": parse_float}

    def __init__(
        self, client: RedisClient, *, prefix: str = "aibind:conv", ttl: float = 1800.0
    ) -> None:
        super().__init__(ttl=check_redis_ttl(ttl))
        self.prefix = check_prefix(prefix)
        self._client = client
        self._expiry = (self.ttl, _expiry(self.ttl))  # the usual TTL's SET options, made once

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}:{session_id}"

    def _translate(self, exc: Exception) -> AibindError:
        return translate(exc)

    async def _get(self, key: str) -> Any:
        return await self._client.get(key)

    async def _set(self, key: str, value: str, ttl: float) -> None:
        expiry = self._expiry[1] if ttl == self._expiry[0] else _expiry(ttl)
        await self._client.set(key, value, **expiry)

    async def _delete(self, key: str) -> None:
        await self._client.delete(key)
