"""``StreamHandler``: the npm ``@aibind`` stream handler's HTTP protocol for Starlette and FastAPI.

Routes (relative to ``prefix``, default ``/__aibind__``), as npm ``stream-handler.ts``:

=====================  =============================================================
``POST /stream``       ``{prompt, system?, model?, sessionId?}`` -> durable SSE (first
                       message ``event: stream-id``; header ``X-Stream-Id``)
``GET /stream/resume`` ``?id=&after=`` -> the rest of the stream (browser ``EventSource``:
                       ``Last-Event-ID``, ``retry:``, ``204`` once it has everything)
``POST /stream/stop``  ``{id}`` -> ``{"ok": true}``
``POST /chat``         ``{messages, system?, model?}`` -> durable SSE
``POST /compact``      ``{messages, model?, sessionId?}`` -> ``{summary, tokensSaved}``
                       (also at ``/stream/compact``, where the ``@aibind`` client posts it)
``POST /complete``     ``{input, system?, model?}`` -> the continuation as plain text
``POST /title``        ``{messages, model?}`` -> a short title, streamed as plain text
=====================  =============================================================

Errors are ``{"error": "..."}`` with npm's messages and statuses (400 for a bad body, an
unknown model key or a missing id); beyond npm, 401/403 from the ``authorize`` hook, 404 for
an unknown stream in a browser resume, 413 for a body over ``max_body_size``, 502 when the
model of a non-streaming endpoint fails, 503 when a store fails or the server is shutting down.
"""

from __future__ import annotations

import asyncio
import inspect
import signal
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

from aibind.core.protocols import ConversationStore, StreamStore
from aibind.starlette._bodies import RequestError, read_json_object
from aibind.starlette._endpoints import Endpoints
from aibind.starlette._lifecycle import StoreSlot
from aibind.starlette._responses import error_response
from aibind.starlette._signals import chain_signal_handlers
from aibind.starlette.auth import Action, Authorize, AuthRequest, Grant
from aibind.starlette.config import DEFAULT_PREFIX, ConversationConfig, Model
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, Router

__all__ = ["StreamHandler", "create_stream_handler"]


