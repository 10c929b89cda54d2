"""The small ``aibind`` sub-commands: ``schema``, ``setup``, ``cleanup``, ``status``, ``tail``.

Each takes the parsed :class:`argparse.Namespace` and returns an exit status.
"""

from __future__ import annotations

import argparse
import json
import sys

from aibind.core.registry import load_schema, open_stores
from aibind.core.sse import decode_chunk, iter_sse_pages

__all__ = ["cleanup", "schema", "setup", "status", "tail"]


async def schema(args: argparse.Namespace) -> int:
    """Print the DDL registered for ``args.backend`` (entry-point group ``aibind.schemas``)."""
    sys.stdout.write(load_schema(args.backend))
    return 0


async def setup(args: argparse.Namespace) -> int:
    """Run ``setup()`` on each store of ``args.url`` that has one; print what was done."""
    async with open_stores(args.url) as stores:
        done = []
        for label, store in (("streams", stores.streams), ("conversations", stores.conversations)):
            method = getattr(store, "setup", None)
            if callable(method):
                await method()
                done.append(label)
        if done:
            print(f"created (if missing) the tables for {' and '.join(done)} at {stores.url}")
        else:
            print(f"{stores.url}: this backend needs no setup")
    return 0


async def cleanup(args: argparse.Namespace) -> int:
    """Run ``cleanup()`` on each store of ``args.url`` that has one; print the counts."""
    async with open_stores(args.url) as stores:
        for label, store in (("streams", stores.streams), ("conversations", stores.conversations)):
            method = getattr(store, "cleanup", None)
            if callable(method):
                print(f"{label}: removed {await method()} expired")
            else:
                print(f"{label}: expire natively (nothing to clean up)")
    return 0


async def status(args: argparse.Namespace) -> int:
    """Print ``{"stream_id", "state", "total_chunks", "error"}`` as JSON; exit 1 if absent."""
    async with open_stores(args.url) as stores:
        found = await stores.streams.get_status(args.stream_id)
    if found is None:
        print(f"aibind: stream {args.stream_id!r} not found (or expired)", file=sys.stderr)
        return 1
    doc = {
        "stream_id": args.stream_id,
        "state": found.state,
        "total_chunks": found.total_chunks,
        "error": found.error,
    }
    print(json.dumps(doc, ensure_ascii=False))
    return 0


async def tail(args: argparse.Namespace) -> int:
    """Follow a stream live, like ``tail -f``: print text chunks as they land (named events on
    lines of their own, ``[event] data``), or with ``--sse`` the SSE text a client would get.
    Ends when the stream does; the final state goes to stderr. Exit 1 if it failed."""
    async with open_stores(args.url) as stores:
        store = stores.streams
        if args.sse:
            sse = iter_sse_pages(  # one write per page a read found, not one per chunk
                store.read_pages(args.stream_id, args.after),
                lambda: store.get_status(args.stream_id),
            )
            async for text in sse:
                sys.stdout.write(text)
                sys.stdout.flush()
        else:
            async for page in store.read_pages(args.stream_id, args.after):
                for chunk in page:
                    event, data = decode_chunk(chunk.data)
                    sys.stdout.write(data if not event else f"\n[{event}] {data}\n")
                sys.stdout.flush()
            sys.stdout.write("\n")
        final = await store.get_status(args.stream_id)
    if final is None:
        print(f"aibind: stream {args.stream_id!r} expired", file=sys.stderr)
        return 1
    detail = f": {final.error}" if final.error else ""
    print(f"[{final.state}, {final.total_chunks} chunks{detail}]", file=sys.stderr)
    return 1 if final.state == "error" else 0
