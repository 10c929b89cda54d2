"""Check the built wheels the way a user installs them (run by ``nox -s wheels``).

For every wheel in DIST (and for each of its extras):

* the wheel holds no ``aibind/__init__.py`` (it would shadow the other distributions of the
  PEP 420 namespace) and ships its ``py.typed``;
* installed alone into a fresh virtual environment (siblings from DIST, the rest from PyPI),
  it pulls exactly its requirements and what they need — nothing else — and
  ``import aibind.core, aibind.<name>`` works;
* with an extra, the extra's packages are installed and the packages only other extras need
  are not (``aibind-postgres[asyncpg]`` pulls asyncpg and not psycopg).

Usage: python tools/check_wheels.py DIST
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement

PROBE = r"""
import json, re, sys
from importlib.metadata import distributions
from packaging.requirements import Requirement
dists = {}
for d in distributions():
    name = re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower()
    dists[name] = d.requires or []
extras = set(sys.argv[2].split(",")) if sys.argv[2] else set()
closure, todo = set(), [(sys.argv[1], extras)]
while todo:
    name, want = todo.pop()
    if name in closure and not want:
        continue
    closure.add(name)
    for raw in dists.get(name, []):
        req = Requirement(raw)
        envs = [{"extra": e} for e in want] or [{"extra": ""}]
        if req.marker is None or any(req.marker.evaluate(env) for env in envs):
            todo.append((re.sub(r"[-_.]+", "-", req.name).lower(), set(req.extras)))
print(json.dumps({"installed": sorted(dists), "closure": sorted(closure)}))
"""

IGNORED = {"pip", "setuptools", "wheel", "packaging"}


def norm(name: str) -> str:
    """Normalise a distribution name (PEP 503)."""
    return name.lower().replace("_", "-").replace(".", "-")


def metadata(wheel: Path) -> tuple[str, dict[str, list[str]]]:
    """The wheel's distribution name and its requirement names per extra ("" = always)."""
    with zipfile.ZipFile(wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        msg = Parser().parsestr(zf.read(meta_name).decode())
    extras = ["", *(msg.get_all("Provides-Extra") or [])]
    by_extra: dict[str, list[str]] = {e: [] for e in extras}
    for raw in msg.get_all("Requires-Dist") or []:
        req = Requirement(raw)
        for extra in extras:
            if req.marker is None or req.marker.evaluate({"extra": extra}):
                by_extra[extra].append(norm(req.name))
                break
    return norm(msg["Name"]), by_extra


def dist_name(wheel: Path) -> str:
    """The normalised distribution name in a wheel's file name."""
    return norm(wheel.name.split("-", 1)[0])


def check_layout(wheel: Path, errors: list[str]) -> None:
    """Fail if the wheel ships aibind/__init__.py or lacks py.typed."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    if "aibind/__init__.py" in names:
        errors.append(f"{wheel.name}: ships aibind/__init__.py (breaks the namespace)")
    if not any(n.startswith("aibind/") and n.endswith("/py.typed") for n in names):
        errors.append(f"{wheel.name}: has no py.typed")


def install_and_probe(dist: Path, wheel: Path, name: str, extra: str) -> tuple[set[str], set[str]]:
    """Install ``wheel[extra]`` alone into a fresh venv; return (installed, expected closure)."""
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run(["uv", "venv", "-q", "-p", sys.executable, str(venv)], check=True)
        python = str(venv / "bin" / "python")
        spec = f"{name}[{extra}] @ {wheel.resolve().as_uri()}" if extra else str(wheel)
        # Our wheels keep their version while unreleased, so uv's cache could serve an older
        # build under the same file name: always take ours from DIST.
        refresh = [arg for w in dist.glob("*.whl") for arg in ("--refresh-package", dist_name(w))]
        install = ["uv", "pip", "install", "-q", "-p", python, "--find-links", str(dist)]
        subprocess.run([*install, *refresh, spec], check=True)
        short = name.removeprefix("aibind-")
        subprocess.run([python, "-c", f"import aibind.core, aibind.{short}"], check=True)
        subprocess.run(["uv", "pip", "install", "-q", "-p", python, "packaging"], check=True)
        out = subprocess.run(
            [python, "-c", PROBE, name, extra], check=True, capture_output=True, text=True
        ).stdout
    data = json.loads(out)
    return set(data["installed"]) - IGNORED, set(data["closure"]) - IGNORED


def main(dist: Path) -> int:
    """Check every wheel in ``dist``; print a report; return the exit status."""
    errors: list[str] = []
    wheels = sorted(dist.glob("*.whl"))
    if not wheels:
        print(f"no wheels in {dist}", file=sys.stderr)
        return 1
    for wheel in wheels:
        check_layout(wheel, errors)
        name, by_extra = metadata(wheel)
        for extra in by_extra:
            installed, closure = install_and_probe(dist, wheel, name, extra)
            label = f"{name}[{extra}]" if extra else name
            extra_only = {r for e, reqs in by_extra.items() if e not in ("", extra) for r in reqs}
            extra_only -= set(by_extra[""]) | set(by_extra.get(extra, []))
            unexpected = installed - closure
            missing = (set(by_extra[""]) | set(by_extra.get(extra, []))) - installed
            leaked = extra_only & installed
            print(f"{label:32} pulled: {', '.join(sorted(installed - {name}))}")
            if unexpected:
                errors.append(f"{label}: installed packages it does not need: {unexpected}")
            if missing:
                errors.append(f"{label}: requirements not installed: {missing}")
            if leaked:
                errors.append(f"{label}: pulled packages of another extra: {leaked}")
    for error in errors:
        print(f"FAIL {error}", file=sys.stderr)
    print(f"{len(wheels)} wheels checked, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
