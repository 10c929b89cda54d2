"""The versioning rules of the monorepo (CONTRIBUTING.md "Versions and dependency ranges"),
checked on every ``packages/*/pyproject.toml`` and on ``tests-shared/pyproject.toml``.

* each distribution has one static version (PEP 440 ``X.Y.Z``, no ``dynamic`` version) and its
  ``__version__`` comes from ``importlib.metadata``, never from a second literal;
* a dependency on another distribution of this repository is ``>=X.Y,<X+1`` (``>=0.N,<0.(N+1)``
  while the target is 0.x: a 0.x minor is breaking), and the target's version in the tree is
  inside that range (so the tree is installable as one set);
* every third-party runtime dependency has a floor (``>=``, tested by ``nox -s tests_min``) and an
  upper bound;
* the lint, docs and workflow-audit tools of the root project are pinned exactly (``==``).
"""

from __future__ import annotations

import ast
import re

import pytest
from monorepo import ROOT, Dist, distributions, norm, tomllib
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

DISTS = distributions(include_template=True)
IDS = [d.name for d in DISTS]
LOCAL = {d.name: d for d in DISTS}


def expected_range(target: Version) -> str:
    """The range a dependant must use for ``target``: ``>=0.N,<0.(N+1)`` or ``>=X.Y,<X+1``."""
    major, minor = target.major, target.minor
    if major == 0:
        return f">=0.{minor},<0.{minor + 1}"
    return f">={major}.{minor},<{major + 1}"


def test_every_package_is_found() -> None:
    names = set(LOCAL)
    assert {"aibind-core", "aibind-conformance"} <= names
    assert len(names) >= 3


@pytest.mark.parametrize("dist", DISTS, ids=IDS)
def test_static_pep440_version(dist: Dist) -> None:
    project = dist.pyproject["project"]
    assert "version" not in project.get("dynamic", []), f"{dist.name}: dynamic version"
    if dist.is_template:
        assert project["version"] == "0.1.0"
        return
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"]), project["version"]


@pytest.mark.parametrize("dist", [d for d in DISTS if d.init is not None], ids=lambda d: d.name)
def test_version_comes_from_metadata(dist: Dist) -> None:
    """``__version__`` is read from the installed metadata, not written a second time."""
    assert dist.init is not None
    tree = ast.parse(dist.init.read_text())
    assigns = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
    ]
    assert len(assigns) == 1, f"{dist.init}: one __version__ assignment expected"
    value = assigns[0].value
    assert isinstance(value, ast.Call), f"{dist.init}: __version__ must call importlib.metadata"
    assert "importlib.metadata" in dist.init.read_text()
    assert any(isinstance(arg, ast.Constant) and arg.value == dist.name for arg in value.args), (
        f"{dist.init}: __version__ must read the metadata of {dist.name}"
    )


@pytest.mark.parametrize("dist", DISTS, ids=IDS)
def test_local_dependency_ranges(dist: Dist) -> None:
    for raw in dist.pyproject["project"].get("dependencies", []):
        req = Requirement(raw)
        target = LOCAL.get(norm(req.name))
        if target is None:
            continue
        version = Version(target.pyproject["project"]["version"])
        want = expected_range(version)
        assert SpecifierSet(str(req.specifier)) == SpecifierSet(want), (
            f"{dist.name} depends on {raw!r}; the rule for {target.name} {version} is "
            f"{target.name}{want}"
        )
        assert version in req.specifier


@pytest.mark.parametrize("dist", DISTS, ids=IDS)
def test_third_party_floors_and_caps(dist: Dist) -> None:
    project = dist.pyproject["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    for raw in requirements:
        req = Requirement(raw)
        if norm(req.name) in LOCAL or norm(req.name).startswith("aibind-"):
            continue
        operators = {spec.operator for spec in req.specifier}
        assert ">=" in operators, f"{dist.name}: {raw!r} has no floor for tests_min to test"
        assert operators & {"<", "<=", "~="}, f"{dist.name}: {raw!r} has no upper bound"


def test_expected_range_examples() -> None:
    assert expected_range(Version("0.2.0")) == ">=0.2,<0.3"
    assert expected_range(Version("0.10.3")) == ">=0.10,<0.11"
    assert expected_range(Version("1.4.2")) == ">=1.4,<2"


@pytest.mark.parametrize("group", ["lint", "docs", "workflows"])
def test_tool_groups_are_pinned_exactly(group: str) -> None:
    """A new ruff/mypy/zizmor/mkdocs release cannot turn CI red with no change of ours."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    entries = data["dependency-groups"][group]
    assert entries
    for raw in entries:
        if isinstance(raw, dict):  # {include-group = ...}
            continue
        req = Requirement(raw)
        specs = list(req.specifier)
        assert len(specs) == 1, f"[dependency-groups] {group}: {raw!r} is not one exact pin"
        assert specs[0].operator == "==", f"[dependency-groups] {group}: {raw!r} is not pinned"


def test_installed_versions_match_pyproject() -> None:
    """What ``__version__`` reports at run time is the version in pyproject.toml."""
    import importlib

    for dist in DISTS:
        if dist.init is None or dist.is_template:
            continue
        module = importlib.import_module(dist.module)
        assert module.__version__ == dist.pyproject["project"]["version"], dist.name


RANGE = re.compile(r"aibind-core\s*[<>=~!][^\"'`\s,;]*(?:,\s*<[^\"'`\s;]*)?")
"""A requirement on aibind-core written in prose or TOML (``aibind-core>=0.2,<0.3``)."""


def test_no_stale_range_in_docs() -> None:
    """Docs show the current rule, not an old range such as ``>=0.1,<1``."""
    core = LOCAL["aibind-core"].pyproject["project"]["version"]
    want = "aibind-core" + expected_range(Version(core))
    pages = [ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")]
    pages += list((ROOT / "packages").glob("aibind-*/README.md"))
    for page in pages:
        for found in RANGE.findall(page.read_text()):
            assert found.replace(" ", "") == want, f"{page.relative_to(ROOT)} says {found!r}"
