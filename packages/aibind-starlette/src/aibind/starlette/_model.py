"""Calling a model callable: as the source of a stream, or to completion (compact, complete)."""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from aibind.core.durable import SourceItem, encode_item
from aibind.core.sse import decode_chunk
from aibind.core.types import ConversationMessage
from aibind.starlette.config import Model

__all__ = ["ModelResult", "estimate_tokens", "model_output", "parse_usage", "run_model"]


async def _open(
    model: Model, messages: list[ConversationMessage], system: str | None
) -> AsyncIterator[SourceItem]:
    output = model(messages, system)
    if inspect.isawaitable(output):
        output = await output
    if not isinstance(output, AsyncIterable):
        raise TypeError(
            f"the model must return an async iterable of text, not {type(output).__name__}"
        )
    return aiter(output)


async def model_output(
    model: Model, messages: list[ConversationMessage], system: str | None
) -> AsyncIterator[SourceItem]:
    """The model's output as a source: the model is called when iteration starts (so a
    failure of the call itself fails the stream, like any later one), and its iterator is
    closed when this one is (a stop abandons the model call)."""
    iterator = await _open(model, messages, system)
    try:
        async for item in iterator:
            yield item
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


@dataclass(frozen=True, slots=True)
class ModelResult:
    """A model's whole output: the text, and the last ``usage`` event, if any."""

    text: str
    usage: tuple[int, int] | None


def parse_usage(data: str) -> tuple[int, int] | None:
    """``(inputTokens, outputTokens)`` from a ``usage`` event's data as npm writes it
    (``{"inputTokens": n, "outputTokens": m}``), or ``None`` if it is not that shape."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    counts = value.get("inputTokens"), value.get("outputTokens")
    if all(isinstance(n, int) and not isinstance(n, bool) for n in counts):
        return counts[0], counts[1]  # type: ignore[return-value]
    return None


def estimate_tokens(text: str) -> int:
    """A rough token count for when the model reports none: one token per four characters
    (the usual rule of thumb for English text with GPT-style tokenizers)."""
    return math.ceil(len(text) / 4)


async def run_model(
    model: Model, messages: list[ConversationMessage], system: str | None
) -> ModelResult:
    """Run the model to the end and collect its text (named events other than ``usage`` are
    dropped).

    Raises:
        whatever the model raises; TypeError / ValueError for an item that is not text or an
        ``(event, data)`` pair.
    """
    parts: list[str] = []
    usage: tuple[int, int] | None = None
    output = model_output(model, messages, system)
    try:
        async for item in output:
            event, data = decode_chunk(encode_item(item))
            if not event:
                parts.append(data)
            elif event == "usage":
                usage = parse_usage(data) or usage
    finally:
        await output.aclose()  # type: ignore[attr-defined]
    return ModelResult("".join(parts), usage)
