"""A resume over HTTP: the time for a client to get the whole SSE replay of a finished stream
from ``aibind-starlette``'s ``GET {prefix}/stream/resume`` served by uvicorn, against the same
bytes written one message per write (``DurableStream.resume`` without ``batched``, what the
route did before it wrote a page per write).

Both routes serve one memory store in this process, so the figure is the HTTP path alone;
client and server share the event loop, as they share the machine either way. The bodies are
checked to be identical.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import compare
from common import Sizes

from aibind.core.durable import DurableStream
from aibind.core.memory import MemoryStreamStore


async def _model(messages: Any, system: Any) -> Any:  # never called: the routes only resume
    raise AssertionError("the resume bench runs no model")


async def http_resume(sizes: Sizes) -> dict[str, Any]:
    """Median and cold milliseconds of ``sizes.replay_repeats + 1`` GETs of each route, timed
    as the replays are (:func:`compare.reads`): ``pages``, the handler's resume; ``messages``,
    a write per message."""
    import httpx
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    from aibind.starlette import StreamHandler

    store = MemoryStreamStore()
    await store.create("s")
    await store.append_many("s", [f"\x01token {i} " for i in range(sizes.replay_chunks)])
    await store.complete("s")
    handler = StreamHandler(model=_model, store=store)

    async def per_message(request: Any) -> StreamingResponse:
        body = DurableStream.resume(store, "s", 0)
        return StreamingResponse(body, media_type="text/event-stream")

    app = Starlette(routes=[handler.mount, Route("/per-message", per_message)])
    server = uvicorn.Server(uvicorn.Config(app, port=0, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    bodies: dict[str, str] = {}
    try:
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]  # port 0: the one the OS gave
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            def get(side: str, path: str) -> Callable[[], Awaitable[None]]:
                async def run() -> None:
                    response = await client.get(path)
                    response.raise_for_status()
                    bodies[side] = response.text

                return run

            found = await compare.reads(
                get("pages", "/__aibind__/stream/resume?id=s&after=0"),
                get("messages", "/per-message"),
                sizes.replay_repeats,
            )
        if bodies["pages"] != bodies["messages"]:
            raise AssertionError("the two resume routes sent different bytes")
    finally:
        server.should_exit = True
        await serving
        await store.aclose()
    return {"pages": found["ours"], "messages": found["raw"]}
