"""A real browser on the example app (examples/fastapi-chat): headless Chromium (Debian's
``chromium``, driven by Playwright; no browser download) follows an answer with ``EventSource``
while one worker process generates it and another serves the page; the page's process is
killed (SIGKILL) mid-answer and started again. The page must end with the whole answer exactly
once, and after the end the browser makes one request only, answered 204, which closes the
``EventSource`` (readyState 2): no reconnect loop."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from support import REPO, ServerProcess

from aibind.core import open_stores
from aibind.core.sse import decode_chunk

pytestmark = [pytest.mark.timeout(120), pytest.mark.faults]

EXAMPLE = REPO / "examples" / "fastapi-chat"
CHROMIUM = Path(
    os.environ.get("AIBIND_TEST_CHROMIUM")
    or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    or shutil.which("chromium")
    or "/usr/bin/chromium"
)
"""Debian's ``chromium`` (``AIBIND_TEST_CHROMIUM`` names another Chromium build)."""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN_DELAY = "0.02"
RETRY = 0.5  # the example's retry_interval, in seconds


def _missing() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (it is in the test dependency group)"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does it in CI)"
    return None


@pytest.fixture(scope="module", autouse=True)
def browser_available() -> None:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and the browser test cannot run: {reason}")
        pytest.skip(reason)


