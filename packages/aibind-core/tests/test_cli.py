"""Tests of the ``aibind`` command line, run as a user runs it (a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aibind.core.cli.demo import tokenize


def aibind(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aibind.core.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_demo_on_memory(tmp_path: Path) -> None:
    result = aibind("demo", "--url", "memory://", "--pace", "0.001", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "then dropped the connection" in out
    assert "matches the source byte for byte" in out
    assert "every seq exactly once, in order: yes" in out
    assert "holds 1 turn" in out
    lines = out.splitlines()
    started = next(i for i, line in enumerate(lines) if "started; follow it live" in line)
    assert lines[started + 1].strip().startswith("aibind tail memory:// ")
    assert started < next(i for i, line in enumerate(lines) if "then dropped" in line)


def test_demo_with_own_text(tmp_path: Path) -> None:
    text = tmp_path / "t.txt"
    text.write_text("ünïcödé ☃\n\nline two\r\nand\x01odd\tbytes  \n" * 20, encoding="utf-8")
    result = aibind("demo", "--url", "memory://", "--text", str(text), "--pace", "0", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "t.txt" in result.stdout
    assert "matches the source byte for byte" in result.stdout


def test_demo_rejects_empty_text(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = aibind("demo", "--url", "memory://", "--text", str(empty), cwd=tmp_path)
    assert result.returncode == 1
    assert "empty" in result.stderr


def test_unknown_backend_is_a_clear_error() -> None:
    result = aibind("status", "nope://x", "s1")
    assert result.returncode == 1
    assert "no installed aibind package provides the URL scheme 'nope'" in result.stderr


def test_status_of_unknown_stream() -> None:
    result = aibind("status", "memory://", "missing")
    assert result.returncode == 1
    assert "not found" in result.stderr


def test_url_options_are_checked() -> None:
    result = aibind("status", "memory://?prefix=app", "s1")
    assert result.returncode == 1
    assert "unknown URL option 'prefix'" in result.stderr
    assert "Traceback" not in result.stderr
    assert aibind("status", "memory://?ttl=5&conversation_ttl=60", "s1").returncode == 1  # absent


def test_usage_error_exits_2() -> None:
    assert aibind("frobnicate").returncode == 2


@pytest.mark.parametrize(
    "text", ["", "a", "  leading", "trailing  ", "many   spaces\n\n\tand tabs", "☃" * 40]
)
def test_tokenize_round_trips(text: str) -> None:
    assert "".join(tokenize(text)) == text
