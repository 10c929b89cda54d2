"""The conversation store's cache of saved histories (``HistoryCache``) and the copy-on-write
tree sharing behind it (``share_tree`` / ``TreeShare.tree``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aibind.core._tree_share import TreeShare, share_tree
from aibind.core.chat_history import ChatHistory
from aibind.core.kit._history_cache import HistoryCache
from aibind.core.memory import MemoryConversationStore
from aibind.core.message_tree import MessageTree
from aibind.core.types import ConversationMessage

Chat = ChatHistory[ConversationMessage]


def chat_of(n: int, size: int = 40) -> Chat:
    chat: Chat = ChatHistory()
    for i in range(n):
        chat.append({"role": "user", "content": f"{i}".ljust(size, ".")})
    return chat


def test_shared_tree_is_copied_on_write() -> None:
    chat = chat_of(3)
    text = chat.to_json()
    share = share_tree(chat.tree)
    a = share.tree()
    b = share.tree()
    leaf = a.active_leaf_id
    assert leaf is not None
    a.add_child(leaf, {"role": "user", "content": "a"})
    b.branch(b.root_ids[0], {"role": "user", "content": "b"})
    chat.tree.remove(chat.node_ids[1])
    assert share.tree().to_json() == text
    assert share.intact()
    assert (a.size, b.size, chat.size) == (4, 4, 1)
    assert "b" not in [m["content"] for m in a.get_active_path()[0]]


def test_an_in_place_change_spoils_the_share() -> None:
    chat = chat_of(2)
    chat.to_json()
    share = share_tree(chat.tree)
    tree = share.tree()
    assert share.intact()
    tree.get_active_path()[0][0]["content"] = "changed"
    assert not share.intact()


def test_cache_answers_only_the_same_text_and_evicts_oldest() -> None:
    chats = [chat_of(2) for _ in range(3)]
    texts = [c.to_json() for c in chats]
    cache = HistoryCache(len(texts[0]) * 2)
    for i, chat in enumerate(chats):
        cache.remember(f"k{i}", texts[i], share_tree(chat.tree))
    assert cache.recall("k0", texts[0]) is None  # evicted
    assert cache.recall("k1", texts[1]) is not None
    assert cache.recall("k1", texts[2]) is None  # other text under the key
    cache.remember("k0", texts[0], share_tree(chats[0].tree))  # evicts k2, the least recent
    assert cache.recall("k2", texts[2]) is None
    assert cache.recall("k1", texts[1]) is not None
    cache.forget("k1")
    assert cache.recall("k1", texts[1]) is None
    cache.resize(0)
    assert cache.recall("k0", texts[0]) is None
    with pytest.raises(ValueError, match=">= 0"):
        cache.resize(-1)
    with pytest.raises(TypeError, match="int"):
        cache.resize(1.5)  # type: ignore[arg-type]


async def test_store_skips_parsing_its_own_text_and_can_be_turned_off() -> None:
    store = MemoryConversationStore()
    chat = chat_of(5)
    await store.save("s", chat)
    loaded = await store.load("s")
    assert loaded.tree._shared is not None  # made from the saved tree, not parsed
    assert loaded.to_json() == chat.to_json()
    store.cache_chars = 0
    parsed = await store.load("s")
    assert parsed.tree._shared is None
    await store.save("s", chat)
    assert (await store.load("s")).tree._shared is None
    with pytest.raises(ValueError, match=">= 0"):
        store.cache_chars = -1
    await store.aclose()


async def test_a_failed_save_forgets_the_text() -> None:
    class Failing(MemoryConversationStore):
        fail = False

        async def _set(self, key: str, value: str, ttl: float) -> None:
            if self.fail:
                raise OSError("disk full")
            await super()._set(key, value, ttl)

    store = Failing()
    chat = chat_of(2)
    await store.save("s", chat)
    store.fail = True
    chat.append({"role": "user", "content": "lost"})
    with pytest.raises(Exception, match="disk full"):
        await store.save("s", chat)
    loaded = await store.load("s")
    assert loaded.size == 2
    assert loaded.tree._shared is None
    await store.aclose()


# ─── property: trees made from a share behave as parsed ones ────

_operation = st.one_of(
    st.tuples(st.just("append"), st.integers(0, 50)),
    st.tuples(st.just("branch"), st.integers(0, 50)),
    st.tuples(st.just("remove"), st.integers(0, 50)),
    st.tuples(st.just("leaf"), st.integers(0, 50)),
    st.tuples(st.just("share"), st.integers(0, 50)),
)


def _apply(tree: MessageTree[ConversationMessage], op: tuple[str, int]) -> None:
    ids = list(tree.serialize()["nodes"])
    kind, n = op
    message: ConversationMessage = {"role": "user", "content": f"{kind} {n}"}
    if kind == "append" or not ids:
        tree.append(message)
    elif kind == "branch":
        tree.branch(ids[n % len(ids)], message)
    elif kind == "remove":
        tree.remove(ids[n % len(ids)])
    elif kind == "leaf":
        tree.set_active_leaf(ids[n % len(ids)])


def _shape(tree: MessageTree[ConversationMessage]) -> object:
    data = tree.serialize()
    nodes = {k: {**v, "createdAt": None} for k, v in data["nodes"].items()}
    return nodes, data["rootIds"], data["activeLeafId"]


def _ids(start: int) -> Callable[[], str]:
    numbers = iter(range(start, start + 10_000))
    return lambda: f"n{next(numbers)}"


@settings(max_examples=150, deadline=None)
@given(st.lists(_operation, max_size=40))
def test_random_edits_never_reach_a_share(operations: list[tuple[str, int]]) -> None:
    """The source tree, a tree from each share and a tree parsed from the share's text take
    the same random edits; the two made from one text stay equal, and every share still
    gives exactly its text."""
    source: MessageTree[ConversationMessage] = MessageTree(generate_id=_ids(0))
    shares: list[tuple[str, TreeShare]] = []
    pairs: list[tuple[MessageTree[ConversationMessage], MessageTree[ConversationMessage]]] = []
    for step, op in enumerate(operations):
        if op[0] == "share":
            text = source.to_json()
            share = share_tree(source)
            shares.append((text, share))
            start = 100_000 * (step + 1)
            pairs.append(
                (share.tree(_ids(start)), MessageTree.from_json(text, generate_id=_ids(start)))
            )
            continue
        _apply(source, op)
        for from_share, parsed in pairs:
            _apply(from_share, op)
            _apply(parsed, op)
            assert _shape(from_share) == _shape(parsed)
    for text, share in shares:
        assert share.intact()
        assert share.tree().to_json() == text
