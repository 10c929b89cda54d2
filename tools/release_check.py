"""Gate and smoke test of the release workflow (.github/workflows/release.yml).

Subcommands (each prints what it checked and exits non-zero with the reason when it refuses):

``resolve [--tag TAG | --package NAME]``
    Which distribution is released: from a tag ``<distribution>-v<version>`` (e.g.
    ``aibind-redis-v0.2.0``) or a package name (``aibind-redis``, ``redis``, ``conformance``).
    Refuses when the tag's version differs from the pyproject version, or the CHANGELOG has no
    ``## [<version>] - YYYY-MM-DD`` section. Writes ``dist``, ``key`` (the nox parameter),
    ``folder`` and ``version`` to ``$GITHUB_OUTPUT`` when set.
``ci-passed --sha SHA --repo OWNER/NAME``
    Refuses unless a run of the ``ci`` workflow (ci.yml) on exactly that commit concluded with
    success (GitHub REST API, token in ``$GH_TOKEN``).
``deps-on-pypi --package NAME``
    Refuses unless every requirement of the distribution, including its ``aibind-*`` siblings
    (``aibind-core>=0.2,<0.3``), resolves from PyPI alone (``uv pip compile``, Python 3.10):
    a backend is never published before the core version it needs; and refuses when its own
    version is already on PyPI.
``smoke --package NAME --version VERSION``
    Run in a fresh environment where ``NAME==VERSION`` was installed from PyPI: the installed
    version is VERSION, ``__version__`` agrees, the leaf package imports, every entry point it
    registers loads, and (with aibind-core) a stream round trip through ``open_stores
    ("memory://")`` works.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from monorepo import Dist, distributions, norm  # noqa: E402

TAG = re.compile(r"(?P<dist>aibind-[a-z0-9][a-z0-9-]*)-v(?P<version>\d+\.\d+\.\d+)")


class Refused(Exception):
    """The release must not go on; the message says why."""


def find(name: str) -> Dist:
    """The distribution called ``name`` (``aibind-redis``, ``redis``, ``conformance``)."""
    wanted = norm(name if name.startswith("aibind-") else f"aibind-{name}")
    for dist in distributions():
        if dist.name == wanted:
            return dist
    known = ", ".join(d.name for d in distributions())
    raise Refused(f"no distribution {wanted!r} in this tree (known: {known})")


def key(dist: Dist) -> str:
    """The nox ``package`` parameter of ``dist`` (``redis``, ``conformance``)."""
    return dist.name.removeprefix("aibind-")


def changelog_has_release(dist: Dist, version: str) -> bool:
    """``True`` if CHANGELOG.md has a dated ``## [version] - YYYY-MM-DD`` section."""
    text = (dist.folder / "CHANGELOG.md").read_text()
    pattern = rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}$"
    return re.search(pattern, text, re.MULTILINE) is not None


def resolve(tag: str | None, package: str | None) -> dict[str, str]:
    """Check the tag or package against the tree; return dist, key, folder and version."""
    if tag:
        match = TAG.fullmatch(tag)
        if match is None:
            raise Refused(f"tag {tag!r} is not <distribution>-v<X.Y.Z>, e.g. aibind-redis-v0.2.0")
        dist = find(match["dist"])
        if dist.version != match["version"]:
            raise Refused(
                f"tag {tag} says {match['version']} but {dist.folder.relative_to(ROOT)}"
                f"/pyproject.toml says {dist.version}"
            )
    elif package:
        dist = find(package)
    else:
        raise Refused("give --tag or --package")
    if not changelog_has_release(dist, dist.version):
        raise Refused(
            f"{dist.folder.relative_to(ROOT)}/CHANGELOG.md has no '## [{dist.version}] - "
            "YYYY-MM-DD' section: move the [Unreleased] notes under the release first"
        )
    return {
        "dist": dist.name,
        "key": key(dist),
        "folder": str(dist.folder.relative_to(ROOT)),
        "version": dist.version,
    }


