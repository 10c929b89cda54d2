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
import socket
import statistics
import time
from typing import Any

from common import Sizes

from aibind.core.durable import DurableStream
from aibind.core.memory import MemoryStreamStore


async def _model(messages: Any, system: Any) -> Any:  # never called: the routes only resume
    raise AssertionError("the resume bench runs no model")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def http_resume(sizes: Sizes) -> dict[str, Any]:
    """Median and cold milliseconds of ``sizes.replay_repeats + 1`` GETs of each route
    (``pages``: the handler's resume; ``messages``: a write per message)."""
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
    server = uvicorn.Server(
        uvicorn.Config(app, port=_free_port(), log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.01)
        base = f"http://127.0.0.1:{server.config.port}"
        paths = {"pages": "/__aibind__/stream/resume?id=s&after=0", "messages": "/per-message"}
        times: dict[str, list[float]] = {side: [] for side in paths}
        bodies: dict[str, str] = {}
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(sizes.replay_repeats + 1):
                for side, path in paths.items():
                    start = time.perf_counter()
                    response = await client.get(path)
                    times[side].append((time.perf_counter() - start) * 1000)
                    response.raise_for_status()
                    bodies[side] = response.text
        if bodies["pages"] != bodies["messages"]:
            raise AssertionError("the two resume routes sent different bytes")
    finally:
        server.should_exit = True
        await serving
        await store.aclose()
    return {
        side: {"cold": found[0], "median": statistics.median(found[1:])}
        for side, found in times.items()
    }
