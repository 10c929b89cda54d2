"""Check what ``nox -s "build(package=...)"`` built before anything is uploaded.

For the distribution in FOLDER and the files in OUT:

* exactly one sdist and one wheel and nothing else (the directory is the release artifact),
  both named for the distribution and the version in
  FOLDER/pyproject.toml, and both with that name and version in their metadata;
* the wheel ships ``py.typed`` and no ``aibind/__init__.py`` (it would shadow the other
  distributions of the PEP 420 namespace);
* the sdist carries pyproject.toml, README.md, CHANGELOG.md, src/ and tests/ (so the tests of
  a release can be run from its sdist).

Usage: python tools/check_dist.py FOLDER OUT
"""

from __future__ import annotations

import re
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def check(folder: Path, out: Path) -> list[str]:
    """Return the problems found (empty when the build is good)."""
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    name, version = project["name"], project["version"]
    stem = f"{_norm(name)}-{version}"
    sdists = sorted(out.glob("*.tar.gz"))
    wheels = sorted(out.glob("*.whl"))
    problems: list[str] = []
    others = [p.name for p in out.iterdir() if p not in (*sdists, *wheels)]
    if others:
        problems.append(f"files other than the sdist and the wheel: {others}")
    if [p.name for p in sdists] != [f"{stem}.tar.gz"]:
        problems.append(f"expected one sdist {stem}.tar.gz, found {[p.name for p in sdists]}")
    if [p.name for p in wheels] != [f"{stem}-py3-none-any.whl"]:
        problems.append(
            f"expected one wheel {stem}-py3-none-any.whl, found {[p.name for p in wheels]}"
        )
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
            meta = Parser().parsestr(zf.read(f"{stem}.dist-info/METADATA").decode())
        if (meta["Name"], meta["Version"]) != (name, version):
            problems.append(f"{wheel.name}: metadata says {meta['Name']} {meta['Version']}")
        if "aibind/__init__.py" in names:
            problems.append(f"{wheel.name}: ships aibind/__init__.py (breaks the namespace)")
        if not any(n.startswith("aibind/") and n.endswith("/py.typed") for n in names):
            problems.append(f"{wheel.name}: has no py.typed")
    for sdist in sdists:
        with tarfile.open(sdist) as tf:
            members = {m.name.split("/", 1)[1] for m in tf.getmembers() if "/" in m.name}
            pkg_info = tf.extractfile(f"{stem}/PKG-INFO")
            sdist_meta = Parser().parsestr(pkg_info.read().decode()) if pkg_info else None
        for required in ("pyproject.toml", "README.md", "CHANGELOG.md"):
            if required not in members:
                problems.append(f"{sdist.name}: lacks {required}")
        for tree in ("src/", "tests/"):
            if not any(m.startswith(tree) for m in members):
                problems.append(f"{sdist.name}: lacks {tree}")
        if sdist_meta is None or (sdist_meta["Name"], sdist_meta["Version"]) != (name, version):
            problems.append(f"{sdist.name}: PKG-INFO does not say {name} {version}")
    return problems


def main(folder: Path, out: Path) -> int:
    """Print each file and the verdict; return the exit status."""
    problems = check(folder, out)
    for path in sorted(out.iterdir()):
        print(f"{path.name:60} {path.stat().st_size:>9} bytes")
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    print(f"{out.name}: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
