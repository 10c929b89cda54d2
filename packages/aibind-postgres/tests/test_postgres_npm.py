"""Interop with streams the npm ``@aibind/postgres`` package writes (its SQL, reproduced here
as a raw asyncpg connection runs it: no ``pg_notify``, ``expires_at`` set once at create).

* A writer that appends without notifying is followed live: every chunk reaches a follower
  within ``poll_interval`` plus a margin, through the store's one sweep (issue #11 "What it
  must show" 4).
* A stream past its ``expires_at`` while its Node writer still appends is read to the end from
  Python, ``create()`` on its id raises ``StreamExistsError``, nothing is deleted before
  ``cleanup()`` (issue #11 "What it must show" 5; before, Python's ``create()`` deleted Node's
  chunks).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest
from postgres_testkit import admin, pg_schema

from aibind.conformance import collect, new_id, within
from aibind.conformance.servers import Server
from aibind.core.errors import StreamExistsError, StreamNotFoundError
from aibind.core.types import StreamChunk, StreamStatus
from aibind.postgres import PostgresStreamStore

__all__ = ["pg_schema"]

POLL = 0.1
MARGIN = 0.4  # scheduling on a loaded 2-core machine; the bound without the sweep is the ttl


class NpmWriter:
    """The npm package's statements (postgres-stream-store.ts), run on a raw connection."""

    def __init__(self, conn: asyncpg.Connection[Any], schema: str) -> None:
        self.conn = conn
        self.status = f'"{schema}".aibind_stream_status'
        self.chunks = f'"{schema}".aibind_stream_chunks'

    async def create(self, stream_id: str, expires_at_ms: int) -> None:
        await self.conn.execute(
            f"INSERT INTO {self.status} (id, state, total_chunks, expires_at) "
            "VALUES ($1, 'active', 0, $2)",
            stream_id,
            expires_at_ms,
        )

    async def append(self, stream_id: str, data: str) -> int:
        seq = await self.conn.fetchval(
            f"""WITH upd AS (UPDATE {self.status} SET total_chunks = total_chunks + 1
            WHERE id = $1 AND state = 'active' RETURNING total_chunks)
            INSERT INTO {self.chunks} (id, seq, data) SELECT $1, upd.total_chunks, $2 FROM upd
            RETURNING seq""",
            stream_id,
            data,
        )
        return int(seq)

    async def complete(self, stream_id: str) -> None:
        await self.conn.execute(
            f"UPDATE {self.status} SET state = 'done' WHERE id = $1 AND state = 'active'",
            stream_id,
        )


def _store(server: Server, schema: str, driver: str = "psycopg") -> PostgresStreamStore:
    return PostgresStreamStore.from_url(
        server.url,
        driver=driver,
        chunks_table=f"{schema}.aibind_stream_chunks",
        status_table=f"{schema}.aibind_stream_status",
        poll_interval=POLL,
    )


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
@pytest.mark.timeout(60)
async def test_writer_that_does_not_notify_is_followed_live(
    postgres_server: Server, pg_schema: str, driver: str
) -> None:
    conn = await admin(postgres_server)
    try:
        async with _store(postgres_server, pg_schema, driver) as store:
            await store.setup()
            node = NpmWriter(conn, pg_schema)
            sid = new_id()
            await node.create(sid, int(time.time() * 1000) + 300_000)
            arrived: dict[int, float] = {}

            async def follow() -> None:
                async for chunk in store.read_from(sid):
                    arrived[chunk.seq] = time.monotonic()

            follower = asyncio.create_task(follow())
            await asyncio.sleep(0.3)
            listener = store._listener
            assert listener is not None
            assert listener.active
            written: dict[int, float] = {}
            for i in range(30):
                seq = await node.append(sid, f"n{i}")
                written[seq] = time.monotonic()
                await asyncio.sleep(0.013 * (i % 7))  # irregular pace, bursts included
            await node.complete(sid)
            await within(follower, 10)
        assert sorted(arrived) == list(range(1, 31))
        late = {seq: arrived[seq] - written[seq] for seq in written}
        worst = max(late.values())
        assert worst <= POLL + MARGIN, f"a chunk took {worst:.3f} s (poll_interval {POLL})"
    finally:
        await conn.close()


async def test_node_stream_past_its_expiry_is_read_to_the_end(
    postgres_server: Server, pg_schema: str
) -> None:
    conn = await admin(postgres_server)
    try:
        async with _store(postgres_server, pg_schema) as store:
            await store.setup()
            node = NpmWriter(conn, pg_schema)
            sid = new_id()
            # created by Node with a ttl of 1 s, 10 minutes ago; its writer is still going
            await node.create(sid, int(time.time() * 1000) - 600_000)
            for piece in ("Hel", "lo"):
                await node.append(sid, piece)
            assert await store.get_status(sid) == StreamStatus("active", 2, None)
            with pytest.raises(StreamExistsError):
                await store.create(sid)
            kept = await conn.fetch(
                f"SELECT seq, data FROM {node.chunks} WHERE id = $1 ORDER BY seq", sid
            )
            assert [tuple(r) for r in kept] == [(1, "Hel"), (2, "lo")]  # nothing deleted
            follower = asyncio.create_task(collect(store.read_from(sid)))
            await asyncio.sleep(0.05)
            for piece in (", ", "world"):
                await node.append(sid, piece)
                await asyncio.sleep(0.02)
            await node.complete(sid)
            got = await within(follower)
            assert got == [
                StreamChunk(1, "Hel"),
                StreamChunk(2, "lo"),
                StreamChunk(3, ", "),
                StreamChunk(4, "world"),
            ]
            # still there until cleanup() removes it, chunks and all
            assert await store.get_status(sid) == StreamStatus("done", 4, None)
            assert await store.cleanup() == 1
            assert await store.get_status(sid) is None
            with pytest.raises(StreamNotFoundError):
                await collect(store.read_from(sid))
            left = await conn.fetchval(f"SELECT count(*) FROM {node.chunks} WHERE id = $1", sid)
            assert left == 0
            await store.create(sid)  # the id is free again
    finally:
        await conn.close()


async def test_python_appends_to_a_node_stream_past_its_expiry(
    postgres_server: Server, pg_schema: str
) -> None:
    conn = await admin(postgres_server)
    try:
        async with _store(postgres_server, pg_schema) as store:
            await store.setup()
            node = NpmWriter(conn, pg_schema)
            sid = new_id()
            await node.create(sid, int(time.time() * 1000) - 1_000)
            await node.append(sid, "from node")
            assert await store.append(sid, "from python") == 2
            expires = await conn.fetchval(
                f"SELECT expires_at FROM {node.status} WHERE id = $1", sid
            )
            assert expires > time.time() * 1000 + 250_000  # our write restarted its ttl
            assert await store.cleanup() == 0
            await store.complete(sid)
            assert [c.data for c in await collect(store.read_from(sid))] == [
                "from node",
                "from python",
            ]
    finally:
        await conn.close()
