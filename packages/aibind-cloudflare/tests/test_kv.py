"""KVHttpClient and KVConversationStore against the local stand-in (real KV in Miniflare)."""

from __future__ import annotations

import time

import httpx
import pytest
from cf_node import StandIn

from aibind.cloudflare import (
    CloudflareAuthError,
    CloudflareRateLimitError,
    KVConversationStore,
    KVHttpClient,
)
from aibind.cloudflare import kv_http as kv_http_module
from aibind.core.chat_history import ChatHistory
from aibind.core.errors import CorruptDataError, StoreClosedError
from aibind.core.types import ConversationMessage


def _chat(text: str = "hello") -> ChatHistory[ConversationMessage]:
    chat: ChatHistory[ConversationMessage] = ChatHistory()
    chat.append({"role": "user", "content": text})
    return chat


async def test_put_get_delete(kv_client: KVHttpClient, kv_prefix: str) -> None:
    key = f"{kv_prefix}:with/slash ?&%25 ☃"
    assert await kv_client.get(key) is None
    await kv_client.put(key, "value ☃")
    assert await kv_client.get(key) == "value ☃"
    await kv_client.put(key, b"\xff bytes")
    assert await kv_client.get(key) == "\ufffd bytes"  # invalid UTF-8 -> U+FFFD, as a binding
    await kv_client.delete(key)
    assert await kv_client.get(key) is None
    await kv_client.delete(key)  # absent: no-op


async def test_ttl_is_recorded_and_rounded_up(kv_client: KVHttpClient, kv_prefix: str) -> None:
    before = time.time()
    await kv_client.put(f"{kv_prefix}:a", "x", expiration_ttl=60.2)
    await kv_client.put(f"{kv_prefix}:b", "x")
    keys = {k.name: k.expiration for k in await kv_client.list_keys(kv_prefix)}
    assert keys[f"{kv_prefix}:b"] is None
    expiration = keys[f"{kv_prefix}:a"]
    assert expiration is not None
    assert before + 61 - 2 <= expiration <= time.time() + 61 + 1


@pytest.mark.parametrize(
    ("key", "ttl", "error", "match"),
    [
        ("k" * 513, None, ValueError, "512 bytes"),
        ("☃" * 171, None, ValueError, "513 bytes"),
        ("", None, ValueError, "empty"),
        ("..", None, ValueError, "'..'"),
        (5, None, TypeError, "key"),
        ("ok", 59.9, ValueError, "at least 60"),
        ("ok", float("nan"), ValueError, "at least 60"),
        ("ok", "60", TypeError, "expiration_ttl"),
    ],
)
async def test_bad_keys_and_ttls_are_refused_before_sending(
    standin: StandIn, key: object, ttl: object, error: type[Exception], match: str
) -> None:
    async with KVHttpClient(
        standin.account_id, standin.namespace_id, api_token="x", base_url="http://127.0.0.1:9"
    ) as kv:
        with pytest.raises(error, match=match):
            await kv.put(key, "v", expiration_ttl=ttl)  # type: ignore[arg-type]


async def test_list_keys_follows_the_cursor(
    kv_client: KVHttpClient, kv_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"{kv_prefix}:{i:02d}" for i in range(5)]
    for name in names:
        await kv_client.put(name, "v")
    monkeypatch.setattr(kv_http_module, "LIST_PAGE", 2)
    assert [k.name for k in await kv_client.list_keys(kv_prefix)] == names


async def test_api_errors(standin: StandIn, control: httpx.AsyncClient) -> None:
    async with KVHttpClient(
        standin.account_id, standin.namespace_id, api_token="bad", base_url=standin.base_url
    ) as kv:
        with pytest.raises(CloudflareAuthError):
            await kv.get("k")
    async with KVHttpClient(
        standin.account_id,
        standin.namespace_id,
        api_token=standin.token,
        base_url=standin.base_url,
        max_retry_wait=0.5,
    ) as kv:
        await control.post("/__standin/throttle", json={"count": 5, "retry_after": "3"})
        with pytest.raises(CloudflareRateLimitError):
            await kv.put("k", "v")


# ---- KVConversationStore ----------------------------------------------------------------


async def test_store_key_format_and_round_trip(kv_client: KVHttpClient, kv_prefix: str) -> None:
    store = KVConversationStore(kv_client, prefix=kv_prefix, ttl=120)
    assert store.key("s1") == f"{kv_prefix}:s1"
    chat = _chat()
    await store.save("s1", chat)
    assert await kv_client.get(f"{kv_prefix}:s1") == chat.to_json()
    assert (await store.load("s1")).to_json() == chat.to_json()
    await store.delete("s1")
    assert (await store.load("s1")).is_empty


async def test_default_prefix_is_the_npm_one(kv_client: KVHttpClient) -> None:
    store = KVConversationStore(kv_client)
    assert store.prefix == "aibind:conv"
    assert store.ttl == 1800.0
    assert store.key("abc") == "aibind:conv:abc"


async def test_empty_value_loads_empty_history(kv_client: KVHttpClient, kv_prefix: str) -> None:
    await kv_client.put(f"{kv_prefix}:empty", "")
    store = KVConversationStore(kv_client, prefix=kv_prefix)
    assert (await store.load("empty")).is_empty


async def test_corrupt_value_names_the_key(kv_client: KVHttpClient, kv_prefix: str) -> None:
    await kv_client.put(f"{kv_prefix}:bad", "{nope")
    store = KVConversationStore(kv_client, prefix=kv_prefix)
    with pytest.raises(CorruptDataError, match=f"{kv_prefix}:bad"):
        await store.load("bad")
    assert await kv_client.get(f"{kv_prefix}:bad") == "{nope"


async def test_store_argument_checks(kv_client: KVHttpClient) -> None:
    for ttl in (59.999, 0, -5):
        with pytest.raises(ValueError, match="at least 60"):
            KVConversationStore(kv_client, ttl=ttl)
    with pytest.raises(TypeError, match="ttl"):
        KVConversationStore(kv_client, ttl="90")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="prefix"):
        KVConversationStore(kv_client, prefix=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prefix"):
        KVConversationStore(kv_client, prefix="p" * 511)
    with pytest.raises(TypeError, match="KV binding"):
        KVConversationStore(object())
    store = KVConversationStore(kv_client, prefix="p" * 400)
    with pytest.raises(ValueError, match="512 bytes"):
        await store.load("s" * 112)
    with pytest.raises(TypeError, match="session_id"):
        await store.load(7)  # type: ignore[arg-type]


async def test_closed_store_refuses_calls_and_keeps_the_client(
    kv_client: KVHttpClient, kv_prefix: str
) -> None:
    async with KVConversationStore(kv_client, prefix=kv_prefix) as store:
        await store.save("s", _chat())
    await store.aclose()  # idempotent
    with pytest.raises(StoreClosedError):
        await store.load("s")
    assert await kv_client.get(f"{kv_prefix}:s") is not None  # the client still works
