"""The Node side of the aibind-cloudflare tests: finding Node, installing the pinned npm packages
(Miniflare, Pyodide) from the committed lockfile into a cache directory, and running the local
Cloudflare REST stand-in (``js/serve.mjs``) as a child process.

* Node and npm come from ``PATH``. Without them (or with a Node older than the packages need)
  the tests that need them skip with the reason, or fail when ``CI`` is set.
* ``npm ci`` installs ``js/package-lock.json`` into
  ``$AIBIND_CF_NODE_CACHE`` (default ``$XDG_CACHE_HOME/aibind/cloudflare-node``, else
  ``~/.cache/aibind/cloudflare-node``)``/<hash of the lockfile>/``, once: later runs (and other
  clones) reuse it. A file lock keeps concurrent runs from installing twice.
* The stand-in is started on a free port of 127.0.0.1, in its own process group; stopping it
  closes its stdin (Miniflare disposes workerd), then signals the group if needed, so no
  process is left behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

JS_DIR = Path(__file__).parent / "js"
PY_DIR = Path(__file__).parent / "pyodide"
MIN_NODE = (18, 0)
CACHE_ENV = "AIBIND_CF_NODE_CACHE"


class NodeUnavailable(Exception):
    """Node/npm are missing or too old, or the npm install failed; the message says which."""


def skip_or_fail(reason: str) -> None:
    """Skip the current test with ``reason``, or fail it when ``CI`` is set (a missing
    prerequisite must never turn CI green)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def node_executable() -> str:
    """Path of a usable ``node`` (at least :data:`MIN_NODE`).

    Raises:
        NodeUnavailable: no node on PATH, or too old.
    """
    node = shutil.which("node")
    if node is None:
        raise NodeUnavailable("Node.js is not installed (no `node` on PATH); it runs Miniflare")
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    match = re.match(r"v(\d+)\.(\d+)", out.stdout.strip())
    if not match or (int(match[1]), int(match[2])) < MIN_NODE:
        raise NodeUnavailable(
            f"Node.js {out.stdout.strip() or '?'} is too old; Miniflare needs "
            f">= {'.'.join(map(str, MIN_NODE))}"
        )
    return node


def cache_root() -> Path:
    """Where the npm installs are cached (see the module docstring)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aibind" / "cloudflare-node"


def _digest(*paths: Path) -> str:
    """A short hash of the given files' bytes (what a cache folder is keyed by)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _install_once(target: Path, what: str, command: list[str], cwd: Path | None = None) -> None:
    """Run ``command`` once to fill ``target`` (a cache folder): a ``.installed`` stamp marks it
    done, and a file lock keeps concurrent runs from installing twice.

    Raises:
        NodeUnavailable: the command failed (its output is in the message).
    """
    stamp = target / ".installed"
    if stamp.exists():
        return
    target.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if stamp.exists():  # another run installed it while we waited
                return
            done = subprocess.run(
                command, cwd=cwd, capture_output=True, text=True, check=False, timeout=600
            )
            if done.returncode != 0:
                raise NodeUnavailable(
                    f"{what} failed in {target} (exit {done.returncode}):\n"
                    f"{done.stdout[-2000:]}{done.stderr[-4000:]}"
                )
            stamp.write_text(target.name + "\n")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def install_node_modules() -> Path:
    """Install the lockfile's packages with ``npm ci`` into the cache (once) and return the
    ``node_modules`` folder.

    Raises:
        NodeUnavailable: Node/npm missing, or ``npm ci`` failed (its output is in the message).
    """
    node_executable()
    npm = shutil.which("npm")
    if npm is None:
        raise NodeUnavailable("npm is not installed (no `npm` on PATH); it installs Miniflare")
    manifests = [JS_DIR / "package.json", JS_DIR / "package-lock.json"]
    target = cache_root() / _digest(*manifests)
    if not (target / ".installed").exists():
        target.mkdir(parents=True, exist_ok=True)
        for manifest in manifests:
            shutil.copyfile(manifest, target / manifest.name)
    # --ignore-scripts: nothing here needs an install script (workerd's binary is its own npm
    # package), and no script gets to download anything.
    npm_ci = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    _install_once(target, "npm ci", npm_ci, cwd=target)
    return target / "node_modules"


