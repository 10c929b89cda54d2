"""An aibind Python Worker: durable, resumable LLM streams in D1 and chat history in KV.

Routes:

* ``POST /chat`` with JSON ``{"session": "...", "message": "..."}``: loads the session's history
  from KV, starts a :class:`~aibind.core.DurableStream` of the model's answer into D1 and serves
  it as server-sent events (the first event names the stream id; every text chunk has an
  ``id:``). When the answer is complete, the turn is saved to KV.
* ``GET /stream/<stream_id>`` with a ``Last-Event-ID`` header (or ``?after=N``): resumes the
  stream after that seq, then follows it live until it ends (a browser ``EventSource``
  reconnects this way by itself).
* ``GET /history/<session>``: the session's messages as JSON.

The "model" is a stand-in async generator (no LLM SDK): replace :func:`model` with a call to
your provider that yields text pieces.

Create the tables once: ``npx wrangler d1 execute aibind --remote --file=../../schema/sqlite.sql``
(the DDL ``aibind schema sqlite`` prints).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import js
from pyodide.ffi import create_once_callable
from workers import Response, WorkerEntrypoint

from aibind.cloudflare import KVConversationStore, wrap_d1
from aibind.core import DurableStream
from aibind.core.chat_history import ChatHistory
from aibind.core.sse import SSE_HEADERS, decode_chunk, parse_last_event_id
from aibind.core.types import ConversationMessage
from aibind.sqlite import SqliteStreamStore

TOKEN_PAUSE = 0.02
"""Seconds between the stand-in model's tokens (an LLM's pace)."""


async def model(messages: list[ConversationMessage]) -> AsyncIterator[str]:
    """A stand-in for an LLM: answers the last user message, one word at a time."""
    question = str(messages[-1]["content"]) if messages else ""
    answer = f"You said: {question}. That is {len(question.split())} words."
    for i, word in enumerate(answer.split(" ")):
        await asyncio.sleep(TOKEN_PAUSE)
        yield word if i == 0 else " " + word


def sse_response(events: AsyncIterator[str], keep_alive: object) -> Response:
    """A streaming ``text/event-stream`` response fed by ``events`` (SSE text pieces).

    The pieces are written to a ``TransformStream`` by a task the runtime is asked to wait for
    (``ctx.waitUntil``), so the response is returned at once and streams as the model writes.
    """
    pipe = js.TransformStream.new()
    writer = pipe.writable.getWriter()
    encoder = js.TextEncoder.new()

    async def pump() -> None:
        try:
            async for text in events:
                await writer.write(encoder.encode(text))
        except Exception as exc:  # the client went away, or the store failed
            await writer.abort(str(exc))
            raise
        else:
            await writer.close()

    wait_until(keep_alive, pump())
    return Response(pipe.readable, headers=dict(SSE_HEADERS))


def wait_until(ctx: object, coroutine: object) -> None:
    """Run ``coroutine`` as a task and hand ``ctx.waitUntil`` a JS promise that settles with it,
    so the Workers runtime keeps the request alive until the task is done.

    (A JS promise resolved from the task's done callback: a PyProxy of the task given to
    ``Promise.resolve`` fails in Pyodide 0.29 and 314 once the calling function returns.)
    """
    task = asyncio.ensure_future(coroutine)  # type: ignore[arg-type]

    def executor(resolve: object, reject: object) -> None:
        def settle(done: asyncio.Future[object]) -> None:
            if done.cancelled():
                reject(js.Error.new("cancelled"))  # type: ignore[operator]
            elif done.exception() is not None:
                reject(js.Error.new(str(done.exception())))  # type: ignore[operator]
            else:
                resolve()  # type: ignore[operator]

        task.add_done_callback(settle)

    ctx.waitUntil(js.Promise.new(create_once_callable(executor)))  # type: ignore[attr-defined]


class Default(WorkerEntrypoint):
    """The Worker's fetch handler (``self.env.DB``: D1, ``self.env.CONVERSATIONS``: KV)."""

    def stores(self) -> tuple[SqliteStreamStore, KVConversationStore]:
        streams = SqliteStreamStore(wrap_d1(self.env.DB), poll_interval=0.25)
        conversations = KVConversationStore(self.env.CONVERSATIONS)
        return streams, conversations

    async def fetch(self, request: object) -> Response:
        url = urlsplit(str(request.url))  # type: ignore[attr-defined]
        method = str(request.method)  # type: ignore[attr-defined]
        path = url.path.rstrip("/")
        if method == "POST" and path == "/chat":
            body = json.loads(await request.text())  # type: ignore[attr-defined]
            return await self.chat(str(body["session"]), str(body["message"]))
        if method == "GET" and path.startswith("/stream/"):
            after = parse_qs(url.query).get("after", [None])[0]
            header = request.headers.get("last-event-id")  # type: ignore[attr-defined]
            seq = parse_last_event_id(after if after is not None else header)
            return await self.resume(path.removeprefix("/stream/"), seq)
        if method == "GET" and path.startswith("/history/"):
            _, conversations = self.stores()
            chat = await conversations.load(path.removeprefix("/history/"))
            return Response.json({"messages": chat.messages})
        return Response("not found", status=404)

    async def chat(self, session: str, message: str) -> Response:
        streams, conversations = self.stores()
        history: ChatHistory[ConversationMessage] = await conversations.load(session)
        history.append({"role": "user", "content": message})
        durable = await DurableStream.start(streams, model(history.messages))

        async def record_turn() -> None:
            status = await durable.wait()
            if status.state == "done":
                pieces = [decode_chunk(c.data) async for c in streams.read_from(durable.id)]
                text = "".join(data for event, data in pieces if not event)
                history.append({"role": "assistant", "content": text})
                await conversations.save(session, history)

        wait_until(self.ctx, record_turn())
        return sse_response(durable.sse(), self.ctx)

    async def resume(self, stream_id: str, after_seq: int) -> Response:
        streams, _ = self.stores()
        if await streams.get_status(stream_id) is None:
            return Response("no such stream (or it expired)", status=404)
        return sse_response(DurableStream.resume(streams, stream_id, after_seq), self.ctx)
