"""What a :class:`~aibind.starlette.StreamHandler` is configured with: the model callable, the
conversation settings, and the prompts the npm handler uses.

Source of the names and defaults: npm ``@aibind/core`` ``stream-handler.ts``
(``StreamHandlerConfig``, ``ConversationConfig``), in Python spelling.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass

from aibind.core.durable import SourceItem
from aibind.core.protocols import ConversationStore
from aibind.core.types import ConversationMessage

__all__ = [
    "DEFAULT_COMPACT_PROMPT",
    "DEFAULT_COMPLETE_SYSTEM_PROMPT",
    "DEFAULT_PREFIX",
    "TITLE_SYSTEM_PROMPT",
    "ConversationConfig",
    "Model",
    "ModelOutput",
]

DEFAULT_PREFIX = "/__aibind__"
"""Where the routes live unless ``prefix=`` says otherwise (npm's default)."""

DEFAULT_COMPACT_PROMPT = (
    "Summarize the following conversation into a single dense paragraph that "
    "preserves all important context, decisions, facts, and preferences. "
    "This summary will replace the conversation history for a future AI session."
)
"""The instruction ``POST {prefix}/compact`` puts before the conversation (npm's text)."""

DEFAULT_COMPLETE_SYSTEM_PROMPT = (
    "Continue the following text naturally. Output only the continuation — nothing else."
)
"""The system prompt of ``POST {prefix}/complete`` when the request gives none (npm's text)."""

TITLE_SYSTEM_PROMPT = (
    "Generate a short title (2–6 words, no punctuation, no quotes) that captures what this "  # noqa: RUF001 (npm's text)
    "conversation is about. Reply with only the title."
)
"""The system prompt of ``POST {prefix}/title`` (npm's text)."""

ModelOutput = AsyncIterable[SourceItem]
"""What a model returns: an async iterable of text chunks (``str``) and named events
(``(event, data)`` pairs, e.g. ``("usage", '{"inputTokens":3,"outputTokens":5}')``)."""

Model = Callable[[list[ConversationMessage], "str | None"], "ModelOutput | Awaitable[ModelOutput]"]
"""A model: any callable ``model(messages, system)`` that returns (or returns an awaitable of)
a :data:`ModelOutput`; an ``async def`` generator is the usual shape::

    async def model(messages: list[ConversationMessage], system: str | None):
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", stream=True,
            messages=[{"role": "system", "content": system}, *messages] if system else messages,
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content

``messages`` is the conversation so far, oldest first, ending with the user's new message
(a fresh list of fresh dicts each call); ``system`` is the request's system prompt or ``None``.
Text chunks become the answer; named events are stored and sent as SSE events (npm sends
``usage`` and ``tool_call`` this way). An exception raised by the model fails the stream with
its message (``event: error``), as npm does. No LLM SDK is a dependency: ``docs/web.md`` has
adapters for the OpenAI and Anthropic SDKs and for OpenAI-compatible local servers.
"""


@dataclass(frozen=True, slots=True)
class ConversationConfig:
    """Server-side conversation history (npm ``ConversationConfig``).

    With it, ``POST {prefix}/stream`` requests that carry a ``sessionId`` load the session's
    history, send its last ``max_messages`` messages plus the new prompt to the model, and save
    the user's message and the answer once the generation ends: a finished answer as is, a
    stopped one (stop endpoint, shutdown) as far as it got, with ``metadata`` ``{"stopped":
    true}``. A failed generation saves nothing (as npm). ``POST {prefix}/compact`` with a
    ``sessionId`` replaces the session's history by the summary.

    Attributes:
        store: where histories live; ``None`` takes the conversation store of the handler's
            ``url=``.
        max_messages: how many of the most recent stored messages go to the model (a sliding
            window; everything stays stored); ``None`` (default) sends them all.
        compact_system_prompt: the instruction used by the compact endpoint.

    Raises:
        TypeError: ``store`` is not a :class:`~aibind.core.protocols.ConversationStore`, or
            ``max_messages`` / ``compact_system_prompt`` has the wrong type.
        ValueError: ``max_messages`` is < 1, or ``compact_system_prompt`` is blank.
    """

    store: ConversationStore | None = None
    max_messages: int | None = None
    compact_system_prompt: str = DEFAULT_COMPACT_PROMPT

    def __post_init__(self) -> None:
        if self.store is not None and not isinstance(self.store, ConversationStore):
            raise TypeError(f"store must be a ConversationStore, not {type(self.store).__name__}")
        if self.max_messages is not None:
            if isinstance(self.max_messages, bool) or not isinstance(self.max_messages, int):
                raise TypeError(
                    f"max_messages must be an int or None, not {type(self.max_messages).__name__}"
                )
            if self.max_messages < 1:
                raise ValueError(f"max_messages must be >= 1, got {self.max_messages}")
        if not isinstance(self.compact_system_prompt, str):
            raise TypeError("compact_system_prompt must be a str")
        if not self.compact_system_prompt.strip():
            raise ValueError("compact_system_prompt must not be blank")
