"""Redis servers the tests start themselves, from the installed ``redis-server`` binary, on free
local ports: a standalone server that fault tests may stop, kill and restart, and a three-master
Redis Cluster. They never touch the shared server at 127.0.0.1:6379; each lives in its own
temporary folder, and :meth:`close` stops every process it started and removes the folder.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

__all__ = [
    "ClusterProcesses",
    "RedisProcess",
    "free_port",
    "need_binaries",
    "port_free",
    "standalone",
]


def need_binaries() -> tuple[str, str]:
    """Paths of ``redis-server`` and ``redis-cli``; skips the test (fails with ``CI`` set)
    when they are not installed."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        reason = "redis-server/redis-cli not on PATH: cannot start a server of our own"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so this is a failure)", pytrace=False)
        pytest.skip(reason)
    return server, cli


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(*, cluster: bool = False) -> int:
    """A TCP port nothing listens on now. For a cluster node, its bus port (``port + 10000``)
    must be free too, so the port is drawn from 20000-29999."""
    if not cluster:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
            return port
    for _ in range(200):
        port = random.randrange(20000, 30000)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise RuntimeError("no free port pair (port, port + 10000) for a cluster node")


def port_free(port: int) -> bool:
    """``True`` if nothing accepts connections on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _wait(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.02)


class RedisProcess:
    """One ``redis-server`` on a free port, with append-only persistence (``appendfsync
    always``), so a stop/start keeps every acknowledged write.

    Args:
        extra: more ``redis-server`` arguments (``["--cluster-enabled", "yes"]``...).
        workdir: the folder for its data (a new temporary one by default).
    """

    def __init__(self, extra: list[str] | None = None, workdir: Path | None = None) -> None:
        self.binary, self.cli = need_binaries()
        self.port = free_port(cluster="--cluster-enabled" in (extra or []))
        self._own_dir = workdir is None
        self.dir = workdir if workdir is not None else Path(tempfile.mkdtemp(prefix="aibind-rs-"))
        self.extra = list(extra or [])
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        """Start the server (on the same port and data as before) and wait until it answers."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--enable-debug-command",
            "yes",
            *self.extra,
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(self._answers, 15, f"redis-server on port {self.port}")
        return self

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
        try:
            with redis.Redis(port=self.port, socket_connect_timeout=0.5) as client:
                return bool(client.ping())
        except redis.exceptions.RedisError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (``SIGTERM``: a clean shutdown; ``SIGKILL``: a crash) and wait until
        the process is gone and the port is free."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        _wait(lambda: port_free(self.port), 15, f"port {self.port} to be free")

    def pause(self) -> None:
        """Freeze the process (``SIGSTOP``): connections stay open, nothing answers."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Continue a frozen process (``SIGCONT``)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        """Stop the server for good and remove its folder (if it made it)."""
        if self.proc is not None:
            with contextlib.suppress(Exception):
                self.proc.send_signal(signal.SIGCONT)
        self.stop(signal.SIGKILL)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class ClusterProcesses:
    """A three-master Redis Cluster (no replicas) on free ports: three ``redis-server``
    processes with ``--cluster-enabled yes``, joined with ``redis-cli --cluster create``."""

    def __init__(self, masters: int = 3) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="aibind-rc-"))
        self.nodes: list[RedisProcess] = []
        for index in range(masters):
            folder = self.dir / str(index)
            folder.mkdir()
            self.nodes.append(
                RedisProcess(
                    ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"], folder
                )
            )

    @property
    def url(self) -> str:
        """The URL of the first node (a ``RedisCluster`` discovers the others)."""
        return self.nodes[0].url

    def start(self) -> ClusterProcesses:
        """Start every node, create the cluster and wait until every node reports ``ok``."""
        try:
            for node in self.nodes:
                node.start()
            subprocess.run(
                [
                    self.nodes[0].cli,
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{n.port}" for n in self.nodes),
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            _wait(self._ok, 30, "the cluster state to be ok")
        except BaseException:
            self.close()
            raise
        return self

    def _ok(self) -> bool:
        for node in self.nodes:
            with redis.Redis(port=node.port) as client:
                info = client.cluster("info")
                if info["cluster_state"] != "ok" or int(info["cluster_known_nodes"]) != len(
                    self.nodes
                ):
                    return False
        return True

    def close(self) -> None:
        """Stop every node and remove the folder."""
        for node in self.nodes:
            node.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> ClusterProcesses:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def standalone() -> Iterator[RedisProcess]:
    """A started :class:`RedisProcess`, closed on exit."""
    with RedisProcess() as server:
        yield server
