"""The app the multi-process tests run under uvicorn: a handler on the SQLite file
``AIBIND_URL`` with conversations, and a model writing ``TOKENS`` words ``w0 w1 ...`` one per
``TOKEN_DELAY`` seconds."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from aibind.core.types import ConversationMessage
from aibind.starlette import ConversationConfig, create_stream_handler

TOKENS = int(os.environ.get("TOKENS", "200"))
TOKEN_DELAY = float(os.environ.get("TOKEN_DELAY", "0.02"))


def words(count: int = TOKENS) -> list[str]:
    """What the model writes."""
    return [f"w{i} " for i in range(count)]


async def model(messages: list[ConversationMessage], system: str | None) -> AsyncIterator[str]:
    for word in words():
        await asyncio.sleep(TOKEN_DELAY)
        yield word


app = create_stream_handler(
    model=model,
    url=os.environ["AIBIND_URL"],
    conversation=ConversationConfig(),
    setup=True,
    retry_interval=0.2,
)
