"""Benchmarks of every installed backend against the targets of issue #8, each figure beside
its raw-driver baseline from the same run and the npm packages' reference figures.

Run by ``nox -s bench`` (see bench/README.md): prints one table, writes JSON and a PNG to
bench/results/, drops every key and table it created and fails if any is left. A full run
fails when a target is missed; ``--quick`` (small counts, for CI) enforces none.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import leftovers
import plot
import report
from common import Backend, Sizes, backends
from measure import log, measure

from aibind.core import open_stores
from aibind.core.errors import SchemaError

ROOT = Path(__file__).resolve().parent
DOCS = ROOT.parent / "docs"


async def reachable(backend: Backend) -> str | None:
    """``None`` if the backend's driver is installed and its server answers, else why not."""
    try:
        async with open_stores(backend.url, stream_options=backend.stream_options) as stores:
            await stores.streams.get_status("bench-probe")
    except SchemaError:
        return None  # the server answers; the bench creates its tables
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def update_docs(markdown: str, png: Path, header: str) -> None:
    """Put the table and the picture of this run into docs/performance.md."""
    page = DOCS / "performance.md"
    (DOCS / "assets").mkdir(exist_ok=True)
    (DOCS / "assets" / "performance.png").write_bytes(png.read_bytes())
    text = page.read_text()
    block = f"<!-- bench:table -->\n{header}\n\n{markdown}\n<!-- /bench:table -->"
    text = re.sub(r"<!-- bench:table -->.*<!-- /bench:table -->", lambda _: block, text, flags=re.S)
    page.write_text(text)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="comma-separated backends (memory,sqlite,redis,postgresql)")
    parser.add_argument("--quick", action="store_true", help="small counts; no target enforced")
    parser.add_argument("--no-scale", action="store_true", help="skip the live-streams cases")
    parser.add_argument("--docs", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    sizes = Sizes.quick() if args.quick else Sizes()
    run = uuid.uuid4().hex[:8]
    load = os.getloadavg()
    log(f"run {run}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    left: dict[str, list[str]] = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="aibind-bench-") as tmp:
        for backend in backends(Path(tmp), run):
            if args.only and backend.name not in args.only.split(","):
                continue
            why = await reachable(backend)
            if why is not None:
                message = f"{backend.name}: not measured ({why})"
                if os.environ.get("CI") and backend.name != "memory":
                    failures.append(message)
                log(message)
                continue
            stale = await leftovers.clean_stale(backend)
            if stale:
                log(f"{backend.name}: dropped {len(stale)} keys/tables of an earlier run")
            try:
                results[backend.name] = await measure(
                    backend, sizes, failures, with_scale=not args.no_scale
                )
            except Exception as exc:
                failures.append(f"{backend.name}: {type(exc).__name__}: {exc}")
                log(failures[-1])
            finally:
                remaining = await leftovers.clean_run(backend)
                if remaining:
                    left[backend.name] = remaining
    rows = [row for name, res in results.items() for row in report.rows_of(name, res)]
    text = report.table(rows)
    end_load = os.getloadavg()
    header = (
        f"{'quick ' if args.quick else ''}run {run} on {platform.node()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load[0]:.2f} at start, {end_load[0]:.2f} at end, "
        f"{time.perf_counter() - started:.0f} s"
    )
    print(header)
    print(text)
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    data = {
        "run": run,
        "quick": args.quick,
        "header": header,
        "load": [load, end_load],
        "rows": report.as_json(rows),
        "results": results,
        "failures": failures,
        "leftovers": left,
    }
    (out / f"{stamp}.json").write_text(json.dumps(data, indent=1))
    png = out / f"{stamp}.png"
    if plot.draw(results, png, header):
        print(f"wrote {out / stamp}.json and .png")
    if args.docs and png.exists():
        update_docs(report.markdown(rows), png, header)
        print("updated docs/performance.md and docs/assets/performance.png")
    status = 0
    for name, names in left.items():
        print(f"FAIL {name}: the bench left {len(names)} keys/tables: {names[:5]}")
        status = 1
    for failure in failures:
        print(f"FAIL {failure}")
        status = 1
    missed = [r for r in rows if r.met is False]
    if missed and not args.quick:
        print(
            f"FAIL {len(missed)} targets missed: "
            + "; ".join(f"{r.backend} {r.figure}" for r in missed)
        )
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