def _get_json(url: str, token: str | None = None) -> object:
    headers = {"Accept": "application/json", "User-Agent": "aibind-release-check"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
        return json.load(r)


def ci_passed(sha: str, repo: str, token: str | None) -> str:
    """The URL of a successful ``ci`` run on ``sha``; raises :class:`Refused` without one."""
    url = (
        f"https://api.github.com/repos/{repo}/actions/workflows/ci.yml/runs"
        f"?head_sha={sha}&status=success&per_page=1"
    )
    try:
        data = _get_json(url, token)
    except (urllib.error.URLError, TimeoutError) as exc:
        raise Refused(f"could not read the ci runs of {sha} from the GitHub API: {exc}") from exc
    runs = data.get("workflow_runs", []) if isinstance(data, dict) else []
    if not runs:
        raise Refused(f"commit {sha} has no successful run of the ci workflow: release refused")
    return str(runs[0]["html_url"])


def on_pypi(name: str) -> set[str]:
    """The versions of ``name`` on PyPI (empty if the project does not exist)."""
    try:
        data = _get_json(f"https://pypi.org/pypi/{name}/json")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return set()
        raise
    return set(data["releases"]) if isinstance(data, dict) else set()


def deps_on_pypi(dist: Dist) -> str:
    """Resolve the requirements of ``dist`` from PyPI alone; return the resolution."""
    try:
        released = on_pypi(dist.name)
    except (urllib.error.URLError, TimeoutError) as exc:
        raise Refused(f"could not read {dist.name}'s releases from PyPI: {exc}") from exc
    if dist.version in released:
        raise Refused(f"{dist.name} {dist.version} is already on PyPI")
    project = dist.pyproject["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    if not requirements:
        return "(no requirements)"
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "requirements.in"
        source.write_text("\n".join(requirements) + "\n")
        result = subprocess.run(
            [
                "uv",
                "pip",
                "compile",
                "-q",
                "--no-config",
                "--no-cache",
                "--python-version",
                "3.10",
                "--index-url",
                "https://pypi.org/simple",
                str(source),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise Refused(
            f"the requirements of {dist.name} {dist.version} do not resolve from PyPI "
            f"(release the distributions it needs first):\n{result.stderr.strip()}"
        )
    return result.stdout


async def _memory_round_trip() -> None:
    from aibind.core import open_stores

    async with open_stores("memory://") as stores:
        await stores.streams.create("smoke")
        await stores.streams.append("smoke", "ok")
        await stores.streams.complete("smoke")
        chunks = [chunk.data async for chunk in stores.streams.read_from("smoke")]
    if chunks != ["ok"]:
        raise Refused(f"memory round trip read {chunks!r}")


def smoke(name: str, version: str) -> list[str]:
    """Check the installed ``name`` is ``version`` and works; return what was checked."""
    import importlib
    from importlib.metadata import distribution

    installed = distribution(name)
    if installed.version != version:
        raise Refused(f"installed {name} is {installed.version}, not {version}")
    done = [f"{name} {installed.version} installed"]
    leaf = f"aibind.{name.removeprefix('aibind-')}"
    module = importlib.import_module(leaf)
    if getattr(module, "__version__", version) != version:
        raise Refused(f"{leaf}.__version__ is {module.__version__!r}")
    done.append(f"import {leaf} (__version__ {getattr(module, '__version__', 'n/a')})")
    for point in installed.entry_points:
        point.load()
        done.append(f"entry point {point.group}:{point.name} loads")
    if name == "aibind-core":
        asyncio.run(_memory_round_trip())
        done.append("open_stores('memory://') round trip")
    return done


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("resolve")
    p.add_argument("--tag")
    p.add_argument("--package")
    p = sub.add_parser("ci-passed")
    p.add_argument("--sha", required=True)
    p.add_argument("--repo", required=True)
    p = sub.add_parser("deps-on-pypi")
    p.add_argument("--package", required=True)
    p = sub.add_parser("smoke")
    p.add_argument("--package", required=True)
    p.add_argument("--version", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "resolve":
            found = resolve(args.tag, args.package)
            for name, value in found.items():
                print(f"{name}={value}")
            if os.environ.get("GITHUB_OUTPUT"):
                with open(os.environ["GITHUB_OUTPUT"], "a") as out:
                    out.writelines(f"{name}={value}\n" for name, value in found.items())
        elif args.command == "ci-passed":
            url = ci_passed(args.sha, args.repo, os.environ.get("GH_TOKEN"))
            print(f"ci passed on {args.sha}: {url}")
        elif args.command == "deps-on-pypi":
            dist = find(args.package)
            resolution = deps_on_pypi(dist)
            print(f"{dist.name} {dist.version} is not on PyPI yet; its requirements resolve:")
            print(resolution)
        else:
            for line in smoke(norm(args.package), args.version):
                print(f"ok: {line}")
    except Refused as exc:
        print(f"REFUSED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
