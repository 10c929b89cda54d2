"""Data written by the npm ``@aibind`` packages (version 0.15.0), shipped with the suite so
interop tests run from a plain clone. ``npm_fixtures/README.md`` says how each was made."""

from __future__ import annotations

from pathlib import Path

__all__ = ["NPM_FIXTURES", "npm_fixture", "npm_fixture_path"]

NPM_FIXTURES = Path(__file__).parent / "npm_fixtures"
"""Folder of the npm-written fixtures."""


def npm_fixture_path(name: str) -> Path:
    """Path of the fixture ``name`` (e.g. ``"chat_history.json"``).

    Raises:
        FileNotFoundError: no such fixture.
    """
    path = NPM_FIXTURES / name
    if not path.is_file():
        raise FileNotFoundError(f"no npm fixture named {name!r} in {NPM_FIXTURES}")
    return path


def npm_fixture(name: str) -> str:
    """Text of the fixture ``name``, exactly as the npm package wrote it (UTF-8)."""
    return npm_fixture_path(name).read_text(encoding="utf-8")
