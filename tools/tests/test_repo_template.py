"""``packages/aibind-_template`` cannot rot: a copy made by ``tools/new_backend.py`` under a
new name builds (sdist + wheel), installs from its wheel into a fresh environment beside
aibind-core and aibind-conformance from the tree, passes the conformance suite and its own
tests there, runs its README example, and is listed by ``nox -l`` with every per-package
session without any edit of the noxfile."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from monorepo import CONFORMANCE_DIR, PACKAGES_DIR, ROOT, TEMPLATE_DIR, tomllib
from new_backend import markers, new_backend

NAME = "tmplcheck"


def run(*args: str | Path, cwd: Path | None = None) -> str:
    """Run a command; fail the test with its output if it fails; return its stdout."""
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_backend(NAME, tmp_path_factory.mktemp("packages"))


def test_copy_is_renamed_and_keeps_the_markers(copy: Path) -> None:
    leftovers = [
        str(p.relative_to(copy))
        for p in copy.rglob("*")
        if "replaceme" in p.name.lower()
        or (p.is_file() and re.search("replaceme", p.read_text(), re.IGNORECASE))
    ]
    assert not leftovers, f"placeholder left in {leftovers}"
    project = tomllib.loads((copy / "pyproject.toml").read_text())["project"]
    assert project["name"] == f"aibind-{NAME}"
    assert (copy / "src" / "aibind" / NAME / "py.typed").is_file()
    assert not (copy / "src" / "aibind" / "__init__.py").exists()
    todo = markers(copy)
    assert any(line.startswith("pyproject.toml") for line in todo)
    assert any("client.py" in line for line in todo)


def test_new_backend_refuses_bad_or_taken_names(tmp_path: Path) -> None:
    for bad in ("Bad", "with-dash", "core", "1x", ""):
        with pytest.raises(ValueError, match="NAME must be"):
            new_backend(bad, tmp_path)
    new_backend("once", tmp_path)
    with pytest.raises(FileExistsError):
        new_backend("once", tmp_path)


@pytest.mark.timeout(300)
def test_copy_builds_installs_and_passes_the_conformance_suite(copy: Path, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run("uv", "build", "--sdist", "--wheel", "--out-dir", dist, copy)
    wheels = sorted(dist.glob("*.whl"))
    assert [w.name for w in wheels] == [f"aibind_{NAME}-0.1.0-py3-none-any.whl"]
    assert len(list(dist.glob("*.tar.gz"))) == 1
    venv = tmp_path / "venv"
    run("uv", "venv", "-q", "-p", sys.executable, venv)
    python = venv / "bin" / "python"
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    test_tools = root["dependency-groups"]["test"]
    run(
        "uv", "pip", "install", "-q", "-p", python,
        "-e", PACKAGES_DIR / "aibind-core", "-e", CONFORMANCE_DIR, wheels[0], *test_tools,
    )  # fmt: skip
    # The copy's tests run against the installed wheel, from a folder of their own (so no
    # source tree shadows it), with the copy's own pytest settings.
    tests = tmp_path / "tests"
    shutil.copytree(copy / "tests", tests)
    shutil.copy(copy / "pyproject.toml", tmp_path / "pyproject.toml")
    out = run(python, "-m", "pytest", "-q", tests, cwd=tmp_path)
    summary = out.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary)[1])  # type: ignore[index]
    assert "failed" not in summary, out
    assert "error" not in summary, out
    assert passed >= 100, summary  # the whole suite ran, not a handful of cases
    location = run(python, "-c", f"import aibind.{NAME} as m; print(m.__file__)")
    assert "site-packages" in location  # the wheel, not the source folder
    # The README's example runs as written.
    readme = (copy / "README.md").read_text()
    example = re.search(r"```python\n(.*?)```", readme, re.DOTALL)[1]  # type: ignore[index]
    script = "import asyncio\nasync def main():\n" + textwrap.indent(example, "    ")
    script += "\nasyncio.run(main())\n"
    assert run(python, "-c", script).strip() == "['Hello']"


def test_nox_lists_the_copy_without_editing_the_noxfile(copy: Path, tmp_path: Path) -> None:
    """A repository with the copy under packages/ gets every per-package session for it."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "packages", repo / "packages", ignore=_only_pyprojects)
    shutil.copytree(copy, repo / "packages" / copy.name)
    shutil.copy(ROOT / "noxfile.py", repo / "noxfile.py")
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    (repo / "tests-shared").mkdir()
    shutil.copy(CONFORMANCE_DIR / "pyproject.toml", repo / "tests-shared" / "pyproject.toml")
    assert (ROOT / "noxfile.py").read_bytes() == (repo / "noxfile.py").read_bytes()
    nox = shutil.which("nox")
    command = [nox] if nox else [sys.executable, "-m", "nox"]
    listed = run(*command, "-l", "-f", repo / "noxfile.py", cwd=repo)
    for session in ("tests", "tests_min", "lint", "build"):
        assert f"{session}(package='{NAME}')" in listed, listed
    assert "_template" not in listed  # the template itself is not a package


def _only_pyprojects(folder: str, names: list[str]) -> list[str]:
    """copytree filter: keep each package's pyproject.toml (all the noxfile reads)."""
    if Path(folder) == PACKAGES_DIR:
        return [n for n in names if not (PACKAGES_DIR / n / "pyproject.toml").is_file()]
    return [n for n in names if n != "pyproject.toml"]


def test_template_is_skipped_by_discovery() -> None:
    assert TEMPLATE_DIR.is_dir()
    assert os.path.basename(TEMPLATE_DIR).startswith("aibind-_")