class StreamHandler(Endpoints):
    """Durable, resumable LLM streaming with conversation history, as an ASGI app to mount.

    FastAPI::

        ai = StreamHandler(model=my_model, url="sqlite:///chat.db",
                           conversation=ConversationConfig(max_messages=20), setup=True)
        app = FastAPI(lifespan=ai.lifespan)
        app.mount(ai.prefix, ai.app)

    Starlette: ``Starlette(routes=[ai.mount], lifespan=ai.lifespan)``. Custom routing and
    auth: call the typed methods (:meth:`stream`, :meth:`chat`, :meth:`compact`,
    :meth:`complete`, :meth:`title`, :meth:`stop`, :meth:`resume`) from your own routes; each
    takes the parsed body and returns a Starlette ``Response``.

    Args:
        model: the one model (see :data:`aibind.starlette.config.Model`); a request's
            ``model`` key is then ignored, as npm does.
        models: named models; a request picks one with ``model`` (default: the first).
            Exactly one of ``model`` and ``models`` is required.
        store: the :class:`~aibind.core.protocols.StreamStore` streams live in (the caller
            opens and closes it). Default: the stream store of ``url``, else an in-memory one.
        url: a backend URL (``sqlite:///chat.db``, ``redis://localhost:6379/0``,
            ``postgresql://...``) opened through :func:`aibind.core.open_stores` at startup
            and closed at shutdown; it provides what ``store`` and ``conversation.store`` do
            not.
        resumable: keep streams in ``store`` so clients can resume and stop them (default
            ``True``; npm's default is ``False``). ``False`` streams straight from the model,
            as npm's non-resumable mode (no resume or stop routes).
        conversation: server-side history keyed by the request's ``sessionId``.
        prefix: where :attr:`mount` puts the routes.
        authorize: the hook deciding who may do what (see :mod:`aibind.starlette.auth`).
        max_body_size: the largest request body accepted, in bytes (larger: 413).
        retry_interval: the reconnection delay sent to browsers (``retry:``), in seconds.
        setup: run ``setup()`` on the stores opened from ``url`` at startup (creates missing
            tables; never implied).
        shutdown_signals: signals that start the shutdown at once (see :meth:`lifespan`);
            ``()`` to wait for the server's lifespan shutdown only.

    Raises:
        TypeError: neither or both of ``model``/``models``, a model that is not callable, a
            ``store`` that is not a StreamStore, or an option of the wrong type.
        ValueError: an empty ``models``, a ``prefix`` not starting with ``/``, a limit <= 0,
            or ``conversation.store`` missing without a ``url``.
    """

    def __init__(
        self,
        *,
        model: Model | None = None,
        models: Mapping[str, Model] | None = None,
        store: StreamStore | None = None,
        url: str | None = None,
        resumable: bool = True,
        conversation: ConversationConfig | None = None,
        prefix: str = DEFAULT_PREFIX,
        authorize: Authorize | None = None,
        max_body_size: int = 1_048_576,
        retry_interval: float = 1.0,
        setup: bool = False,
        shutdown_signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT),
    ) -> None:
        if (model is None) == (models is None):
            raise TypeError("give exactly one of model= or models=")
        named: dict[str, Model] = dict(models) if models is not None else {"": model}  # type: ignore[dict-item]
        if not named:
            raise ValueError("models must not be empty")
        for key, value in named.items():
            if not isinstance(key, str) or not callable(value):
                raise TypeError(f"model {key!r} must be a callable under a str key")
        if store is not None and not isinstance(store, StreamStore):
            raise TypeError(f"store must be a StreamStore, not {type(store).__name__}")
        if url is not None and not isinstance(url, str):
            raise TypeError(f"url must be a str, not {type(url).__name__}")
        if conversation is not None and not isinstance(conversation, ConversationConfig):
            raise TypeError("conversation must be a ConversationConfig")
        if conversation is not None and conversation.store is None and url is None:
            raise ValueError("conversation.store is required unless url= provides one")
        if not isinstance(prefix, str) or not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError(f"prefix must start with '/' and not end with it: {prefix!r}")
        if isinstance(max_body_size, bool) or not isinstance(max_body_size, int):
            raise TypeError("max_body_size must be an int (bytes)")
        if max_body_size <= 0:
            raise ValueError(f"max_body_size must be > 0, got {max_body_size}")
        if authorize is not None and not callable(authorize):
            raise TypeError("authorize must be callable")
        conversations = conversation.store if conversation is not None else None
        super().__init__(
            models=named,
            single=models is None,
            resumable=resumable,
            conversation=conversation,
            retry_interval=retry_interval,
            slot=StoreSlot(store, conversations, url, bool(setup)),
        )
        self.prefix = prefix
        """Where :attr:`mount` puts the routes (``/__aibind__`` by default)."""
        self.max_body_size = max_body_size
        self._authorize_hook = authorize
        self._shutdown_signals = tuple(shutdown_signals)
        self._shutdown: asyncio.Task[None] | None = None
        self.app = Router(routes=self._routes())
        """The routes as an ASGI app, to mount at :attr:`prefix`."""

    # ---- mounting and lifecycle --------------------------------------------------------------

    @property
    def mount(self) -> Mount:
        """``Mount(prefix, app=self.app)``, for a Starlette ``routes=[...]`` list."""
        return Mount(self.prefix, app=self.app)

    def _routes(self) -> list[Route]:
        def route(path: str, action: Action) -> Route:
            async def endpoint(request: Request) -> Response:
                return await self._route(request, action)

            name = "aibind" + path.replace("/", "-")
            return Route(path, endpoint, methods=["POST"], name=name)

        routes = [
            route("/stream", "stream"),
            route("/chat", "chat"),
            route("/compact", "compact"),
            # The @aibind stream client posts compact to `{endpoint}/compact`, its endpoint
            # being `{prefix}/stream`; npm's handler only routes `{prefix}/compact`.
            route("/stream/compact", "compact"),
            route("/complete", "complete"),
            route("/title", "title"),
        ]
        if self.resumable:
            routes.append(route("/stream/stop", "stop"))
            routes.append(
                Route("/stream/resume", self._route_resume, methods=["GET"], name="aibind-resume")
            )
        return routes

    async def open(self) -> None:
        """Open the stores that come from ``url`` (and run ``setup()`` if asked). Optional:
        the first request opens them otherwise.

        Raises:
            StoreClosedError: the handler was closed (:meth:`aclose`).
            AibindError: the backend could not be opened (``BackendUnavailableError``,
                ``MissingDriverError``, ``SchemaError`` from ``setup()``...).
        """
        await self._slot.open()

    async def stream_store(self) -> StreamStore:
        """The stream store the handler uses (opened first if needed), e.g. to read a stream
        in a route of your own.

        Raises:
            AibindError: as :meth:`open`.
        """
        return await self._slot.streams()

    async def conversation_store(self) -> ConversationStore | None:
        """The conversation store (opened first if needed), or ``None`` without conversations,
        e.g. to show a session's history in a route of your own.

        Raises:
            AibindError: as :meth:`open`.
        """
        return await self._slot.conversations() if self._conversation else None

    async def aclose(self) -> None:
        """Shut down, in this order: refuse new generations (503); end the responses that
        follow streams generated elsewhere (their clients reconnect to another worker); stop
        every generation running here, so each records ``stopped`` and its followers, here or
        in any process, get ``event: stopped`` and ``event: done`` at once; save their partial
        answers; then close the stores the handler opened. Idempotent.
        """
        self._begin_shutdown()
        assert self._shutdown is not None
        await asyncio.shield(self._shutdown)
        await self._generations.drain()
        await self._slot.aclose()

    def _begin_shutdown(self) -> None:
        if self._shutdown is None:
            self._closing.set()
            self._shutdown = asyncio.get_running_loop().create_task(
                self._generations.stop_all(), name="aibind-starlette shutdown"
            )

    async def __aenter__(self) -> StreamHandler:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        """The app's lifespan: ``FastAPI(lifespan=ai.lifespan)``, ``Starlette(lifespan=...)``,
        or ``async with ai.lifespan(app):`` inside your own. Opens the stores at startup; at
        shutdown runs :meth:`aclose`, which stops running generations before the stores close.

        ASGI servers wait for open responses before they run the lifespan shutdown, and an
        SSE response lasts as long as its generation; so while the lifespan runs, the
        ``shutdown_signals`` (when the server handles them, as uvicorn does) begin the same
        shutdown at once, then reach the server's own handler.
        """
        await self.open()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            loop.call_soon_threadsafe(self._begin_shutdown)

        restore = chain_signal_handlers(self._shutdown_signals, on_signal)
        try:
            yield
        finally:
            restore()
            await self.aclose()

    # ---- the routes: read the body, authorize, call the typed method -------------------------

    async def _grant(
        self, request: Request, action: Action, *, session_id: object, stream_id: object
    ) -> Grant:
        """Ask the ``authorize`` hook; its ``HTTPException`` becomes a :class:`RequestError`."""
        if self._authorize_hook is None:
            return Grant()
        auth = AuthRequest(
            request,
            action,
            session_id if isinstance(session_id, str) else None,
            stream_id if isinstance(stream_id, str) else None,
        )
        try:
            result = self._authorize_hook(auth)
            if inspect.isawaitable(result):
                result = await result
        except HTTPException as exc:
            raise RequestError(exc.status_code, str(exc.detail), exc.headers) from None
        if result is None:
            return Grant()
        if not isinstance(result, Grant):
            raise TypeError(f"authorize must return a Grant or None, not {type(result).__name__}")
        return result

    async def _route(self, request: Request, action: Action) -> Response:
        try:
            body = await read_json_object(request, self.max_body_size)
            grant = await self._grant(
                request, action, session_id=body.get("sessionId"), stream_id=body.get("id")
            )
        except RequestError as error:
            return error_response(error)
        if grant.session_id is not None:
            body["sessionId"] = grant.session_id
        if action == "stream":
            return await self.stream(body, owner=grant.owner)
        if action == "chat":
            return await self.chat(body, owner=grant.owner)
        if action == "stop":
            return await self.stop(body, owner=grant.owner)
        if action == "compact":
            return await self.compact(body)
        if action == "complete":
            return await self.complete(body)
        return await self.title(body)

    async def _route_resume(self, request: Request) -> Response:
        stream_id = request.query_params.get("id")
        try:
            grant = await self._grant(request, "resume", session_id=None, stream_id=stream_id)
        except RequestError as error:
            return error_response(error)
        return await self.resume(
            stream_id,
            request.query_params.get("after"),
            last_event_id=request.headers.get("last-event-id"),
            event_source="text/event-stream" in request.headers.get("accept", "").lower(),
            owner=grant.owner,
        )


def create_stream_handler(**config: Any) -> Starlette:
    """An all-in-one ASGI app (npm ``createStreamHandler``): the routes under ``prefix`` and
    the handler's lifespan, ready for ``uvicorn module:app`` or to mount at ``/``. The handler
    is ``app.state.aibind``.

    Args:
        **config: the keyword arguments of :class:`StreamHandler`.

    Raises:
        TypeError, ValueError: a bad option, as :class:`StreamHandler`.
    """
    handler = StreamHandler(**config)
    app = Starlette(routes=[handler.mount], lifespan=handler.lifespan)
    app.state.aibind = handler
    return app
