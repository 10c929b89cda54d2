"""Start a new backend package from the template: ``python tools/new_backend.py NAME``.

Copies ``packages/aibind-_template`` to ``packages/aibind-NAME`` (or ``DEST/aibind-NAME``) and
renames the placeholder ``replaceme`` everywhere (``aibind.replaceme`` -> ``aibind.NAME``,
``ReplacemeStreamStore`` -> ``NameStreamStore``, the ``replaceme://`` scheme, file and folder
names), then lists the ``<REPLACE ME>`` markers left for you to settle. The copy builds, and
passes the conformance suite, before you change anything else (tools/tests/test_repo_template.py
checks exactly that), so every later failure is yours to read.

NAME: lowercase letters and digits, starting with a letter (``valkeyglide``, ``dynamodb``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "packages" / "aibind-_template"
PLACEHOLDER = "replaceme"
MARKER = "<REPLACE ME"
NAME = re.compile(r"[a-z][a-z0-9]*")


def new_backend(name: str, dest: Path) -> Path:
    """Copy the template to ``dest/aibind-<name>`` with ``replaceme`` renamed; return it.

    Raises:
        ValueError: ``name`` is not lowercase letters and digits, or is taken.
        FileExistsError: the target folder exists.
    """
    if not NAME.fullmatch(name) or name in {PLACEHOLDER, "core", "conformance"}:
        raise ValueError(f"NAME must be lowercase letters and digits (and not reserved): {name!r}")
    target = dest / f"aibind-{name}"
    if target.exists():
        raise FileExistsError(f"{target} exists")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "dist", ".pytest_cache")
    shutil.copytree(TEMPLATE, target, ignore=ignore)
    renames = {
        PLACEHOLDER: name,
        PLACEHOLDER.capitalize(): name.capitalize(),
        PLACEHOLDER.upper(): name.upper(),
    }
    pattern = re.compile("|".join(renames))
    # Deepest paths first, so a folder is renamed after everything inside it.
    for path in sorted(target.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            path.write_text(pattern.sub(lambda m: renames[m[0]], text), encoding="utf-8")
        if PLACEHOLDER in path.name:
            path.rename(path.with_name(path.name.replace(PLACEHOLDER, name)))
    return target


def markers(folder: Path) -> list[str]:
    """``path:line: text`` of every ``<REPLACE ME`` marker under ``folder``."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if MARKER in line:
                    found.append(f"{path.relative_to(folder)}:{number}: {line.strip()}")
    return found


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("name", help="the backend's short name, e.g. dynamodb")
    parser.add_argument(
        "--dest",
        type=Path,
        default=ROOT / "packages",
        help="where to create aibind-NAME (default: packages/)",
    )
    args = parser.parse_args(argv)
    try:
        target = new_backend(args.name, args.dest)
    except (ValueError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"created {target}")
    todo = markers(target)
    print(f"{len(todo)} <REPLACE ME> markers to settle:")
    for line in todo:
        print(f"  {line}")
    print(f"next: python3 -m nox -s \"tests(package='{args.name}')\"  (green before any edit)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
