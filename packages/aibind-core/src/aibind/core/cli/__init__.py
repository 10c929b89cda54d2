"""The ``aibind`` command line.

Backends come from the installed packages through the registry (entry-point group
``aibind.backends``, keyed by URL scheme), so ``aibind`` works with whatever backends are
installed::

    aibind demo [--url URL] [--text FILE]     the whole story: stream, drop, resume, verify
    aibind schema {sqlite,postgres}           print the DDL
    aibind setup URL                          create the tables (SQL backends)
    aibind cleanup URL                        remove expired streams and conversations
    aibind status URL STREAM_ID               one stream's state, as JSON
    aibind tail URL STREAM_ID [--after N]     follow a stream live, like tail -f

Exit status: 0 on success, 1 when the command fails (a stream not found, a demo whose text did
not match, an error from the store), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from aibind.core.cli.commands import cleanup, schema, setup, status, tail
from aibind.core.cli.demo import DEFAULT_URL, demo
from aibind.core.errors import AibindError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``aibind`` command (one sub-command per action)."""
    parser = argparse.ArgumentParser(
        prog="aibind", description="Durable LLM streams and chat history: tools and demo."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="stream a text, drop the client, resume, verify")
    p.add_argument("--url", default=DEFAULT_URL, help=f"store URL (default {DEFAULT_URL})")
    p.add_argument("--text", metavar="FILE", help="a UTF-8 text file to stream instead")
    p.add_argument(
        "--pace",
        type=float,
        default=0.004,
        metavar="SECONDS",
        help="delay between tokens, like a model's output (default 0.004)",
    )
    p.add_argument(
        "--drop-at",
        type=float,
        default=0.4,
        metavar="FRACTION",
        help="drop the client after this fraction of the tokens (default 0.4)",
    )
    p.add_argument(
        "--session",
        default="aibind-demo",
        help="conversation session id; runs with the same id add turns (default aibind-demo)",
    )
    p.set_defaults(func=demo)

    p = sub.add_parser("schema", help="print the DDL of a SQL backend")
    p.add_argument("backend", help="sqlite or postgres (as installed)")
    p.set_defaults(func=schema)

    p = sub.add_parser("setup", help="create the tables a store needs (idempotent)")
    p.add_argument("url")
    p.set_defaults(func=setup)

    p = sub.add_parser("cleanup", help="remove expired streams and conversations")
    p.add_argument("url")
    p.set_defaults(func=cleanup)

    p = sub.add_parser("status", help="print a stream's status as JSON")
    p.add_argument("url")
    p.add_argument("stream_id")
    p.set_defaults(func=status)

    p = sub.add_parser("tail", help="follow a stream live and print its text")
    p.add_argument("url")
    p.add_argument("stream_id")
    p.add_argument("--after", type=int, default=0, metavar="N", help="start after seq N")
    p.add_argument("--sse", action="store_true", help="print the SSE text instead")
    p.set_defaults(func=tail)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``aibind`` command with ``argv`` (default ``sys.argv[1:]``).

    Returns:
        the exit status (0 success, 1 failure, 2 usage error; argparse exits with 2 itself).
    """
    args = build_parser().parse_args(argv)
    try:
        code: int = asyncio.run(args.func(args))
    except (AibindError, OSError, ValueError, TypeError) as exc:
        print(f"aibind: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code
