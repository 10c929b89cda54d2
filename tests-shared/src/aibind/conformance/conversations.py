"""Conformance: :class:`~aibind.core.protocols.ConversationStore` and the conversation JSON
wire format shared with the npm packages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest

from aibind.conformance.base import ConversationStoreFactory, RawConversations, new_id
from aibind.conformance.fixtures import npm_fixture
from aibind.core.chat_history import ChatHistory
from aibind.core.errors import CorruptDataError, StoreClosedError
from aibind.core.protocols import ConversationStore
from aibind.core.types import ConversationMessage

__all__ = ["ConversationStoreConformance"]

Chat = ChatHistory[ConversationMessage]


def _branching_chat() -> Chat:
    chat: Chat = ChatHistory()
    chat.append({"role": "system", "content": "You are terse."})
    hello = chat.append({"role": "user", "content": "Hello ☃\nsecond line"})
    chat.append({"role": "assistant", "content": "Hi!"})
    chat.edit(hello, {"role": "user", "content": "Edited hello"})
    chat.append({"role": "assistant", "content": "Edited reply"})
    chat.prev_alternative(chat.node_ids[1])
    return chat


class ConversationStoreConformance:
    """Base class of a backend's conversation tests; override :meth:`make_store` and
    :meth:`raw` (see :mod:`aibind.conformance.base`)."""

    supports_cleanup: ClassVar[bool] = False

    @pytest.fixture
    async def make_store(self) -> AsyncIterator[ConversationStoreFactory]:
        """Override: yield a :class:`ConversationStoreFactory`, close its stores afterwards."""
        raise NotImplementedError("the backend's test class must override make_store")
        yield  # type: ignore[unreachable]  # pragma: no cover

    @pytest.fixture
    async def raw(self) -> AsyncIterator[RawConversations]:
        """Override: yield a :class:`RawConversations` on the same storage as ``make_store``."""
        raise NotImplementedError("the backend's test class must override raw")
        yield  # type: ignore[unreachable]  # pragma: no cover

    @pytest.fixture
    async def store(self, make_store: ConversationStoreFactory) -> ConversationStore:
        """A store with default options."""
        return await make_store()

    async def test_load_absent_is_empty(self, store: ConversationStore) -> None:
        chat = await store.load(new_id())
        assert isinstance(chat, ChatHistory)
        assert chat.is_empty
        assert chat.messages == []

    async def test_branching_tree_round_trips(self, store: ConversationStore) -> None:
        sid = new_id()
        chat = _branching_chat()
        await store.save(sid, chat)
        loaded = await store.load(sid)
        assert loaded.to_json() == chat.to_json()
        assert loaded.messages == chat.messages
        assert loaded.size == 5
        assert loaded.alternative_count(loaded.node_ids[1]) == 2

    async def test_save_replaces_and_history_grows(self, store: ConversationStore) -> None:
        sid = new_id()
        chat: Chat = ChatHistory()
        for turn in range(3):
            chat = await store.load(sid)
            chat.append({"role": "user", "content": f"q{turn}"})
            chat.append({"role": "assistant", "content": f"a{turn}"})
            await store.save(sid, chat)
        assert [m["content"] for m in (await store.load(sid)).messages] == [
            "q0",
            "a0",
            "q1",
            "a1",
            "q2",
            "a2",
        ]

    async def test_sessions_are_independent(self, store: ConversationStore) -> None:
        a, b = new_id(), new_id()
        chat: Chat = ChatHistory()
        chat.append({"role": "user", "content": "only in a"})
        await store.save(a, chat)
        assert (await store.load(b)).is_empty
        await store.delete(b)
        assert (await store.load(a)).messages == chat.messages

    async def test_delete(self, store: ConversationStore) -> None:
        sid = new_id()
        await store.save(sid, _branching_chat())
        await store.delete(sid)
        assert (await store.load(sid)).is_empty
        await store.delete(sid)

    async def test_expired_conversation_loads_empty(
        self, make_store: ConversationStoreFactory
    ) -> None:
        store = await make_store(ttl=0.3)
        sid = new_id()
        await store.save(sid, _branching_chat())
        assert not (await store.load(sid)).is_empty
        await asyncio.sleep(0.8)
        assert (await store.load(sid)).is_empty

    async def test_save_refreshes_ttl(self, make_store: ConversationStoreFactory) -> None:
        store = await make_store(ttl=0.8)
        sid = new_id()
        chat = _branching_chat()
        for _ in range(5):
            await asyncio.sleep(0.3)
            await store.save(sid, chat)
        assert (await store.load(sid)).to_json() == chat.to_json()

    async def test_cleanup_removes_expired(self, make_store: ConversationStoreFactory) -> None:
        if not self.supports_cleanup:
            pytest.skip("the backend expires conversations natively (no cleanup())")
        short = await make_store(ttl=0.3)
        long = await make_store(ttl=300.0)
        gone, kept = new_id(), new_id()
        await short.save(gone, _branching_chat())
        await long.save(kept, _branching_chat())
        await asyncio.sleep(0.8)
        assert await short.cleanup() == 1  # type: ignore[attr-defined]
        assert not (await long.load(kept)).is_empty

    async def test_stored_text_is_the_wire_format(
        self, store: ConversationStore, raw: RawConversations
    ) -> None:
        sid = new_id()
        chat = _branching_chat()
        await store.save(sid, chat)
        text = await raw.get(sid)
        assert text is not None
        assert json.loads(text) == json.loads(chat.to_json())
        assert set(json.loads(text)) == {"version", "nodes", "rootIds", "activeLeafId"}

    async def test_reads_what_the_npm_package_wrote(
        self, store: ConversationStore, raw: RawConversations
    ) -> None:
        sid = new_id()
        await raw.put(sid, npm_fixture("chat_history.json"))
        expected = json.loads(npm_fixture("chat_history.expected.json"))
        chat = await store.load(sid)
        assert chat.messages == expected["messages"]
        assert chat.node_ids == expected["nodeIds"]
        assert chat.size == expected["size"]
        await store.save(sid, chat)
        assert json.loads(await raw.get(sid) or "") == json.loads(npm_fixture("chat_history.json"))

    @pytest.mark.parametrize(
        "corrupt",
        [
            "{not json",
            "[]",
            '{"version": 2, "nodes": {}, "rootIds": [], "activeLeafId": null}',
            '{"version": 1, "nodes": {}, "rootIds": ["ghost"], "activeLeafId": null}',
            '{"version": 1, "nodes": ' + "[" * 20000 + "]" * 20000 + "}",  # RecursionError
        ],
        ids=["not-json", "array", "version-2", "ghost-root", "nested-too-deeply"],
    )
    async def test_corrupt_data_raises_and_is_kept(
        self, store: ConversationStore, raw: RawConversations, corrupt: str
    ) -> None:
        sid = new_id()
        await raw.put(sid, corrupt)
        with pytest.raises(CorruptDataError):
            await store.load(sid)
        assert await raw.get(sid) == corrupt

    async def test_loading_what_was_saved_gives_an_independent_tree(
        self, store: ConversationStore, raw: RawConversations
    ) -> None:
        """A load of the text this store saved skips parsing (the saved tree is shared, copied
        on write): every tree it gives must still behave as a freshly parsed one."""
        sid = new_id()
        chat = _branching_chat()
        text = chat.to_json()
        await store.save(sid, chat)
        chat.append({"role": "user", "content": "after the save"})  # the saved tree moves on
        first = await store.load(sid)
        assert first.to_json() == text
        first.append({"role": "user", "content": "only in the first"})
        first.tree.remove(first.node_ids[0])
        second = await store.load(sid)
        assert second.to_json() == text
        assert json.loads(second.to_json()) == json.loads(await raw.get(sid) or "")
        second.messages[-1]["content"] = "changed in place"  # not allowed, but must not leak
        third = await store.load(sid)
        assert third.to_json() == text
        assert "only in the first" not in third.to_json()

    async def test_another_writers_text_is_loaded(
        self, store: ConversationStore, raw: RawConversations
    ) -> None:
        sid = new_id()
        chat = _branching_chat()
        await store.save(sid, chat)
        other = _branching_chat()
        other.append({"role": "user", "content": "written by a Node service"})
        await raw.put(sid, other.to_json())
        loaded = await store.load(sid)
        assert loaded.messages[-1] == {"role": "user", "content": "written by a Node service"}
        await raw.put(sid, "{not json")
        with pytest.raises(CorruptDataError):
            await store.load(sid)
        await store.delete(sid)
        assert (await store.load(sid)).is_empty

    async def test_bad_arguments(self, store: ConversationStore) -> None:
        with pytest.raises(TypeError, match="session_id"):
            await store.load(3)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="session_id"):
            await store.load("")
        with pytest.raises(TypeError, match="chat"):
            await store.save(new_id(), {"version": 1})  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="session_id"):
            await store.delete(None)  # type: ignore[arg-type]

    async def test_empty_stored_value_loads_empty(
        self, store: ConversationStore, raw: RawConversations
    ) -> None:
        sid = new_id()
        await raw.put(sid, "")
        assert (await store.load(sid)).is_empty

    async def test_store_lifecycle(self, make_store: ConversationStoreFactory) -> None:
        store = await make_store()
        async with store as entered:
            assert entered is store
            sid = new_id()
            await entered.save(sid, _branching_chat())
        await store.aclose()  # idempotent
        with pytest.raises(StoreClosedError):
            await store.load(sid)
        with pytest.raises(StoreClosedError):
            await store.save(sid, _branching_chat())
        other = await make_store()
        if other is not store:  # (memory stores cannot share data between instances)
            assert not (await other.load(sid)).is_empty, "closing one store lost data"
