"""The ``authorize`` hook: refusals (401/403 with headers), granted sessions, and streams bound
to their owner (one user cannot read or stop another's stream or conversation)."""

from __future__ import annotations

import asyncio
import re
import uuid

import fastapi
import pytest
from starlette.exceptions import HTTPException
from support import Model, asgi_client, expect_json

from aibind.core.memory import MemoryConversationStore, MemoryStreamStore
from aibind.starlette import AuthRequest, ConversationConfig, Grant, StreamHandler
from aibind.starlette._owner import may_access, new_stream_id, owner_tag

pytestmark = pytest.mark.timeout(20)

USERS = {"token-alice": "alice", "token-bob": "bob"}


def user_grant(auth: AuthRequest) -> Grant:
    """Tokens name users; no token is anonymous; each user's conversation is their own."""
    token = auth.request.headers.get("authorization", "").removeprefix("Bearer ")
    if token == "bad":
        raise HTTPException(401, "sign in first", headers={"WWW-Authenticate": "Bearer"})
    user = USERS.get(token)
    if user is None:
        return Grant()
    return Grant(owner=user, session_id=f"{user}:{auth.session_id or 'main'}")


def as_user(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer token-{user}"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/__aibind__/stream"),
        ("POST", "/__aibind__/chat"),
        ("POST", "/__aibind__/compact"),
        ("POST", "/__aibind__/complete"),
        ("POST", "/__aibind__/title"),
        ("POST", "/__aibind__/stream/stop"),
        ("GET", "/__aibind__/stream/resume?id=x"),
    ],
)
async def test_refusal_is_json_with_status_and_headers(method: str, path: str) -> None:
    model = Model()
    handler = StreamHandler(model=model, authorize=user_grant)
    async with asgi_client(handler) as client:
        response = await client.request(
            method, path, json={}, headers={"Authorization": "Bearer bad"}
        )
    expect_json(response, 401, {"error": "sign in first"})
    assert response.headers["www-authenticate"] == "Bearer"
    assert model.calls == []


async def test_async_hook_and_fastapi_exception() -> None:
    seen: list[AuthRequest] = []

    async def forbid(auth: AuthRequest) -> Grant | None:
        await asyncio.sleep(0)
        seen.append(auth)
        if auth.action == "stop":
            raise fastapi.HTTPException(403, "stopping is for admins")
        return None

    async with asgi_client(StreamHandler(model=Model(), authorize=forbid)) as client:
        ok = await client.post("/__aibind__/stream", json={"prompt": "x", "sessionId": "s9"})
        stream_id = ok.headers["x-stream-id"]
        refused = await client.post("/__aibind__/stream/stop", json={"id": stream_id})
        await client.get(f"/__aibind__/stream/resume?id={stream_id}&after=0")
    expect_json(refused, 403, {"error": "stopping is for admins"})
    assert [(a.action, a.session_id, a.stream_id) for a in seen] == [
        ("stream", "s9", None),
        ("stop", None, stream_id),
        ("resume", None, stream_id),
    ]
    assert re.fullmatch(r"[0-9a-f-]{36}", stream_id)  # no owner: a plain uuid4
    assert uuid.UUID(stream_id).version == 4


async def test_granted_session_replaces_the_requested_one() -> None:
    conversations = MemoryConversationStore()
    handler = StreamHandler(
        model=Model(["hi"]),
        conversation=ConversationConfig(store=conversations),
        authorize=user_grant,
    )
    async with asgi_client(handler) as client:
        body = {"prompt": "mine", "sessionId": "shared"}
        await client.post("/__aibind__/stream", json=body, headers=as_user("alice"))
        await client.post("/__aibind__/stream", json=body, headers=as_user("bob"))
        while len((await conversations.load("bob:shared")).messages) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        while len((await conversations.load("alice:shared")).messages) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        assert (await conversations.load("shared")).is_empty
        compact = {"messages": [], "sessionId": "shared"}
        await client.post("/__aibind__/compact", json=compact, headers=as_user("bob"))
    assert (await conversations.load("bob:shared")).messages == [
        {"role": "system", "content": "hi"}
    ]
    assert len((await conversations.load("alice:shared")).messages) == 2


async def test_streams_are_bound_to_their_owner() -> None:
    model = Model(gated=True)
    store = MemoryStreamStore()
    handler = StreamHandler(model=model, store=store, authorize=user_grant)
    async with asgi_client(handler) as client:
        post = asyncio.create_task(
            client.post("/__aibind__/stream", json={"prompt": "x"}, headers=as_user("alice"))
        )
        while not store._streams:  # noqa: ASYNC110
            await asyncio.sleep(0.002)
        [stream_id] = list(store._streams)
        assert stream_id.endswith("." + owner_tag("alice"))
        resume = f"/__aibind__/stream/resume?id={stream_id}&after=0"
        for headers in (as_user("bob"), {}):
            expect_json(
                await client.get(resume, headers=headers),
                403,
                {"error": "this stream belongs to someone else"},
            )
            stop = await client.post(
                "/__aibind__/stream/stop", json={"id": stream_id}, headers=headers
            )
            expect_json(stop, 403, {"error": "this stream belongs to someone else"})
        status = await store.get_status(stream_id)
        assert status is not None
        assert status.state == "active"  # bob's stop did nothing
        model.release("secret", None)
        alice = await client.get(resume, headers=as_user("alice"))
        assert alice.text.startswith("id: 1\ndata: secret\n\n")
        expect_json(
            await client.post(
                "/__aibind__/stream/stop", json={"id": stream_id}, headers=as_user("alice")
            ),
            200,
            {"ok": True},
        )
        await post
        # A stream started anonymously is bound to nobody: anyone with its id may read it.
        model.release("open", None)
        anonymous = await client.post("/__aibind__/stream", json={"prompt": "x"})
        open_id = anonymous.headers["x-stream-id"]
        bob = await client.get(
            f"/__aibind__/stream/resume?id={open_id}&after=0", headers=as_user("bob")
        )
        assert bob.status_code == 200


def test_owner_tags() -> None:
    alice = new_stream_id("alice")
    base, tag = alice.split(".")
    assert uuid.UUID(base).version == 4
    assert tag == owner_tag("alice") != owner_tag("bob")
    assert len(tag) == 32
    assert may_access(alice, "alice")
    assert not may_access(alice, "bob")
    assert not may_access(alice, None)
    assert may_access(new_stream_id(None), "bob")
    # Ids made elsewhere (npm, custom) are never mistaken for bound ones.
    assert may_access("report.v2", None)
    assert may_access(f"{uuid.uuid4()}.not-a-tag", None)


def test_grant_validation() -> None:
    with pytest.raises(ValueError, match="owner"):
        Grant(owner="")
    with pytest.raises(TypeError, match="owner"):
        Grant(owner=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="session_id"):
        Grant(session_id="a\nb")


async def test_hook_returning_something_else_is_a_programming_error() -> None:
    handler = StreamHandler(model=Model(), authorize=lambda auth: "yes")  # type: ignore[arg-type,return-value]
    async with asgi_client(handler) as client:
        with pytest.raises(TypeError, match="authorize must return a Grant or None, not str"):
            await client.post("/__aibind__/stream", json={"prompt": "x"})
