"""Install the built ``aibind-postgres`` wheel alone into fresh virtual environments and check
what each extra pulls (requirement 5 of the aibind-postgres issue).

* ``aibind-postgres`` (no extra): pulls aibind-core and neither driver; ``import
  aibind.postgres`` works; opening a store raises ``MissingDriverError`` naming both extras.
* ``aibind-postgres[asyncpg]``: pulls aibind-core and asyncpg, not psycopg / psycopg-pool;
  the driver picked is asyncpg.
* ``aibind-postgres[psycopg]``: pulls aibind-core, psycopg and psycopg-pool, not asyncpg;
  the driver picked is psycopg.

With ``$AIBIND_TEST_POSTGRES_URL`` set, each driver environment also runs a real
create/append/read round trip against that server.

Usage (from the repository root; the lead's nox can call it the same way)::

    python packages/aibind-postgres/check_extras.py [DIST]

DIST is a folder holding the ``aibind_core`` and ``aibind_postgres`` wheels; without it both
are built into a temporary folder with ``uv build``. Needs ``uv`` on PATH and PyPI access for
the drivers. Exits non-zero with a message on the first failed check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CORE = ROOT / "packages" / "aibind-core"

EXPECT: dict[str, tuple[set[str], set[str]]] = {
    # extra: (must be installed, must not be installed)
    "": ({"aibind-core", "aibind-postgres"}, {"asyncpg", "psycopg", "psycopg-pool"}),
    "asyncpg": ({"aibind-core", "aibind-postgres", "asyncpg"}, {"psycopg", "psycopg-pool"}),
    "psycopg": ({"aibind-core", "aibind-postgres", "psycopg", "psycopg-pool"}, {"asyncpg"}),
}

PROBE = r"""
import asyncio, json, os, sys
from importlib.metadata import distributions
import aibind.postgres as pg
from aibind.postgres.connect import pick_driver
extra = sys.argv[1]
names = sorted({d.metadata["Name"].lower().replace("_", "-") for d in distributions()})
out = {"installed": names}
if not extra:
    try:
        pg.PostgresStreamStore.from_url("postgresql://nobody@127.0.0.1/none")
    except pg.MissingDriverError as exc:
        out["error"] = str(exc)
else:
    out["driver"] = pick_driver()
    url = os.environ.get("AIBIND_TEST_POSTGRES_URL")
    if url:
        async def main():
            async with pg.from_url(url) as db:
                store = pg.PostgresStreamStore(db, chunks_table="aibind_wheelcheck_c",
                                               status_table="aibind_wheelcheck_s")
                await store.setup()
                await store.create("w")
                assert await store.append("w", "x") == 1
                await db.query('DROP TABLE aibind_wheelcheck_c, aibind_wheelcheck_s')
            return True
        out["round_trip"] = asyncio.run(main())
import aibind.core.registry as registry
out["core_file"] = registry.__file__
print(json.dumps(out))
"""


def run(*args: str | Path, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run a command, failing with its output if it fails."""
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        sys.exit(f"command failed: {' '.join(map(str, args))}\n{proc.stdout}\n{proc.stderr}")
    return proc  # type: ignore[no-any-return]


def build(dist: Path) -> None:
    """Build the core and postgres wheels into ``dist``."""
    for package in (CORE, HERE):
        run("uv", "build", "--wheel", "--out-dir", dist, package)


def wheel(dist: Path, name: str) -> Path:
    """The single wheel of distribution ``name`` (``aibind_postgres``) in ``dist``."""
    found = sorted(dist.glob(f"{name}-*.whl"))
    if not found:
        sys.exit(f"no {name} wheel in {dist}")
    return found[-1]


def check(dist: Path, extra: str, work: Path) -> str:
    """Install the postgres wheel with ``extra`` into a fresh venv and check it; returns a
    one-line summary."""
    venv = work / f"venv-{extra or 'bare'}"
    run("uv", "venv", "-q", "-p", sys.executable, venv)
    python = venv / "bin" / "python"
    target = str(wheel(dist, "aibind_postgres")) + (f"[{extra}]" if extra else "")
    # Only the postgres wheel is named; aibind-core must come in as its dependency (found
    # through --find-links, since it is not on PyPI).
    run("uv", "pip", "install", "-q", "-p", python, "--find-links", dist, target, "packaging")
    probe = run(python, "-c", PROBE, extra, env={**os.environ, "PYTHONPATH": ""})
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    installed = set(result["installed"])
    must, must_not = EXPECT[extra]
    label = f"[{extra}]" if extra else "[no extra]"
    if missing := must - installed:
        sys.exit(f"{label} not installed: {sorted(missing)}; got {sorted(installed)}")
    if extra_pulled := must_not & installed:
        sys.exit(f"{label} must not pull {sorted(extra_pulled)}")
    if not result["core_file"].startswith(str(venv)):
        sys.exit(f"aibind-core was imported from outside the venv: {result['core_file']}")
    if not extra:
        message = result.get("error", "")
        if "aibind-postgres[psycopg]" not in message or "aibind-postgres[asyncpg]" not in message:
            sys.exit(f"missing-driver error does not name the extras: {message!r}")
        return "no extra: aibind-core pulled, no driver; MissingDriverError names both extras"
    if result["driver"] != extra:
        sys.exit(f"[{extra}] picked driver {result['driver']!r}")
    trip = " + round trip" if result.get("round_trip") else ""
    return f"[{extra}]: aibind-core + {extra} pulled, the other driver not{trip}"


def main(argv: list[str]) -> int:
    """Entry point; see the module docstring."""
    with tempfile.TemporaryDirectory(prefix="aibind-pg-wheels-") as tmp:
        work = Path(tmp)
        if len(argv) > 1:
            dist = Path(argv[1]).resolve()
        else:
            dist = work / "dist"
            build(dist)
        for extra in ("", "asyncpg", "psycopg"):
            print("ok", check(dist, extra, work), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
