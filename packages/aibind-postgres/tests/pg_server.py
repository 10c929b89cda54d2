"""A private PostgreSQL server for the fault tests (marker ``faults``), started with the system
packages' ``initdb`` / ``pg_ctl`` on a free port in a temporary directory, so the tests can
stop, restart and starve it without touching the shared server. It is stopped and its
directory removed afterwards: no process, port or file is left behind.

``pg_stat_statements`` is preloaded, so the tests can count the statements the server ran.
As root (``initdb`` refuses to run as root) the server runs as the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["PrivatePostgres", "find_bindir", "free_port", "private_postgres"]


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with ``initdb`` and ``pg_ctl`` (or the
    folder of ``pg_ctl`` on ``PATH``), or ``None``."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: [int(x) for x in Path(p).parent.parent.name.split(".") if x.isdigit()],
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrivatePostgres:
    """A running private server.

    Attributes:
        url: ``postgresql://postgres@127.0.0.1:<port>/postgres`` (trust authentication).
        port: its TCP port.
        root: its temporary directory (data directory, socket, log).
    """

    bindir: Path
    root: Path
    port: int
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        """The URL of another database on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=60)

    def _options(self) -> str:
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_preload_libraries": "pg_stat_statements",
            "max_connections": "200",
            **self.settings,
        }
        return " ".join([f"-p {self.port}", *(f"-c {k}={v}" for k, v in settings.items())])

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "30",
            "-o", self._options(), "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back and disconnect; ``immediate``: like a crash)."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-m", mode, "stop")

    def restart(self, down_for: float = 0.0) -> None:
        """Stop (``fast``), stay down ``down_for`` seconds, start again."""
        self.stop("fast")
        time.sleep(down_for)
        self.start()

    def running(self) -> bool:
        """``True`` while the postmaster runs."""
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(path, user.pw_uid, user.pw_gid)


@contextmanager
def private_postgres(**settings: str) -> Iterator[PrivatePostgres]:
    """Start a private server (extra ``postgresql.conf`` settings as keywords); on exit stop
    it and remove its directory. Skips the test (fails it with ``CI`` set) when the server
    binaries are not installed."""
    bindir = find_bindir()
    if bindir is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        message = "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="aibind-pgfaults-"))
    _chown(root)
    server = PrivatePostgres(bindir, root, free_port(), dict(settings))
    try:
        server._run(
            "initdb", "-D", str(server.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        server.start()
        yield server
    finally:
        if server.data.exists() and server.running():
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
