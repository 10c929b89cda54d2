"""sqlite: URLs, from_url (opens, configures and closes its own connection) and the backend
opener of the registry."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlite_helpers import raw_rows

from aibind.core.chat_history import ChatHistory
from aibind.core.errors import BackendUnavailableError, StoreClosedError
from aibind.core.registry import open_stores
from aibind.core.types import ConversationMessage
from aibind.sqlite import SqliteConversationStore, SqliteStreamStore, parse_sqlite_url


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///app.db", "app.db"),
        ("sqlite:///data/app.db", "data/app.db"),
        ("sqlite:////var/lib/app.db", "/var/lib/app.db"),
        ("SQLITE:///app.db", "app.db"),
        ("sqlite:///my%20app.db", "my app.db"),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite://:memory:", ":memory:"),
    ],
)
def test_accepted_urls(url: str, path: str) -> None:
    assert parse_sqlite_url(url) == path


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///",
        "sqlite://host/app.db",
        "sqlite:app.db",
        "postgresql:///app.db",
        "sqlite:///app.db?mode=ro",
        "sqlite:///app.db#x",
        "sqlite:///dir/",
        "sqlite:///a%00b",
    ],
)
def test_malformed_urls_are_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="url"):
        parse_sqlite_url(url)
    with pytest.raises(ValueError, match=r"url|URL option 'mode'"):
        SqliteStreamStore.from_url(url)
    with pytest.raises(ValueError, match=r"url|URL option 'mode'"):
        SqliteConversationStore.from_url(url)


def test_bad_options_raise_before_opening(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'never.db'}"
    with pytest.raises(TypeError, match="url"):
        SqliteStreamStore.from_url(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ttl"):
        SqliteStreamStore.from_url(url, ttl=0)
    with pytest.raises(ValueError, match="poll_interval"):
        SqliteStreamStore.from_url(url, poll_interval=-1)
    with pytest.raises(ValueError, match="busy_timeout"):
        SqliteConversationStore.from_url(url, busy_timeout=float("nan"))
    assert not (tmp_path / "never.db").exists()


async def test_url_options_set_store_and_client_options(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'opts.db'}?busy_timeout=1.5&ttl=60&poll_interval=none"
    store = SqliteStreamStore.from_url(url + "&chunks_table=c&status_table=s")
    assert isinstance(store, SqliteStreamStore)
    assert (store.ttl, store.poll_interval, store.chunks_table, store.status_table) == (
        60.0,
        None,
        "c",
        "s",
    )
    assert store.client.busy_timeout == 1.5  # type: ignore[attr-defined]
    assert SqliteStreamStore.from_url(url, ttl=5).ttl == 5.0  # keywords win
    conversations = SqliteConversationStore.from_url(f"sqlite:///{tmp_path / 'c.db'}?table=t")
    assert conversations.table == "t"
    with pytest.raises(ValueError, match="unknown URL option 'prefix'"):
        SqliteStreamStore.from_url(f"sqlite:///{tmp_path / 'x.db'}?prefix=a")
    with pytest.raises(ValueError, match="busy_timeout='soon'"):
        SqliteStreamStore.from_url(f"sqlite:///{tmp_path / 'x.db'}?busy_timeout=soon")
    await store.aclose()
    assert not (tmp_path / "opts.db").exists(), "from_url must not open anything by itself"


async def test_unopenable_path_names_it_and_its_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "app.db"
    store = SqliteStreamStore.from_url(f"sqlite:///{missing}")
    with pytest.raises(BackendUnavailableError, match="does not exist") as info:
        await store.open()
    assert str(missing) in str(info.value)
    assert info.value.__cause__ is not None
    with pytest.raises(BackendUnavailableError, match="folder"):
        await store.get_status("s")  # the first call opens too, and fails the same way
    await store.aclose()


async def test_from_url_configures_and_closes_its_connection(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wal.db'}"
    async with SqliteStreamStore.from_url(url, busy_timeout=2.5) as store:
        client = store.client
        assert [tuple(r) for r in await client.execute("PRAGMA journal_mode")] == [("wal",)]
        assert [tuple(r) for r in await client.execute("PRAGMA synchronous")] == [(1,)]
        assert [tuple(r) for r in await client.execute("PRAGMA busy_timeout")] == [(2500,)]
        await store.setup()
        await store.create("s")
    with pytest.raises(StoreClosedError):
        await store.get_status("s")
    assert raw_rows(tmp_path / "wal.db", "SELECT id FROM aibind_stream_status") == [("s",)]


async def test_relative_url_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with SqliteConversationStore.from_url("sqlite:///rel.db") as store:
        await store.setup()
    assert (tmp_path / "rel.db").is_file()


async def test_backend_opener_shares_one_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'backend.db'}"
    async with open_stores(
        url,
        stream_options={"ttl": 10.0, "poll_interval": None, "busy_timeout": 1.0},
        conversation_options={"ttl": 20.0, "table": "convs"},
    ) as stores:
        streams, conversations = stores.streams, stores.conversations
        assert isinstance(streams, SqliteStreamStore)
        assert isinstance(conversations, SqliteConversationStore)
        assert (streams.ttl, streams.poll_interval, conversations.ttl) == (10.0, None, 20.0)
        assert streams.client is conversations.client
        await streams.setup()
        await conversations.setup()
        await streams.create("s")
        chat: ChatHistory[ConversationMessage] = ChatHistory()
        chat.append({"role": "user", "content": "q"})
        await conversations.save("c", chat)
        assert stores.url == url
    with pytest.raises(StoreClosedError):
        await streams.create("t")
    assert raw_rows(tmp_path / "backend.db", "SELECT session_id FROM convs") == [("c",)]


async def test_backend_opener_in_memory() -> None:
    async with open_stores("sqlite:///:memory:") as stores:
        streams = stores.streams
        assert isinstance(streams, SqliteStreamStore)
        await streams.setup()
        await streams.create("m")
        assert await streams.append("m", "x") == 1
        await streams.complete("m")
        assert [c.data async for c in streams.read_from("m")] == ["x"]


async def test_backend_opener_rejects_bad_options(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="nope"):
        open_stores(f"sqlite:///{tmp_path / 'x.db'}", stream_options={"nope": 1})
    with pytest.raises(ValueError, match="url"):
        open_stores("sqlite://host/x.db")
    with pytest.raises(ValueError, match="conversation_prefix"):
        open_stores(f"sqlite:///{tmp_path / 'x.db'}?conversation_prefix=p")


async def test_backend_opener_takes_options_from_the_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'u.db'}?ttl=10&conversation_table=convs&conversation_ttl=20"
    async with open_stores(url) as stores:
        streams, conversations = stores.streams, stores.conversations
        assert isinstance(streams, SqliteStreamStore)
        assert isinstance(conversations, SqliteConversationStore)
        assert (streams.ttl, conversations.ttl, conversations.table) == (10.0, 20.0, "convs")


async def test_cli_finds_streams_in_custom_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}?chunks_table=my_chunks&status_table=my_status"
    async with SqliteStreamStore.from_url(url) as store:
        await store.setup()
        await store.create("s1")
        await store.append_many("s1", ["Hello", ", world"])
        await store.complete("s1")
    status = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "aibind.core.cli", "status", url, "s1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == {
        "stream_id": "s1",
        "state": "done",
        "total_chunks": 2,
        "error": None,
    }
    tail = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "aibind.core.cli", "tail", url, "s1", "--after", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert tail.returncode == 0, tail.stderr
    assert tail.stdout == ", world\n"
    assert "[done, 2 chunks]" in tail.stderr
