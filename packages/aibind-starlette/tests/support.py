"""Test helpers: models, clients over the ASGI app and over real uvicorn servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

from aibind.core.durable import SourceItem
from aibind.core.protocols import ConversationStore
from aibind.core.types import ConversationMessage
from aibind.starlette import StreamHandler

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
NPM = json.loads((HERE / "npm_handler" / "responses.json").read_text(encoding="utf-8"))
"""What the npm handler answered (see npm_handler/README.md)."""

USAGE = '{"inputTokens":3,"outputTokens":5}'
FIXED: list[SourceItem] = ["Hello", " wor\nld", "!", ("usage", USAGE)]
"""The items of the npm capture's mock model, as a Python model yields them."""

DONE = "event: done\ndata: \n\n"


@dataclass
class Model:
    """A model yielding fixed items (optionally one at a time from a queue), recording calls.

    With ``gated=True`` each item waits for :meth:`release`; ``None`` in the queue ends the
    output, an exception raises it.
    """

    items: Sequence[SourceItem] = field(default_factory=lambda: list(FIXED))
    gated: bool = False
    calls: list[tuple[list[ConversationMessage], str | None]] = field(default_factory=list)
    closed: int = 0
    queue: asyncio.Queue[SourceItem | BaseException | None] = field(default_factory=asyncio.Queue)

    async def __call__(
        self, messages: list[ConversationMessage], system: str | None
    ) -> AsyncIterator[SourceItem]:
        self.calls.append((messages, system))
        try:
            if not self.gated:
                for item in self.items:
                    yield item
                return
            while True:
                queued = await self.queue.get()
                if queued is None:
                    return
                if isinstance(queued, BaseException):
                    raise queued
                yield queued
        finally:
            self.closed += 1

    def release(self, *items: SourceItem | BaseException | None) -> None:
        for item in items:
            self.queue.put_nowait(item)


@contextlib.asynccontextmanager
async def asgi_client(
    handler: StreamHandler, app: ASGIApp | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client over the handler's routes (mounted at its prefix) inside its lifespan.
    httpx's ASGI transport returns a response once the app has finished it."""
    from starlette.applications import Starlette

    served = app or Starlette(routes=[handler.mount])
    async with handler.lifespan(served):
        transport = httpx.ASGITransport(app=served)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def saved_messages(
    store: ConversationStore, session_id: str, count: int
) -> list[ConversationMessage]:
    """The session's messages once it holds ``count`` of them: a turn is saved just after its
    answer ends, so a test that has the answer waits for the save (bounded by its timeout)."""
    while len(messages := (await store.load(session_id)).messages) < count:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    return messages


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def uvicorn_server(app: ASGIApp) -> AsyncIterator[str]:
    """Serve ``app`` with a real uvicorn server (lifespan on) in this event loop, on a free
    port; yields its base URL and shuts it down (graceful, 5 s at most) on exit."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="on", log_level="warning", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


SERVED_APP = HERE / "served_app.py"


class ServerProcess:
    """``uvicorn`` in a child process serving ``served_app:app`` (or another app) on a fixed
    port, configured by environment variables (see served_app.py)."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        port: int | None = None,
        app: str = "served_app:app",
        app_dir: Path = HERE,
        cwd: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self._app, self._app_dir, self._cwd = app, app_dir, cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(self._env.get("SERVER_LOG_DIR", "/tmp")) / f"aibind-test-{self.port}.log"

    def start(self, timeout: float = 20.0) -> ServerProcess:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            self._app,
            "--app-dir",
            str(self._app_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--lifespan",
            "on",
            "--log-level",
            "warning",
        ]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, env=self._env, stdout=log, stderr=log, cwd=self._cwd
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited ({self.process.returncode}): {self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"server on port {self.port} did not start: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        """Kill the process if it still runs (test teardown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


def expect_json(response: httpx.Response, status: int, body: Any) -> None:
    """The response is ``status`` with exactly the JSON ``body`` (as bytes npm would send)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.content == json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
