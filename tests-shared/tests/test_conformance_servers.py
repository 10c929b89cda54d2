"""The test-server finders are plug-ins: a distribution that registers an entry point in
``aibind.test_servers`` is found without any edit of the suite. The distribution here is real
(a ``.dist-info`` with ``entry_points.txt`` on ``sys.path``, as pip writes it), not a mock of
``importlib.metadata``."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from aibind.conformance import servers
from aibind.conformance.servers import (
    FINDERS_GROUP,
    Server,
    ServerNotFound,
    find_test_server,
    server_finders,
)


def install_fake_backend(root: Path, name: str, kind: str, body: str) -> None:
    """Write a minimal installed distribution ``name`` registering ``kind`` under ``root``."""
    module = f"{name.replace('-', '_')}_servers"
    (root / f"{module}.py").write_text(textwrap.dedent(body))
    info = root / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[{FINDERS_GROUP}]\n{kind} = {module}:find\n")


def test_builtin_kinds_are_registered_through_entry_points() -> None:
    finders = server_finders()
    assert {"redis", "postgres"} <= set(finders)
    from aibind.conformance.servers_postgres import find_postgres
    from aibind.conformance.servers_redis import find_redis

    assert finders["redis"] is find_redis
    assert finders["postgres"] is find_postgres


def test_a_new_kind_registered_by_another_distribution_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_backend(
        tmp_path,
        "aibind-fakebackend",
        "fakeserver",
        """
        from aibind.conformance.servers import Server

        def find():
            return Server("fake://127.0.0.1:1/", "local")
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "fakeserver" in server_finders()
    server = find_test_server("fakeserver")
    assert server == Server("fake://127.0.0.1:1/", "local")


def test_an_unknown_kind_names_the_registered_ones() -> None:
    with pytest.raises(ServerNotFound, match=r"no test-server finder registered for 'nope'.*redis"):
        find_test_server("nope")


def test_the_same_kind_from_two_distributions_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_backend(tmp_path, "aibind-other", "redis", "def find(): raise AssertionError\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ServerNotFound, match="registered twice"):
        server_finders()


def test_fixture_skips_or_fails_a_kind_without_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_backend(
        tmp_path,
        "aibind-absent",
        "absent",
        """
        from aibind.conformance.servers import ServerNotFound

        def find():
            raise ServerNotFound("no absent server: tried nothing")
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = servers._Servers()
    expected = pytest.fail.Exception if os.environ.get("CI") else pytest.skip.Exception
    with pytest.raises(expected, match="no absent server"):
        registry("absent")
    # The outcome is remembered: the finder is not asked again in the same session.
    with pytest.raises(expected, match="no absent server"):
        registry("absent")


def test_servers_found_once_and_stopped_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "log.txt"
    install_fake_backend(
        tmp_path,
        "aibind-counted",
        "counted",
        f"""
        from aibind.conformance.servers import Server

        def find():
            with open({str(log)!r}, "a") as f:
                f.write("start\\n")
            def stop():
                with open({str(log)!r}, "a") as f:
                    f.write("stop\\n")
            return Server("counted://x", "embedded", stop)
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = servers._Servers()
    first = registry("counted")
    assert registry("counted") is first
    assert log.read_text() == "start\n"
    registry.stop()
    assert log.read_text() == "start\nstop\n"