def load_example(url: str) -> ModuleType:
    """The example's module (for its offline model's reply), configured like the servers."""
    os.environ["AIBIND_URL"] = url
    spec = importlib.util.spec_from_file_location("fastapi_chat_example", EXAMPLE / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    before = os.environ.get("AIBIND_URL")
    yield f"sqlite:///{tmp_path / 'chat.db'}"
    if before is None:
        os.environ.pop("AIBIND_URL", None)
    else:
        os.environ["AIBIND_URL"] = before


def example_server(url: str, log_dir: Path, port: int | None = None) -> ServerProcess:
    env = {"AIBIND_URL": url, "EXAMPLE_TOKEN_DELAY": TOKEN_DELAY, "SERVER_LOG_DIR": str(log_dir)}
    return ServerProcess(env, port=port, app="app:app", app_dir=EXAMPLE)


async def stored_text(url: str, stream_id: str) -> tuple[str, str]:
    """The stream's state and the text of its plain chunks, read from the file."""
    async with open_stores(url) as stores:
        status = await stores.streams.get_status(stream_id)
        assert status is not None
        parts = [decode_chunk(c.data) async for c in stores.streams.read_from(stream_id)]
    return status.state, "".join(data for event, data in parts if not event)


class Traffic:
    """What the page did, in order: requests, responses, failures, and the page's 'done'."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, Any]] = []

    def attach(self, page: Any) -> None:
        page.on("request", lambda r: self.log.append(("request", r.url, r.method)))
        page.on("response", lambda r: self.log.append(("response", r.url, r.status)))
        page.on("requestfailed", lambda r: self.log.append(("failed", r.url, r.failure)))
        page.on("console", lambda m: self.log.append(("console", m.text, None)))

    def after_done(self) -> list[tuple[str, str, Any]]:
        [index] = [i for i, e in enumerate(self.log) if e[:2] == ("console", "aibind:done")]
        return self.log[index + 1 :]


async def page_state(page: Any) -> dict[str, Any]:
    state: dict[str, Any] = await page.evaluate(
        "() => ({state: aibindDemo.state, answer: aibindDemo.answer,"
        " readyState: aibindDemo.es && aibindDemo.es.readyState, log: aibindDemo.log})"
    )
    return state


@pytest.fixture
async def browser_page() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        with tempfile.TemporaryDirectory(prefix="aibind-chromium-") as profile:
            context = await playwright.chromium.launch_persistent_context(
                profile,
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
            )
            try:
                yield await context.new_page()
            finally:
                await context.close()


async def test_page_survives_sigkill_of_its_server_mid_answer(
    url: str, tmp_path: Path, browser_page: Any
) -> None:
    page = browser_page
    generator = example_server(url, tmp_path).start()
    page_server = example_server(url, tmp_path).start()
    servers = [generator, page_server]
    try:
        example = load_example(url)
        session, prompt = "browser-session", "Tell me about the sea"
        expected = example.offline_reply([{"role": "user", "content": prompt}])
        # The generation runs in the generator process; the browser never talks to it.
        async with (
            httpx.AsyncClient(timeout=10) as client,
            client.stream(
                "POST",
                f"{generator.url}/__aibind__/stream",
                json={"prompt": prompt, "sessionId": session},
            ) as post,
        ):
            assert post.status_code == 200
            stream_id = post.headers["x-stream-id"]

        traffic = Traffic()
        traffic.attach(page)
        await page.goto(f"{page_server.url}/#session={session}&stream={stream_id}&q={prompt}")
        await page.wait_for_function(f"aibindDemo.answer.length > {len(expected) // 4}")
        # SIGKILL the page's server mid-answer; the generator goes on writing.
        page_server.signal(signal.SIGKILL)
        page_server.wait(10)
        killed_at = len((await page_state(page))["answer"])
        assert killed_at < len(expected)
        await page.wait_for_function("aibindDemo.log.includes('connection lost, reconnecting…')")
        await asyncio.sleep(0.5)
        page_server = example_server(url, tmp_path, port=page_server.port).start()
        servers.append(page_server)

        await page.wait_for_function("aibindDemo.state === 'done'", timeout=30_000)
        await page.wait_for_function("aibindDemo.es.readyState === 2", timeout=10_000)
        await asyncio.sleep(3 * RETRY)  # time enough for any further reconnect to show
        state = await page_state(page)
        # The whole answer, exactly once: no gap, no duplicate.
        assert state["answer"] == expected
        assert await page.text_content("#conversation li.assistant:last-child") == expected
        assert await stored_text(url, stream_id) == ("done", expected)
        # EventSource reconnected by itself across the restart...
        resume = f"{page_server.url}/__aibind__/stream/resume?id={stream_id}"
        answered = [e for e in traffic.log if e[0] == "response" and e[1] == resume]
        assert len([e for e in answered if e[2] == 200]) >= 2, traffic.log
        # ...and after the end made one request only, answered 204: no reconnect loop.
        after = traffic.after_done()
        assert after == [("request", resume, "GET"), ("response", resume, 204)], after
        assert state["readyState"] == 2
        assert state["state"] == "done"

        # The conversation, saved by the generator process, is what the page shows on reload.
        assert page.url == f"{page_server.url}/#session={session}"  # the page let go of the stream
        await page.reload()  # a new document: the conversation comes from /api/history
        await page.wait_for_function("aibindDemo.state === 'idle'")
        await page.wait_for_function("document.querySelectorAll('#conversation li').length === 2")
        turns = await page.eval_on_selector_all(
            "#conversation li", "els => els.map(e => e.textContent)"
        )
        assert turns == [prompt, expected]

        # A second turn through the page's own form: generated by the page's server this time.
        await page.fill("#prompt", "And then?")
        started = time.monotonic()
        await page.click("#send")
        await page.wait_for_function(
            f"aibindDemo.streamId && aibindDemo.streamId !== '{stream_id}'"
            " && aibindDemo.state === 'done'",
            timeout=30_000,
        )
        second = example.offline_reply(
            [{"role": "user", "content": prompt}, {"role": "user", "content": "And then?"}]
        )
        assert (await page_state(page))["answer"] == second
        assert time.monotonic() - started < 30
        async with httpx.AsyncClient() as client:
            for _ in range(100):
                history = (
                    await client.get(
                        f"{page_server.url}/api/history", params={"session_id": session}
                    )
                ).json()
                if len(history) == 4:
                    break
                await asyncio.sleep(0.05)
        assert [(m["role"], m["content"]) for m in history] == [
            ("user", prompt),
            ("assistant", expected),
            ("user", "And then?"),
            ("assistant", second),
        ]
    finally:
        for server in servers:
            server.stop()
