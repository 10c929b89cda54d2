"""Conformance: a stateful property test (hypothesis ``RuleBasedStateMachine``) comparing a
stream store with a reference model over random sequences of create / append / append_many /
get_status / read_from / stop / complete / fail / delete / cleanup, with bad input mixed in.

The machine runs in a worker thread and sends each call to the test's event loop (where the
store and its connections live), so a backend needs nothing beyond its ``make_store`` fixture.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from aibind.conformance.base import StreamStoreFactory, StreamStoreFixtures
from aibind.core.errors import StreamExistsError, StreamNotActiveError, StreamNotFoundError
from aibind.core.protocols import StreamStore
from aibind.core.types import StreamChunk, StreamStatus

__all__ = ["StreamModelTests"]

T = TypeVar("T")

# Text a chunk may hold on every backend: no NUL, no lone surrogates; newlines, \x01 (the
# durable-SSE separator), astral characters and empty strings included.
_ALPHABET = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
CHUNKS = st.text(_ALPHABET, max_size=12) | st.sampled_from(["", "\n", "a\x01b", "😀\r\n"])
BAD_CHUNKS = st.sampled_from(["a\x00b", "\ud800", "x\udfffy"])


@dataclass
class _Model:
    state: str = "active"
    chunks: list[str] = field(default_factory=list)
    error: str | None = None

    def status(self) -> StreamStatus:
        return StreamStatus(self.state, len(self.chunks), self.error)  # type: ignore[arg-type]


class _Machine(RuleBasedStateMachine):
    store: StreamStore
    loop: asyncio.AbstractEventLoop
    capabilities: frozenset[str]

    def __init__(self) -> None:
        super().__init__()
        run = uuid.uuid4().hex[:8]
        self.ids = [f"model-{run}-{i}" for i in range(2)]
        self.model: dict[str, _Model] = {}

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def expect(self, coro: Coroutine[Any, Any, T], error: type[Exception] | None) -> T | None:
        if error is None:
            return self.call(coro)
        try:
            self.call(coro)
        except error:
            return None
        raise AssertionError(f"expected {error.__name__}")

    def _why_not(self, stream_id: str) -> type[Exception] | None:
        model = self.model.get(stream_id)
        if model is None:
            return StreamNotFoundError
        return None if model.state == "active" else StreamNotActiveError

    @rule(i=st.integers(0, 1))
    def create(self, i: int) -> None:
        sid = self.ids[i]
        self.expect(self.store.create(sid), StreamExistsError if sid in self.model else None)
        self.model.setdefault(sid, _Model())

    @rule(i=st.integers(0, 1), chunk=CHUNKS)
    def append(self, i: int, chunk: str) -> None:
        sid = self.ids[i]
        error = self._why_not(sid)
        seq = self.expect(self.store.append(sid, chunk), error)
        if error is None:
            self.model[sid].chunks.append(chunk)
            assert seq == len(self.model[sid].chunks)

    @rule(i=st.integers(0, 1), chunks=st.lists(CHUNKS, max_size=5))
    def append_many(self, i: int, chunks: list[str]) -> None:
        if "append_many" not in self.capabilities:
            return
        sid = self.ids[i]
        error = self._why_not(sid)
        seq = self.expect(self.store.append_many(sid, chunks), error)  # type: ignore[attr-defined]
        if error is None:
            self.model[sid].chunks.extend(chunks)
            assert seq == len(self.model[sid].chunks)

    @rule(i=st.integers(0, 1), chunk=BAD_CHUNKS)
    def append_bad_chunk(self, i: int, chunk: str) -> None:
        self.expect(self.store.append(self.ids[i], chunk), ValueError)

    @rule(i=st.integers(0, 1), end=st.sampled_from(["complete", "stop", "fail"]))
    def finish(self, i: int, end: str) -> None:
        sid = self.ids[i]
        model = self.model.get(sid)
        error = "boom\nline 2"
        call = self.store.fail(sid, error) if end == "fail" else getattr(self.store, end)(sid)
        self.expect(call, StreamNotFoundError if model is None else None)
        if model is not None and model.state == "active":
            model.state = {"complete": "done", "stop": "stopped", "fail": "error"}[end]
            model.error = error if end == "fail" else None

    @rule(i=st.integers(0, 1))
    def get_status(self, i: int) -> None:
        sid = self.ids[i]
        model = self.model.get(sid)
        assert self.call(self.store.get_status(sid)) == (None if model is None else model.status())

    @rule(i=st.integers(0, 1), data=st.data())
    def read_from(self, i: int, data: st.DataObject) -> None:
        sid = self.ids[i]
        model = self.model.get(sid)
        total = 0 if model is None else len(model.chunks)
        after = data.draw(st.integers(0, total + 2), label="after_seq")
        expected = [] if model is None else model.chunks[after:]
        want = [StreamChunk(after + n, text) for n, text in enumerate(expected, 1)]

        async def read() -> list[StreamChunk]:
            got: list[StreamChunk] = []
            iterator = self.store.read_from(sid, after)
            try:
                if model is not None and model.state == "active":
                    # live: take what is stored, then stop following
                    for _ in want:
                        got.append(await asyncio.wait_for(iterator.__anext__(), 10))
                else:
                    async for chunk in iterator:
                        got.append(chunk)
            finally:
                await iterator.aclose()  # type: ignore[attr-defined]
            return got

        if model is None:
            self.expect(read(), StreamNotFoundError)
        else:
            assert self.call(read()) == want

    @rule(i=st.integers(0, 1))
    def delete(self, i: int) -> None:
        if "delete" not in self.capabilities:
            return
        sid = self.ids[i]
        self.call(self.store.delete(sid))  # type: ignore[attr-defined]
        self.model.pop(sid, None)
        assert self.call(self.store.get_status(sid)) is None

    @rule()
    def cleanup(self) -> None:
        if "cleanup" not in self.capabilities:
            return
        self.call(self.store.cleanup())  # type: ignore[attr-defined]
        # nothing is past its ttl: every modelled stream is still there
        for sid, model in self.model.items():
            assert self.call(self.store.get_status(sid)) == model.status()

    def teardown(self) -> None:
        # The end of every run: each modelled stream, whole, equals the model.
        for sid, model in self.model.items():
            assert self.call(self.store.get_status(sid)) == model.status()
            if model.state != "active":
                got = self.call(_collect(self.store, sid))
                assert got == [StreamChunk(n, c) for n, c in enumerate(model.chunks, 1)]
            if "delete" in self.capabilities:
                self.call(self.store.delete(sid))  # type: ignore[attr-defined]


async def _collect(store: StreamStore, stream_id: str) -> list[StreamChunk]:
    return [chunk async for chunk in store.read_from(stream_id)]


class StreamModelTests(StreamStoreFixtures):
    """The store behaves like the reference model under random operation sequences."""

    model_examples = 60
    """How many random sequences to run (each up to ``model_steps`` calls)."""
    model_steps = 30

    async def test_store_matches_a_reference_model(self, make_store: StreamStoreFactory) -> None:
        store = await make_store(ttl=300.0)
        loop = asyncio.get_running_loop()
        capabilities = self.capabilities

        class Machine(_Machine):
            pass

        Machine.store = store
        Machine.loop = loop
        Machine.capabilities = capabilities
        config = settings(
            max_examples=self.model_examples,
            stateful_step_count=self.model_steps,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        await asyncio.to_thread(run_state_machine_as_test, Machine, settings=config)
