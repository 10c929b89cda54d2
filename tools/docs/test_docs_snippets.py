"""Every Python snippet of the docs runs, so none goes stale.

Pages: ``docs/*.md``, the root ``README.md``, every ``packages/*/README.md`` and
``tests-shared/README.md``. Code blocks are found by pytest-examples (``find_examples``); each
page is one test whose ``python`` blocks run in order in one namespace, as a reader would run
them, with top-level ``await`` allowed (compiled with ``PyCF_ALLOW_TOP_LEVEL_AWAIT``).

What a snippet may rely on:

* the local servers: Redis at ``127.0.0.1:6379`` and PostgreSQL ``postgres@127.0.0.1:5432``.
  A snippet's Redis URL is pointed at logical database 15, flushed after the page; its
  PostgreSQL URL at a database created for the page and dropped after it; the current
  directory is a fresh temporary one (SQLite files land there);
* the names in :data:`PRELUDE`: ``llm_tokens()`` (a stand-in for a model's token stream),
  ``DATABASE_URL`` and ``REDIS_URL`` (the isolated servers above).

A block without top-level ``await`` is a whole program (it may call ``asyncio.run``): it runs
in a worker thread, outside the test's event loop.

A block that cannot run here (a hosted service, credentials, a fragment of a larger program)
is marked by an HTML comment on the line before its fence, with the reason::

    <!-- snippet: compile-only (needs an Upstash account) -->

It is still compiled, so its syntax cannot rot. ``toml``/``bash`` blocks are not run.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_examples import CodeExample, find_examples

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(
    [
        *ROOT.glob("docs/*.md"),
        ROOT / "README.md",
        # the template's README is run by tools/tests/test_repo_template.py, on a copy
        *(p for p in ROOT.glob("packages/aibind-*/README.md") if "aibind-_" not in str(p)),
        ROOT / "tests-shared" / "README.md",
    ]
)
REDIS_DB = 15
MARK = re.compile(r"<!--\s*snippet:\s*compile-only\s*\((?P<reason>[^)]+)\)\s*-->")

PRELUDE = '''
DATABASE_URL = "{database_url}"
REDIS_URL = "{redis_url}"


async def llm_tokens(text="Hello from a durable stream."):
    """A stand-in for a model's token stream: yields ``text`` word by word."""
    import asyncio
    for word in text.split(" "):
        await asyncio.sleep(0)
        yield word + " "
'''


def python_blocks(page: Path) -> list[CodeExample]:
    """The ``python``/``py`` blocks of ``page``, in order."""
    return [ex for ex in find_examples(str(page)) if ex.prefix.split(" ")[0] in ("python", "py")]


def compile_only_reason(page_lines: list[str], example: CodeExample) -> str | None:
    """The reason of a ``compile-only`` mark on the line before the block's fence, if any."""
    fence = example.start_line - 2  # start_line is 1-based and points inside the block
    for index in range(fence, max(fence - 3, -1), -1):
        match = MARK.search(page_lines[index]) if 0 <= index < len(page_lines) else None
        if match:
            return match["reason"]
    return None


def rewrite_urls(source: str, pg_url: str) -> str:
    """Point the snippet's server URLs at the test's isolated database/db number."""
    source = re.sub(
        r"redis://(localhost|127\.0\.0\.1)(:6379)?(/\d+)?",
        f"redis://127.0.0.1:6379/{REDIS_DB}",
        source,
    )
    return re.sub(
        r"postgres(ql)?(\+\w+)?://[^\"'\s]*",
        lambda m: pg_url.replace("postgresql", "postgresql" + (m[2] or ""), 1),
        source,
    )


def test_every_page_is_found() -> None:
    assert (ROOT / "docs" / "index.md") in PAGES
    assert sum(len(python_blocks(p)) for p in PAGES) >= 20


@pytest.fixture
def isolated_servers(tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL database for the page (dropped after it), Redis db 15 (flushed
    after), and a temporary working directory; yields the database URL."""
    import psycopg
    import redis

    name = f"aibind_docs_{uuid.uuid4().hex[:12]}"
    admin = "postgresql://postgres@127.0.0.1:5432/test"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        os.chdir(cwd)
        client = redis.Redis.from_url(f"redis://127.0.0.1:6379/{REDIS_DB}")
        client.flushdb()
        client.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def run_page(page: Path, text: str, pg_url: str) -> list[str]:
    """Run the blocks of ``page`` (whose content is ``text``); return a line per block saying
    what happened."""
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    prelude = PRELUDE.replace("{database_url}", pg_url)
    prelude = prelude.replace("{redis_url}", f"redis://127.0.0.1:6379/{REDIS_DB}")
    exec(compile(prelude, "<prelude>", "exec"), namespace)
    lines = text.splitlines()
    report = []
    for example in python_blocks(page):
        where = f"{page.relative_to(ROOT)}:{example.start_line}"
        source = example.source
        reason = compile_only_reason(lines, example)
        code = compile(
            rewrite_urls(source, pg_url), where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )
        if reason:
            report.append(f"{where}: compiled only ({reason})")
            continue
        try:
            if code.co_flags & inspect.CO_COROUTINE:
                await asyncio.wait_for(eval(code, namespace), timeout=30)
            else:
                await asyncio.wait_for(asyncio.to_thread(exec, code, namespace), timeout=30)
        except Exception as exc:
            raise AssertionError(f"snippet at {where} failed: {exc!r}\n{source}") from exc
        report.append(f"{where}: ran")
    return report


@pytest.fixture
def page_text(page: Path) -> str:
    return page.read_text()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
async def test_snippets_run(page: Path, page_text: str, isolated_servers: str) -> None:
    report = await run_page(page, page_text, isolated_servers)
    print("\n".join(report))


DOTTED = re.compile(r"\baibind\.(\w+)\.(\w+)\.(\w+)\b")
FROM_IMPORT = re.compile(r"from aibind\.(\w+)\.(\w+) import ([\w, ]+)")


def public_names(leaf: str) -> set[str]:
    """The ``__all__`` of ``aibind.<leaf>`` (empty if it is not an installed package)."""
    try:
        return set(importlib.import_module(f"aibind.{leaf}").__all__)
    except ImportError:
        return set()


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_one_spelling_per_import_path(page: Path) -> None:
    """A name the package exports is written ``aibind.<leaf>.<Name>``, never through the module
    that defines it (``aibind.core.registry.open_stores`` -> ``aibind.core.open_stores``)."""
    text = page.read_text()
    wrong = []
    for leaf, module, name in DOTTED.findall(text):
        if name in public_names(leaf):
            wrong.append(f"aibind.{leaf}.{module}.{name} -> aibind.{leaf}.{name}")
    for leaf, module, names in FROM_IMPORT.findall(text):
        exported = public_names(leaf)
        for name in (n.strip() for n in names.split(",")):
            if name in exported:
                wrong.append(
                    f"from aibind.{leaf}.{module} import {name} -> from aibind.{leaf} import {name}"
                )
    assert not wrong, f"{page.relative_to(ROOT)}: " + "; ".join(wrong)