SDK_REQUIREMENTS = PY_DIR / "requirements-workers-sdk.txt"


def install_workers_sdk() -> Path:
    """Install the pinned Python Workers SDK (``workers`` module, pure Python) into the cache
    with ``uv pip install --target`` (or pip), once, and return that folder (it goes on
    Pyodide's ``sys.path``; the test environment itself never imports it).

    Raises:
        NodeUnavailable: the install failed.
    """
    target = cache_root() / f"workers-sdk-{_digest(SDK_REQUIREMENTS)}"
    uv = shutil.which("uv")
    command = [
        *([uv, "pip", "install"] if uv else [sys.executable, "-m", "pip", "install"]),
        "--quiet",
        "--target",
        str(target),
        "--no-deps",
        "--python-version",
        "3.13",  # the SDK needs >= 3.11; it runs in Pyodide's Python, not ours
        *([] if uv else ["--only-binary=:all:"]),
        "--require-hashes",
        "-r",
        str(SDK_REQUIREMENTS),
    ]
    _install_once(target, "installing the Python Workers SDK", command)
    return target


def node_env(modules: Path) -> dict[str, str]:
    """The environment for the Node scripts: ours plus the cached ``node_modules`` path."""
    env = dict(os.environ)
    env["AIBIND_CF_NODE_MODULES"] = str(modules)
    return env


@dataclass(frozen=True)
class StandIn:
    """A running REST stand-in: what a client needs to reach it."""

    base_url: str
    account_id: str
    database_id: str
    namespace_id: str
    token: str

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>`` (for the stand-in's control endpoints)."""
        return self.base_url.removesuffix("/client/v4")


def stop_process_group(proc: subprocess.Popen[bytes], *, grace: float = 10.0) -> None:
    """Stop a child started with ``start_new_session=True``: close its stdin (a graceful exit),
    then SIGTERM and finally SIGKILL its whole process group (the child and what it spawned)."""
    if proc.stdin is not None and not proc.stdin.closed:
        try:
            proc.stdin.close()
        except OSError:
            pass
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)  # the group we created; workerd is in it too
        except ProcessLookupError:
            return
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone; one more signal reaches any straggler of its group
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return


@contextmanager
def run_standin(modules: Path, *, timeout: float = 60.0) -> Iterator[StandIn]:
    """Start ``js/serve.mjs`` (Miniflare with the REST stand-in) and yield where it listens;
    stop it and its workerd on exit.

    Raises:
        NodeUnavailable: Node is missing.
        RuntimeError: it did not come up within ``timeout`` seconds (its stderr is included).
    """
    node = node_executable()
    log = (cache_root() / "standin.log").open("w+b")
    proc = subprocess.Popen(
        [node, str(JS_DIR / "serve.mjs")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        env=node_env(modules),
        start_new_session=True,
    )
    try:
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not line or not line[0].strip():
            log.seek(0)
            raise RuntimeError(
                f"the Miniflare stand-in did not start within {timeout:g} s "
                f"(exit code {proc.poll()}):\n{log.read()[-4000:].decode(errors='replace')}"
            )
        info = json.loads(line[0])
        yield StandIn(
            base_url=info["base_url"],
            account_id=info["account_id"],
            database_id=info["database_id"],
            namespace_id=info["namespace_id"],
            token=info["token"],
        )
    finally:
        stop_process_group(proc)
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()


def main() -> None:
    """``python tests/cf_node.py [TOKEN]``: install the npm packages if needed, start the local
    REST stand-in, print the environment to point a client at it, and run until Ctrl-C."""
    import time

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # stop the stand-in on kill too
    token = sys.argv[1] if len(sys.argv) > 1 else "aibind-test-token"
    os.environ["AIBIND_CF_TOKEN"] = token
    with run_standin(install_node_modules()) as standin:
        print(f"export CLOUDFLARE_BASE_URL={standin.base_url}")
        print(f"export CLOUDFLARE_API_TOKEN={standin.token}")
        print(f"# d1://{standin.account_id}/{standin.database_id}")
        print(f"# kv_namespace={standin.namespace_id}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
