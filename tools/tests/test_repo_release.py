"""The release gate (tools/release_check.py) refuses what the release workflow must refuse,
and the CI entry point runs exactly the README's command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from monorepo import ROOT, Dist, tomllib
from release_check import (
    Refused,
    changelog_has_release,
    deps_on_pypi,
    find,
    key,
    resolve,
    smoke,
)

TOOL = ROOT / "tools" / "release_check.py"


def fake_dist(tmp_path: Path, name: str, version: str, deps: list[str], changelog: str) -> Dist:
    (tmp_path / "CHANGELOG.md").write_text(changelog)
    project = {"name": name, "version": version, "dependencies": deps}
    return Dist(tmp_path, {"project": project})


def test_find_accepts_short_and_full_names() -> None:
    assert find("redis").name == find("aibind-redis").name == "aibind-redis"
    assert key(find("conformance")) == "conformance"
    with pytest.raises(Refused, match="no distribution 'aibind-nope'"):
        find("nope")


@pytest.mark.parametrize(
    ("tag", "reason"),
    [
        ("v0.2.0", "is not <distribution>-v<X.Y.Z>"),
        ("aibind-redis-v0.2", "is not <distribution>-v<X.Y.Z>"),
        ("aibind-nope-v0.1.0", "no distribution"),
        ("aibind-redis-v9.9.9", "says 9.9.9 but packages/aibind-redis/pyproject.toml says"),
    ],
)
def test_resolve_refuses_bad_tags(tag: str, reason: str) -> None:
    with pytest.raises(Refused, match=re.escape(reason)):
        resolve(tag, None)


def test_resolve_refuses_a_version_without_a_dated_changelog_section() -> None:
    core = find("core")
    assert not changelog_has_release(core, core.version)  # still under [Unreleased]
    with pytest.raises(Refused, match=r"CHANGELOG.md has no '## \[0\.2\.0\] - YYYY-MM-DD'"):
        resolve(f"aibind-core-v{core.version}", None)


def test_changelog_release_section(tmp_path: Path) -> None:
    dist = fake_dist(tmp_path, "aibind-x", "1.2.3", [], "# Changelog\n\n## [1.2.3] - 2026-11-29\n")
    assert changelog_has_release(dist, "1.2.3")
    assert not changelog_has_release(dist, "1.2.4")


@pytest.mark.timeout(120)
def test_requirements_that_pypi_cannot_satisfy_are_refused(tmp_path: Path) -> None:
    dist = fake_dist(tmp_path, "aibind-gate-check", "0.1.0", ["packaging>=9999.0,<9999.1"], "")
    with pytest.raises(Refused, match="do not resolve from PyPI"):
        deps_on_pypi(dist)


@pytest.mark.timeout(120)
def test_requirements_that_pypi_satisfies_pass(tmp_path: Path) -> None:
    dist = fake_dist(tmp_path, "aibind-gate-check", "0.1.0", ["packaging>=20,<100"], "")
    assert "packaging==" in deps_on_pypi(dist)


@pytest.mark.timeout(60)
def test_a_version_already_on_pypi_is_refused(tmp_path: Path) -> None:
    dist = fake_dist(tmp_path, "packaging", "20.0", [], "")
    with pytest.raises(Refused, match="already on PyPI"):
        deps_on_pypi(dist)


def test_smoke_checks_the_installed_version() -> None:
    core = find("core")
    done = smoke("aibind-core", core.version)
    assert "open_stores('memory://') round trip" in done
    assert any(line.startswith("entry point aibind.backends:memory") for line in done)
    with pytest.raises(Refused, match=r"not 9\.9\.9"):
        smoke("aibind-core", "9.9.9")


def test_cli_exit_status_and_message() -> None:
    result = subprocess.run(
        [sys.executable, str(TOOL), "resolve", "--tag", "aibind-redis-v9.9.9"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("REFUSED: tag aibind-redis-v9.9.9 says 9.9.9")


def test_ci_runs_exactly_the_readme_command() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(
        r"^python3 -m pip install -q nox uv && python3 -m nox -s .*$", readme, re.M
    )
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if "nox" in line]
    assert ci[-1] in commands
    assert commands[-1] == ci[-1]


def test_ci_workflow_runs_every_session_of_the_readme_command() -> None:
    command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    workflow = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    # one or more `nox -s SESSION... [-- ARGS]` joined by &&: each session, with its arguments
    runs = re.findall(r"nox -s ([^&]+)", command)
    assert runs, command
    for run in runs:
        sessions, _, args = run.strip().partition(" -- ")
        for session in sessions.split():
            pattern = rf"nox .*\b{session}\b" + (rf".* -- {re.escape(args)}" if args else "")
            assert re.search(pattern, workflow), f"ci.yml never runs {session} {args}".strip()


def test_release_workflow_builds_with_the_developers_session() -> None:
    workflow = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    assert "nox -s \"build(package='$KEY')\"" in workflow
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]["build"]
