"""The typed endpoints of :class:`~aibind.starlette.StreamHandler`, one method per route
(npm ``StreamHandler``'s ``stream``, ``chat``, ``compact``, ``complete``, ``title``, ``stop``,
``resume``): each takes what the route parsed and returns a Starlette ``Response``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar

from aibind.core.durable import DurableStream
from aibind.core.errors import AibindError, CorruptDataError, StreamNotFoundError
from aibind.core.sse import format_retry, parse_last_event_id
from aibind.core.types import ConversationMessage
from aibind.starlette._bodies import (
    RequestError,
    message_list,
    optional_str,
    parse_after,
    required_text,
    session_id_of,
    stream_id_of,
)
from aibind.starlette._generations import Generations
from aibind.starlette._lifecycle import StoreSlot
from aibind.starlette._model import ModelResult, estimate_tokens, model_output, run_model
from aibind.starlette._owner import may_access, new_stream_id
from aibind.starlette._responses import ephemeral_sse, error_response, sse_response, until_closing
from aibind.starlette._turns import Turn, history_window, save_turn
from aibind.starlette.config import (
    DEFAULT_COMPACT_PROMPT,
    DEFAULT_COMPLETE_SYSTEM_PROMPT,
    TITLE_SYSTEM_PROMPT,
    ConversationConfig,
    Model,
)
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

__all__ = ["Endpoints"]

logger = logging.getLogger("aibind.starlette")

P = ParamSpec("P")
E = TypeVar("E", bound="Endpoints")


def _json_errors(
    method: Callable[Concatenate[E, P], Awaitable[Response]],
) -> Callable[Concatenate[E, P], Awaitable[Response]]:
    """Answer what an endpoint refuses as npm-shaped JSON: a :class:`RequestError` with its
    status, corrupt stored data as 500, any other store failure as 503 (logged, with the
    cause's type in the message and nothing else of its internals)."""

    @wraps(method)
    async def wrapper(self: E, /, *args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return await method(self, *args, **kwargs)
        except RequestError as error:
            return error_response(error)
        except CorruptDataError as exc:
            logger.error("corrupt data in a store", exc_info=exc)
            return error_response(RequestError(500, "corrupt data in the store"))
        except (AibindError, OSError) as exc:
            logger.error("a store failed", exc_info=exc)
            message = f"store unavailable ({type(exc).__name__})"
            return error_response(RequestError(503, message, {"Retry-After": "1"}))

    return wrapper


class Endpoints:
    """The typed endpoints and the state they share (see ``StreamHandler`` for the options)."""

    def __init__(
        self,
        *,
        models: dict[str, Model],
        single: bool,
        resumable: bool,
        conversation: ConversationConfig | None,
        retry_interval: float,
        slot: StoreSlot,
    ) -> None:
        format_retry(retry_interval)  # validates it (TypeError / ValueError)
        self.resumable = bool(resumable)
        self.retry_interval = float(retry_interval)
        self._models = models
        self._single = single
        self._conversation = conversation
        self._slot = slot
        self._generations = Generations()
        self._closing = asyncio.Event()

    # ---- shared steps -------------------------------------------------------------------------

    def _model(self, requested: object) -> Model:
        """The model a request names (npm ``#resolveModel``)."""
        if self._single or requested is None:
            return next(iter(self._models.values()))
        if not isinstance(requested, str):
            raise RequestError(400, "model must be a string")
        model = self._models.get(requested)
        if model is None:
            raise RequestError(400, f'Unknown model key: "{requested}"')
        return model

    def _refuse_when_closing(self) -> None:
        if self._closing.is_set():
            raise RequestError(503, "the server is shutting down", {"Retry-After": "1"})

    async def _generate(
        self,
        model: Model,
        messages: list[ConversationMessage],
        system: str | None,
        *,
        owner: str | None,
        turn: Turn | None,
    ) -> Response:
        """Start a generation and answer with its SSE: durable (npm ``DurableStream``) when
        resumable, else streamed straight from the model (npm ``#buildSSEFromSource``)."""
        self._refuse_when_closing()
        source = model_output(model, messages, system)
        if not self.resumable:
            return sse_response(ephemeral_sse(source, self._ephemeral_end(turn)))
        store = await self._slot.streams()
        durable = await self._generations.start(store, source, new_stream_id(owner), turn)
        return sse_response(durable.sse(batched=True), durable.id)

    def _ephemeral_end(self, turn: Turn | None) -> Callable[[str, str], None]:
        def on_end(outcome: str, text: str) -> None:
            if turn is not None and outcome in ("done", "stopped"):
                saving = save_turn(
                    turn, text, stopped=outcome == "stopped", locks=self._generations.locks
                )
                self._generations.spawn(saving, f"aibind-starlette save {turn.session_id}")

        return on_end

    # ---- endpoints ----------------------------------------------------------------------------

    @_json_errors
    async def stream(self, body: Mapping[str, Any], *, owner: str | None = None) -> Response:
        """``POST {prefix}/stream``: ``{prompt, system?, model?, sessionId?}`` -> SSE.

        With a conversation configured and a ``sessionId``, the model gets the session's
        history (its last ``max_messages``) plus the prompt, and the turn is saved when the
        generation ends. Streams started with ``owner`` are bound to it (see
        :class:`~aibind.starlette.auth.Grant`).

        Returns:
            the durable SSE response (``X-Stream-Id`` header; first message
            ``event: stream-id``), or a JSON error: 400 ``prompt is required``,
            ``Unknown model key: "x"``, a malformed field; 503 store failure or shutdown.
        """
        prompt = required_text(body, "prompt")
        system = optional_str(body, "system")
        model = self._model(body.get("model"))
        session_id = session_id_of(body)
        self._refuse_when_closing()
        history: list[ConversationMessage] = []
        turn = None
        if self._conversation is not None and session_id is not None:
            conversations = await self._slot.conversations()
            assert conversations is not None  # a ConversationConfig always brings a store
            history = await history_window(
                conversations, session_id, self._conversation.max_messages
            )
            turn = Turn(conversations, session_id, prompt)
        messages: list[ConversationMessage] = [*history, {"role": "user", "content": prompt}]
        return await self._generate(model, messages, system, owner=owner, turn=turn)

    @_json_errors
    async def chat(self, body: Mapping[str, Any], *, owner: str | None = None) -> Response:
        """``POST {prefix}/chat``: ``{messages, system?, model?}`` -> SSE of the reply to the
        whole conversation the client holds (nothing is loaded or saved server-side).

        Returns:
            as :meth:`stream`; 400 ``messages is required`` for a missing or empty list.
        """
        messages = message_list(body, allow_empty=False)
        system = optional_str(body, "system")
        model = self._model(body.get("model"))
        return await self._generate(model, messages, system, owner=owner, turn=None)

    @_json_errors
    async def compact(self, body: Mapping[str, Any]) -> Response:
        """``POST {prefix}/compact``: ``{messages, model?, sessionId?}`` ->
        ``{"summary": str, "tokensSaved": int}``.

        The model summarises the messages (npm's prompt, or ``compact_system_prompt``); with
        a conversation and a ``sessionId``, the stored history is replaced by the summary (a
        ``system`` message tagged ``compacted``). ``tokensSaved`` is input minus output tokens
        from the model's ``usage`` event, or an estimate (four characters per token) when it
        reports none.

        Returns:
            the JSON result; 400 for a bad body; 502 if the model fails.
        """
        messages = message_list(body, allow_empty=True)
        model = self._model(body.get("model"))
        session_id = session_id_of(body)
        instruction = (
            self._conversation.compact_system_prompt
            if self._conversation
            else DEFAULT_COMPACT_PROMPT
        )
        text = "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)
        prompt = f"{instruction}\n\n---\n\n{text}"
        result = await self._run(model, [{"role": "user", "content": prompt}], None)
        if result.usage is not None:
            saved = result.usage[0] - result.usage[1]
        else:
            saved = estimate_tokens(prompt) - estimate_tokens(result.text)
        conversations = await self._slot.conversations() if self._conversation else None
        if conversations is not None and session_id is not None:
            async with self._generations.locks.hold(session_id):
                chat = await conversations.load(session_id)
                chat.compact({"role": "system", "content": result.text})
                await conversations.save(session_id, chat)
        return JSONResponse({"summary": result.text, "tokensSaved": saved})

    @_json_errors
    async def complete(self, body: Mapping[str, Any]) -> Response:
        """``POST {prefix}/complete``: ``{input, system?, model?}`` -> the continuation of
        ``input`` as ``text/plain`` (npm's default system prompt when none is given).

        Returns:
            the text; 400 ``input is required``; 502 if the model fails.
        """
        text = required_text(body, "input")
        system = optional_str(body, "system")
        model = self._model(body.get("model"))
        messages: list[ConversationMessage] = [{"role": "user", "content": text}]
        result = await self._run(model, messages, system or DEFAULT_COMPLETE_SYSTEM_PROMPT)
        return PlainTextResponse(result.text)

    @_json_errors
    async def title(self, body: Mapping[str, Any]) -> Response:
        """``POST {prefix}/title``: ``{messages, model?}`` -> a 2-6 word title, streamed as
        ``text/plain`` (the model sees the first six messages, npm's prompt).

        Returns:
            the streamed text (cut short, and logged, if the model fails midway);
            400 ``messages is required``.
        """
        messages = message_list(body, allow_empty=False)[:6]
        model = self._model(body.get("model"))
        plain: list[ConversationMessage] = [
            {"role": m["role"], "content": m["content"]} for m in messages
        ]

        async def text() -> AsyncIterator[str]:
            try:
                async for item in model_output(model, plain, TITLE_SYSTEM_PROMPT):
                    if isinstance(item, str):
                        yield item
            except Exception as exc:  # the status is sent: end the text where it got to
                logger.warning("title generation failed", exc_info=exc)

        return StreamingResponse(
            text(),
            headers={"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-cache"},
        )

    @_json_errors
    async def stop(self, body: Mapping[str, Any], *, owner: str | None = None) -> Response:
        """``POST {prefix}/stream/stop``: ``{id}`` -> ``{"ok": true}``.

        Stops the generation wherever it runs: here directly, in another worker process
        through the store (that producer ends at its next chunk). An unknown id is also
        ``{"ok": true}``, as npm answers.

        Returns:
            ``{"ok": true}``; 400 ``id is required``; 403 for a stream bound to another owner;
            503 if the store fails.
        """
        stream_id = stream_id_of(body.get("id"), "id is required")
        if not may_access(stream_id, owner):
            raise RequestError(403, "this stream belongs to someone else")
        if self.resumable and await self._generations.stop(stream_id) is None:
            try:
                await (await self._slot.streams()).stop(stream_id)
            except StreamNotFoundError:
                pass
        return JSONResponse({"ok": True})

    @_json_errors
    async def resume(
        self,
        stream_id: str | None,
        after: str | None = None,
        *,
        last_event_id: str | None = None,
        event_source: bool = False,
        owner: str | None = None,
    ) -> Response:
        """``GET {prefix}/stream/resume?id=&after=``: the stream after seq ``after``.

        Two flavours. A plain request (the ``@aibind`` client's ``fetch``) gets npm's bytes:
        the chunks after ``after``, live ones as they land, then the end events; an unknown
        stream ends with ``event: error`` ``Stream read failed``, as npm. A request from a
        browser ``EventSource`` (``event_source``: it sent ``Accept: text/event-stream``; or it
        sent ``Last-Event-ID``) resumes after the larger of ``after`` and ``Last-Event-ID``
        (a non-numeric one, such as the stream id, counts as 0), gets ``retry:`` first and ids
        on every message, 404 for an unknown stream, and ``204 No Content`` once the stream is
        finished and the client has all of it, which makes ``EventSource`` stop reconnecting.

        Returns:
            the SSE response, 204, or a JSON error: 400 ``id parameter is required`` or a bad
            ``after``, ``Resumable streams not enabled``; 403; 404; 503.
        """
        if not self.resumable:
            raise RequestError(400, "Resumable streams not enabled")
        stream_id = stream_id_of(stream_id, "id parameter is required")
        after_seq = parse_after(after)
        if not may_access(stream_id, owner):
            raise RequestError(403, "this stream belongs to someone else")
        if stream_id not in self._generations:
            self._refuse_when_closing()
        store = await self._slot.streams()
        browser = event_source or last_event_id is not None
        if not browser:
            return sse_response(
                self._follow(
                    stream_id, DurableStream.resume(store, stream_id, after_seq, batched=True)
                ),
                stream_id,
            )
        after_seq = max(after_seq, parse_last_event_id(last_event_id))
        status = await store.get_status(stream_id)
        if status is None:
            raise RequestError(404, "stream not found")
        if status.is_terminal and after_seq > status.total_chunks:
            return Response(status_code=204, headers={"Cache-Control": "no-cache"})
        body = DurableStream.resume(store, stream_id, after_seq, event_ids=True, batched=True)
        return sse_response(self._follow(stream_id, self._with_retry(body)), stream_id)

    async def _with_retry(self, body: AsyncIterator[str]) -> AsyncIterator[str]:
        yield format_retry(self.retry_interval)
        try:
            async for message in body:
                yield message
        finally:
            await body.aclose()  # type: ignore[attr-defined]

    def _follow(self, stream_id: str, body: AsyncIterator[str]) -> AsyncIterator[str]:
        """A generation running here ends (``stopped``) on shutdown by itself; a follower of
        one running elsewhere is cut then, so its client reconnects to a live worker."""
        return body if stream_id in self._generations else until_closing(body, self._closing)

    async def _run(
        self, model: Model, messages: list[ConversationMessage], system: str | None
    ) -> ModelResult:
        try:
            return await run_model(model, messages, system)
        except Exception as exc:
            logger.warning("model call failed", exc_info=exc)
            raise RequestError(502, str(exc) or type(exc).__name__) from None
