"""``DurableStream``: pipe a generation into any :class:`~aibind.core.protocols.StreamStore` and
serve it as resumable server-sent events.

The Python counterpart of npm ``@aibind/core``'s ``DurableStream``: ``create`` becomes
:meth:`DurableStream.start`, its ``response`` body becomes iterating the object (or
:meth:`DurableStream.sse`), ``stop()`` becomes ``await stop()``, and ``resume`` keeps its name.
The SSE text and the stored chunk format are those of :mod:`aibind.core.sse`.

Example (any ASGI framework; Starlette shown)::

    durable = await DurableStream.start(store, llm_tokens())
    return StreamingResponse(durable, headers=durable.headers)

    # the client reconnects with Last-Event-ID:
    after = parse_last_event_id(request.headers.get("last-event-id"))
    return StreamingResponse(DurableStream.resume(store, stream_id, after), headers=SSE_HEADERS)

(``aibind-starlette`` serves all of this, and the npm handler's routes, ready-made.)

Shutdown order. A producer runs in a background task of the event loop, so it outlives the
request that started it, and it can only record its outcome while its store is open. When an
application stops, do it in this order:

1. ``await DurableStream.stop_all()`` (or ``stop_all(store)`` for one store's streams): every
   running generation is stopped and records ``stopped``; clients following it, in this or any
   other process, get ``event: stopped`` and ``event: done`` at once instead of waiting for
   the store's idle expiry (``ttl``);
2. then close the stores (``await store.aclose()``, or leave their ``async with``).

In a Starlette/FastAPI app, step 1 belongs at the end of the lifespan, before the stores close
(``aibind-starlette``'s ``StreamHandler.lifespan`` does it). A producer still running when its
event loop shuts down (``asyncio.run`` cancelling leftover tasks) records ``stopped`` too, as
long as its store is still open then; once the store is closed nothing can be recorded, and the
stream stays ``active`` until readers give up after ``ttl`` seconds. Stores are not told about
the streams that use them, so only step 1 makes the order right.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable
from typing import ClassVar

from aibind.core.errors import StreamNotActiveError
from aibind.core.protocols import StreamStore
from aibind.core.sse import SSE_HEADERS, encode_chunk, iter_sse, iter_sse_pages
from aibind.core.types import StreamState, StreamStatus
from aibind.core.validation import check_after_seq, check_id

__all__ = ["DurableStream", "SourceItem", "encode_item"]

logger = logging.getLogger("aibind.core.durable")

SourceItem = str | tuple[str, str]
"""An item of a :class:`DurableStream` source: plain text (``str``), sent as a chunk with an
``id``, or an ``(event, data)`` pair, sent as a named SSE event (``event: <event>``)."""


def encode_item(item: object) -> str:
    """Encode one source item as the chunk a :class:`DurableStream` stores.

    Args:
        item: a :data:`SourceItem`: plain text, or an ``(event, data)`` pair.

    Returns:
        ``"\\x01<text>"`` or ``"<event>\\x01<data>"`` (see :func:`aibind.core.sse.encode_chunk`).

    Raises:
        TypeError: ``item`` is neither a ``str`` nor a pair of ``str``.
        ValueError: the event is empty or contains ``"\\n"``, ``"\\r"`` or ``"\\x01"``.
    """
    if isinstance(item, str):
        return encode_chunk(item)
    if isinstance(item, tuple) and len(item) == 2:
        event, data = item
        if not isinstance(event, str) or not event:
            raise ValueError(f"source item {item!r}: the event must be a non-empty str")
        return encode_chunk(data, event)
    raise TypeError(f"source items must be str or (event, data) tuples, not {type(item).__name__}")


def _error_message(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).replace("\x00", "\ufffd")


class DurableStream:
    """One generation being piped into a store, readable as SSE by any number of clients.

    Create it with :meth:`start`. A background task appends each source item to the store
    (``"{event}\\x01{data}"``, see :func:`aibind.core.sse.encode_chunk`) and finally records
    the outcome: ``complete()`` when the source ends, ``fail(str(exc))`` when it raises,
    ``stop()`` when :meth:`stop` is called. The task does not depend on any reader: a client
    that disconnects leaves the generation running, and reconnects with :meth:`resume`.

    If the stream is stopped (or finished) through the store by someone else, for instance a
    "stop" endpoint served by another worker calling ``store.stop(id)``, the producer notices
    at its next append, closes the source and ends quietly.

    Attributes:
        id: the stream id.
        store: the store the stream lives in.
    """

    _running: ClassVar[dict[asyncio.Task[StreamStatus], DurableStream]] = {}
    """The running producers (strong references, so an unreferenced stream keeps running),
    for :meth:`running` and :meth:`stop_all`."""

    def __init__(self, store: StreamStore, stream_id: str, source: AsyncIterator[SourceItem]):
        """Internal: use :meth:`start`."""
        self.id = stream_id
        self.store = store
        self._source = source
        self._stop_requested = False
        self._in_source = False
        self._task: asyncio.Task[StreamStatus] = asyncio.get_running_loop().create_task(
            self._pipe(), name=f"aibind DurableStream {stream_id}"
        )
        DurableStream._running[self._task] = self
        self._task.add_done_callback(_task_done)

    @classmethod
    async def start(
        cls,
        store: StreamStore,
        source: AsyncIterable[SourceItem],
        *,
        stream_id: str | None = None,
    ) -> DurableStream:
        """Create the stream in ``store`` and start piping ``source`` into it in the background.

        Source of the behaviour: npm ``DurableStream.create({ store, source })``.

        Args:
            store: any :class:`~aibind.core.protocols.StreamStore`.
            source: an async iterable of :data:`SourceItem` (``str`` text chunks, or
                ``(event, data)`` pairs for named events), e.g. an LLM SDK's token stream.
                An item of another type fails the stream (``TypeError`` recorded as its error).
            stream_id: the id to use; default a new ``uuid4().hex``.

        Returns:
            the running stream; iterate it for the SSE text.

        Raises:
            TypeError / ValueError: ``stream_id`` is not a valid id, or ``source`` is not an
                async iterable (nothing is created then).
            StreamExistsError: ``stream_id`` is taken (the source is left untouched).
        """
        stream_id = uuid.uuid4().hex if stream_id is None else check_id(stream_id)
        if not isinstance(source, AsyncIterable):
            raise TypeError(f"source must be an async iterable, not {type(source).__name__}")
        await store.create(stream_id)
        return cls(store, stream_id, aiter(source))

    @classmethod
    def running(cls, store: StreamStore | None = None) -> list[DurableStream]:
        """The streams whose producer is still running in the current event loop.

        Args:
            store: only the streams of this store (compared by identity); ``None`` for all.

        Returns:
            the running streams, oldest first.

        Raises:
            RuntimeError: called outside a running event loop.
        """
        loop = asyncio.get_running_loop()
        return [
            stream
            for task, stream in list(cls._running.items())
            if task.get_loop() is loop
            and not task.done()
            and (store is None or stream.store is store)
        ]

    @classmethod
    async def stop_all(cls, store: StreamStore | None = None) -> dict[str, StreamStatus]:
        """Stop every stream still running in the current event loop (see :meth:`stop`), all
        at once, and wait until each has recorded its outcome: the first step of shutting an
        application down, before its stores close (see the module docs).

        A stream whose store fails while stopping is left out of the result and logged
        (logger ``aibind.core.durable``); the others are stopped regardless.

        Args:
            store: only the streams of this store; ``None`` (default) for all.

        Returns:
            each stopped stream's id mapped to its final status (``stopped``, or ``done`` /
            ``error`` for one that ended on its own meanwhile).

        Raises:
            RuntimeError: called outside a running event loop, or from inside a source.
        """
        streams = cls.running(store)
        current = asyncio.current_task()
        if any(stream._task is current for stream in streams):
            raise RuntimeError("DurableStream.stop_all() cannot be awaited from inside a source")
        outcomes = await asyncio.gather(*(s.stop() for s in streams), return_exceptions=True)
        stopped: dict[str, StreamStatus] = {}
        for stream, outcome in zip(streams, outcomes, strict=True):
            if isinstance(outcome, StreamStatus):
                stopped[stream.id] = outcome
            elif isinstance(outcome, asyncio.CancelledError):
                continue
            elif isinstance(outcome, Exception):
                logger.error("could not stop stream %r", stream.id, exc_info=outcome)
            else:
                raise outcome
        return stopped

    @staticmethod
    def resume(
        store: StreamStore,
        stream_id: str,
        after_seq: int = 0,
        *,
        event_ids: bool = False,
        batched: bool = False,
    ) -> AsyncIterator[str]:
        """The SSE text a reconnecting client gets: every chunk after ``after_seq`` (live ones
        included, as they land), then the end events. No stream-id message.

        Source of the behaviour: npm ``DurableStream.resume({ store, streamId, afterSeq })``.
        Arguments are checked now; the store is read only when the result is iterated. An
        unknown or expired stream, or any read failure, ends the text with ``event: error`` /
        ``data: Stream read failed`` and ``event: done`` (see
        :func:`aibind.core.sse.iter_sse`); check ``await store.get_status(stream_id)`` first
        to answer 404 instead.

        Args:
            store: the store the stream lives in.
            stream_id: the stream to resume.
            after_seq: the last seq the client has (0 replays everything); see
                :func:`aibind.core.sse.parse_last_event_id` for the ``Last-Event-ID`` header.
            event_ids: send the browser variant (named events and the final ``done`` carry
                ids too, see :mod:`aibind.core.sse`), so a browser ``EventSource``'s
                ``Last-Event-ID`` says exactly what it has. ``False`` (default) is npm's bytes.
            batched: one text per page the store reads (``store.read_pages``, see
                :func:`aibind.core.sse.iter_sse_pages`) instead of one per message: the same
                bytes in far fewer writes when a long stream is replayed.

        Returns:
            an async iterator of SSE texts: one message each, or with ``batched`` the
            messages of one page each.

        Raises:
            TypeError / ValueError: a malformed ``stream_id`` or ``after_seq``.
        """
        check_id(stream_id)
        check_after_seq(after_seq)
        return _sse_of(store, stream_id, after_seq, new=False, event_ids=event_ids, batched=batched)

    def sse(self, *, batched: bool = False) -> AsyncIterator[str]:
        """The SSE text of the whole stream for a new reader: the stream-id message, every
        chunk from the first (live ones as they land), then the end events.

        Each call (and each ``async for ... in durable``) is an independent reader that
        starts from the beginning; a reader never slows the producer down.

        Args:
            batched: one text per page the store reads (the chunks that landed since the
                reader's last read; see :func:`aibind.core.sse.iter_sse_pages`) instead of
                one per message: the same bytes in fewer writes when the model outpaces the
                client.

        Returns:
            an async iterator of SSE texts (see :func:`aibind.core.sse.iter_sse`): one
            message each, or with ``batched`` the messages of one page each.
        """
        return _sse_of(self.store, self.id, 0, new=True, event_ids=False, batched=batched)

    def __aiter__(self) -> AsyncIterator[str]:
        """Same as :meth:`sse`, so the stream itself can be a streaming response body."""
        return self.sse()

    @property
    def headers(self) -> dict[str, str]:
        """Response headers for the SSE body: :data:`aibind.core.sse.SSE_HEADERS` plus
        ``X-Stream-Id`` (as the npm response sends)."""
        return {**SSE_HEADERS, "X-Stream-Id": self.id}

    def done(self) -> bool:
        """``True`` once the producer has finished (the stream's outcome is recorded)."""
        return self._task.done()

    async def wait(self) -> StreamStatus:
        """Wait for the producer to finish and return the stream's final status.

        A failed *source* is not raised here: it is recorded in the stream (``state ==
        "error"``, ``error == str(exc)``) and logged (logger ``aibind.core.durable``).
        Cancelling the caller does not cancel the producer.

        Returns:
            the final :class:`~aibind.core.types.StreamStatus` (``done``, ``stopped`` or
            ``error``).

        Raises:
            AibindError (or what the store raised): the *store* failed, so the outcome could
                not be recorded (e.g. the stream expired or was deleted mid-generation).
            asyncio.CancelledError: the producer was cancelled from outside (event loop
                shutdown).
        """
        await asyncio.wait({self._task})
        return self._task.result()

    async def stop(self) -> StreamStatus:
        """Stop the generation: close the source (so the model call is abandoned), record
        ``stopped`` in the store, and return the final status once the producer has ended.

        A no-op returning the final status if the producer has already finished. Items the
        source yielded before the stop stay stored. Source of the behaviour: npm
        ``DurableStream.stop()`` (an ``AbortController``).

        Raises:
            RuntimeError: called from inside the source (it would wait for itself).
            AibindError: what :meth:`wait` raises (the store failed to record the outcome).
        """
        if asyncio.current_task() is self._task:
            raise RuntimeError("DurableStream.stop() cannot be awaited from inside its source")
        if not self._task.done():
            self._stop_requested = True
            if self._in_source:
                self._task.cancel()
        return await self.wait()

    def __repr__(self) -> str:
        state = "finished" if self._task.done() else "running"
        return f"<DurableStream {self.id!r} {state}>"

    async def _pipe(self) -> StreamStatus:
        """The producer task: source -> store, then record the outcome."""
        store, stream_id, source = self.store, self.id, self._source
        state: StreamState = "done"
        error: str | None = None
        last_seq = 0
        try:
            try:
                while not self._stopping():
                    self._in_source = True
                    try:
                        item = await anext(source)
                    except StopAsyncIteration:
                        break
                    finally:
                        self._in_source = False
                    if self._stopping():
                        break
                    chunk = encode_item(item)
                    try:
                        last_seq = await store.append(stream_id, chunk)
                    except StreamNotActiveError:
                        # Stopped or finished through the store by someone else.
                        return await self._final_status("stopped", None, last_seq)
                if self._stop_requested:
                    state = "stopped"
                    await store.stop(stream_id)
                else:
                    await store.complete(stream_id)
            except asyncio.CancelledError:
                if not self._stop_requested:
                    # Cancelled from outside (event loop shutdown): record it, best effort.
                    try:
                        await store.stop(stream_id)
                    except Exception:
                        logger.warning(
                            "could not record stream %r as stopped", stream_id, exc_info=True
                        )
                    raise
                task = asyncio.current_task()
                if task is not None and hasattr(task, "uncancel"):
                    task.uncancel()
                state = "stopped"
                await store.stop(stream_id)
            except Exception as exc:
                logger.warning("stream %r failed", stream_id, exc_info=exc)
                state, error = "error", _error_message(exc)
                await store.fail(stream_id, error)
            return await self._final_status(state, error, last_seq)
        finally:
            await _close_source(source, stream_id)

    def _stopping(self) -> bool:
        # A method, not the attribute, so type checkers do not narrow it across awaits.
        return self._stop_requested

    async def _final_status(self, state: StreamState, error: str | None, seq: int) -> StreamStatus:
        status = await self.store.get_status(self.id)
        return status if status is not None else StreamStatus(state, seq, error)


async def _close_source(source: AsyncIterator[SourceItem], stream_id: str) -> None:
    aclose = getattr(source, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except Exception:
        logger.warning("closing the source of stream %r failed", stream_id, exc_info=True)


def _task_done(task: asyncio.Task[StreamStatus]) -> None:
    DurableStream._running.pop(task, None)
    if task.cancelled():
        return
    exc = task.exception()  # marks it retrieved: never "exception was never retrieved"
    if exc is not None:
        logger.error("%s ended with an unrecorded store error", task.get_name(), exc_info=exc)


def _sse_of(
    store: StreamStore,
    stream_id: str,
    after_seq: int,
    *,
    new: bool,
    event_ids: bool,
    batched: bool,
) -> AsyncIterator[str]:
    """The SSE text of ``stream_id`` after ``after_seq`` (:meth:`DurableStream.sse` with
    ``new``: the stream-id message first; :meth:`DurableStream.resume` without), a message per
    text or, ``batched``, a page per text."""
    announced = stream_id if new else None

    def status() -> Awaitable[StreamStatus | None]:
        return store.get_status(stream_id)

    if batched:
        pages = store.read_pages(stream_id, after_seq)
        return iter_sse_pages(pages, status, stream_id=announced, event_ids=event_ids)
    chunks = store.read_from(stream_id, after_seq)
    return iter_sse(chunks, status, stream_id=announced, event_ids=event_ids)
