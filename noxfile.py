"""Developer and CI sessions for the aibind monorepo.

Sessions are parametrized by the packages found under ``packages/`` (never hand-listed), so a
new backend package gets tests, lint and wheel checks by existing:

    nox -s demo                          # run `aibind demo` on SQLite
    nox -s tests lint wheels             # everything CI runs (the README's test command)
    nox -s "tests(package='sqlite')"     # one package's tests
    nox -s bench                         # benchmarks (bench/), prints a table, writes JSON
    nox -l                               # list every session

Environment variables pass through: AIBIND_TEST_REDIS_URL / AIBIND_TEST_POSTGRES_URL pick the
test servers, CI=1 turns a missing server into a failure.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PACKAGES_DIR = ROOT / "packages"
CONFORMANCE = ROOT / "tests-shared"

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True


def _discover() -> dict[str, Path]:
    """Map each package's short name (``core``, ``sqlite``...) to its folder."""
    found = {}
    for path in sorted(PACKAGES_DIR.glob("aibind-*/pyproject.toml")):
        name = path.parent.name.removeprefix("aibind-")
        if not name.startswith("_"):  # packages/aibind-_template is a template, not a package
            found[name] = path.parent
    return found


PACKAGES = _discover()
ROOT_PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")


def _sibling(requirement: str) -> Path | None:
    """The folder of the ``aibind-*`` distribution ``requirement`` names, if it is in the tree."""
    name = re.split(r"[\s\[<>=!~;@]", requirement, maxsplit=1)[0].lower().replace("_", "-")
    path = PACKAGES_DIR / name
    return path if name.startswith("aibind-") and path.is_dir() else None


def _local_deps(*packages: Path) -> list[Path]:
    """The packages and every sibling ``aibind-*`` distribution they depend on (dependencies
    first), so they are installed from the tree instead of PyPI."""
    order: list[Path] = []

    def visit(path: Path) -> None:
        if path in order:
            return
        meta = nox.project.load_toml(path / "pyproject.toml")
        for dep in meta["project"].get("dependencies", []):
            sibling = _sibling(dep)
            if sibling is not None:
                visit(sibling)
        order.append(path)

    for package in packages:
        visit(package)
    return order


def _group(pyproject: Path, group: str) -> list[str]:
    """The PEP 735 dependency group ``group`` of ``pyproject`` (empty if it has none)."""
    data = nox.project.load_toml(pyproject)
    if group not in data.get("dependency-groups", {}):
        return []
    return list(nox.project.dependency_groups(data, group))


def _install_package(session: nox.Session, package: Path, *, tests: bool) -> None:
    """Install ``package`` (and its siblings) editable; with ``tests``, also the conformance
    suite and both test groups. A sibling ``aibind-*`` named in the package's test group (a
    backend its tests run on) comes from the tree too, never from PyPI."""
    roots, group = [package], []
    if tests:
        for requirement in _group(package / "pyproject.toml", "test"):
            sibling = _sibling(requirement)
            if sibling is None:
                group.append(requirement)
            else:
                roots.append(sibling)
    args: list[str] = []
    for path in _local_deps(*roots):
        args += ["-e", str(path)]
    if tests:
        args += ["-e", str(CONFORMANCE)]
        args += list(nox.project.dependency_groups(ROOT_PYPROJECT, "test"))
        args += group
    session.install(*args)


@nox.session
@nox.parametrize("package", list(PACKAGES))
def tests(session: nox.Session, package: str) -> None:
    """Run one package's tests (its conformance classes included) against real servers."""
    path = PACKAGES[package]
    _install_package(session, path, tests=True)
    session.run("pytest", str(path / "tests"), *session.posargs)


LINT_TARGETS = [*PACKAGES, "conformance"]


@nox.session
@nox.parametrize("package", LINT_TARGETS)
def lint(session: nox.Session, package: str) -> None:
    """ruff (lint + format check) and mypy --strict on one package's source and tests; the
    ``conformance`` target covers tests-shared/, the noxfile, tools/ and bench/."""
    if package == "conformance":
        _install_package(session, PACKAGES["core"], tests=True)
        paths = [str(CONFORMANCE), "noxfile.py", "tools", "bench"]
        typed = [str(CONFORMANCE / "src"), "tools"]
    else:
        path = PACKAGES[package]
        _install_package(session, path, tests=True)
        paths = [str(path)]
        typed = [str(path / "src"), str(path / "tests")]
    session.install(*nox.project.dependency_groups(ROOT_PYPROJECT, "lint"))
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)
    # Every src folder on the path, so mypy resolves the aibind.* namespace from the tree
    # (and our core/types.py is never mistaken for the stdlib's types module).
    mypy_path = ":".join(str(p / "src") for p in [*PACKAGES.values(), CONFORMANCE])
    session.run("mypy", *typed, env={"MYPYPATH": mypy_path})


@nox.session
def wheels(session: nox.Session) -> None:
    """Build every wheel, then install each package alone into a fresh venv from those wheels
    (plus PyPI for third-party deps) and check what it pulled, that it imports, and that no
    wheel ships ``aibind/__init__.py``."""
    session.install("uv", "packaging")
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    for path in PACKAGES.values():
        session.run("uv", "build", "--wheel", "--out-dir", str(dist), str(path))
    session.run("python", str(ROOT / "tools" / "check_wheels.py"), str(dist))


@nox.session
def demo(session: nox.Session) -> None:
    """Run ``aibind demo`` (SQLite by default; pass CLI options after ``--``)."""
    packages = ["-e", str(PACKAGES["core"])]
    if "sqlite" in PACKAGES:
        packages += ["-e", str(PACKAGES["sqlite"])]
    session.install(*packages)
    session.run("aibind", "demo", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: one table on stdout and JSON in bench/results/ (see bench/README.md)."""
    for path in PACKAGES.values():
        _install_package(session, path, tests=False)
    session.install(*_group(ROOT / "bench" / "pyproject.toml", "bench"))
    session.run("python", str(ROOT / "bench" / "run.py"), *session.posargs)
