"""Conversation turns: the history a model sees, and saving the user's message and the answer
once a generation ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aibind.core.protocols import ConversationStore, StreamStore
from aibind.core.sse import decode_chunk
from aibind.core.types import ConversationMessage

__all__ = ["KeyedLock", "Turn", "history_window", "save_turn", "stream_text"]


@dataclass(frozen=True, slots=True)
class Turn:
    """A turn to save when its generation ends: the session and the user's prompt."""

    store: ConversationStore
    session_id: str
    prompt: str


class KeyedLock:
    """One :class:`asyncio.Lock` per key, dropped when nobody holds or waits for it; serialises
    the load-append-save of one session within a process, so two turns ending together both
    land."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold the lock of ``key`` for the ``async with`` block."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


async def history_window(
    store: ConversationStore, session_id: str, max_messages: int | None
) -> list[ConversationMessage]:
    """The messages of the session's active path, the last ``max_messages`` of them (all when
    ``None``), as fresh dicts holding only ``role`` and ``content``.

    Raises:
        CorruptDataError and backend errors: as the store's ``load()``.
    """
    messages = (await store.load(session_id)).messages
    if max_messages is not None:
        messages = messages[-max_messages:]
    return [{"role": m["role"], "content": m["content"]} for m in messages]


async def save_turn(turn: Turn, answer: str, *, stopped: bool, locks: KeyedLock) -> None:
    """Append the user's prompt and the assistant's ``answer`` to the session's history as it
    is now (reloaded, so turns that ended meanwhile are kept) and save it. A stopped answer
    carries the metadata ``{"stopped": true}``.

    Raises:
        CorruptDataError and backend errors: as the store's ``load()`` / ``save()``.
    """
    async with locks.hold(turn.session_id):
        chat = await turn.store.load(turn.session_id)
        chat.append({"role": "user", "content": turn.prompt})
        chat.append(
            {"role": "assistant", "content": answer}, {"stopped": True} if stopped else None
        )
        await turn.store.save(turn.session_id, chat)


async def stream_text(store: StreamStore, stream_id: str) -> str:
    """The text of a finished stream: its plain chunks joined, exactly what its readers got.

    Raises:
        StreamNotFoundError / StreamExpiredError and backend errors: as ``read_from()``.
    """
    parts: list[str] = []
    async for chunk in store.read_from(stream_id):
        event, data = decode_chunk(chunk.data)
        if not event:
            parts.append(data)
    return "".join(parts)
