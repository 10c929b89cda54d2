"""Every distribution's CHANGELOG.md follows Keep a Changelog 1.1.0: the title, a line naming
the format, ``## [Unreleased]`` and/or ``## [X.Y.Z] - YYYY-MM-DD`` sections (newest first), and
inside them only the standard change types (Added, Changed, Deprecated, Removed, Fixed,
Security). The release check (tools/release_check.py) additionally requires a dated section for
the version being released."""

from __future__ import annotations

import re

import pytest
from monorepo import Dist, distributions
from packaging.version import Version

DISTS = distributions(include_template=True)
TYPES = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
RELEASE = re.compile(r"## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})")


@pytest.mark.parametrize("dist", DISTS, ids=[d.name for d in DISTS])
def test_keep_a_changelog(dist: Dist) -> None:
    path = dist.folder / "CHANGELOG.md"
    assert path.is_file(), f"{dist.folder.name} has no CHANGELOG.md"
    lines = path.read_text().splitlines()
    assert lines[0] == "# Changelog"
    assert "keepachangelog.com" in path.read_text()
    sections = [line for line in lines if line.startswith("## ")]
    assert sections, "no version section"
    versions = []
    for i, section in enumerate(sections):
        if section == "## [Unreleased]":
            assert i == 0, "[Unreleased] must be the first section"
            continue
        match = RELEASE.fullmatch(section)
        assert match, f"{path}: {section!r} is not '## [X.Y.Z] - YYYY-MM-DD'"
        versions.append(Version(match.group(1)))
    assert versions == sorted(versions, reverse=True), "sections must be newest first"
    for line in lines:
        if line.startswith("### "):
            assert line[4:] in TYPES, f"{path}: {line!r} is not a Keep a Changelog type"
    current = Version(dist.version)
    # The version in pyproject.toml is either released (its dated section exists) or about to
    # be (the changes wait under [Unreleased]).
    assert current in versions or sections[0] == "## [Unreleased]"
