"""Response building blocks: JSON errors, SSE responses, and SSE bodies that end on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable

from aibind.core.durable import SourceItem, encode_item
from aibind.core.sse import SSE_HEADERS, decode_chunk, format_event, format_text
from aibind.starlette._bodies import RequestError
from starlette.responses import JSONResponse, StreamingResponse

__all__ = [
    "ephemeral_sse",
    "error_response",
    "sse_response",
    "until_closing",
]

logger = logging.getLogger("aibind.starlette")


def error_response(error: RequestError) -> JSONResponse:
    """``{"error": message}`` with the error's status and headers (npm's error shape)."""
    return JSONResponse({"error": error.message}, error.status, headers=error.headers)


def sse_response(body: AsyncIterable[str], stream_id: str | None = None) -> StreamingResponse:
    """A streaming SSE response: ``Content-Type: text/event-stream`` (exactly, as npm),
    ``Cache-Control: no-cache``, ``X-Accel-Buffering: no``, and ``X-Stream-Id`` when given
    (the npm client reads the id from it)."""
    headers = dict(SSE_HEADERS)
    if stream_id is not None:
        headers["X-Stream-Id"] = stream_id
    return StreamingResponse(body, headers=headers)


async def until_closing(body: AsyncIterator[str], closing: asyncio.Event) -> AsyncIterator[str]:
    """``body``, ended early (without end events) once ``closing`` is set: a follower of a
    stream that another process generates cannot be finished here, so on shutdown its
    response just ends and the client reconnects, to a worker that is still up."""
    waiter = asyncio.ensure_future(closing.wait())
    try:
        while True:
            step = asyncio.ensure_future(anext(body))
            await asyncio.wait({step, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                step.cancel()
                with contextlib.suppress(BaseException):
                    await step
                return
            try:
                message = step.result()
            except StopAsyncIteration:
                return
            yield message
    finally:
        waiter.cancel()
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            await aclose()


async def ephemeral_sse(
    source: AsyncIterator[SourceItem], on_end: Callable[[str, str], None]
) -> AsyncIterator[str]:
    """The SSE of a non-resumable generation, byte for byte as npm's ``#buildSSEFromSource``:
    text chunks numbered from 0 (``id: 0``...), named events without id, ``event: error``
    with the exception's message if the model fails, then ``event: done``.

    ``on_end(outcome, text)`` is called once with ``"done"``, ``"error"`` or ``"stopped"``
    (the client went away, which here ends the generation) and the text sent so far.
    """
    seq = 0
    parts: list[str] = []
    outcome = "stopped"
    try:
        try:
            async for item in source:
                event, data = decode_chunk(encode_item(item))
                if event:
                    yield format_event(event, data)
                else:
                    parts.append(data)
                    yield format_text(seq, data)
                    seq += 1
            outcome = "done"
        except Exception as exc:
            logger.warning("generation failed", exc_info=exc)
            outcome = "error"
            yield format_event("error", str(exc) or type(exc).__name__)
        yield format_event("done")
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
        on_end(outcome, "".join(parts))
