"""aibind-starlette: serve durable, resumable LLM streams and conversation history over HTTP
from Starlette or FastAPI, speaking the npm ``@aibind`` stream handler's protocol.

Usage (FastAPI)::

    from fastapi import FastAPI
    from aibind.starlette import ConversationConfig, StreamHandler

    async def model(messages, system):          # any async iterable of text
        yield "Hello"

    ai = StreamHandler(model=model, url="sqlite:///chat.db",
                       conversation=ConversationConfig(), setup=True)
    app = FastAPI(lifespan=ai.lifespan)
    app.mount(ai.prefix, ai.app)

See ``docs/web.md``.
"""

from __future__ import annotations

from importlib.metadata import version as _distribution_version

from aibind.starlette.auth import Action, Authorize, AuthRequest, Grant
from aibind.starlette.config import (
    DEFAULT_PREFIX,
    ConversationConfig,
    Model,
    ModelOutput,
)
from aibind.starlette.handler import StreamHandler, create_stream_handler

__version__ = _distribution_version("aibind-starlette")
"""The installed distribution's version (from its metadata: the one source is pyproject.toml)."""

__all__ = [
    "DEFAULT_PREFIX",
    "Action",
    "AuthRequest",
    "Authorize",
    "ConversationConfig",
    "Grant",
    "Model",
    "ModelOutput",
    "StreamHandler",
    "__version__",
    "create_stream_handler",
]
