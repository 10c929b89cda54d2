"""The binding path, reported to pytest: the cases of ``pyodide/binding_cases.py`` run inside
Pyodide 0.29 (Python 3.13) and 314 (Python 3.14), both from npm, in Node, against Miniflare's
real D1 and KV bindings, once raw and once wrapped by the ``workers`` SDK
(``js/pyodide-harness.mjs``). Each (Pyodide, mode, case) is one pytest test.

Both Pyodide versions run at once, each in its own Node process (with its own Miniflare), started
when the first of these tests needs them; their output goes to the cache folder's
``pyodide-*.log``.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cf_node import (
    JS_DIR,
    PY_DIR,
    NodeUnavailable,
    cache_root,
    install_workers_sdk,
    node_env,
    node_executable,
    skip_or_fail,
    stop_process_group,
)

# Our source inside Pyodide, with npm-pinned packages: the venv's dependency floors play no part.
pytestmark = pytest.mark.venv_independent

REPO = Path(__file__).resolve().parents[3]
VERSIONS = {"0.29": "pyodide-0.29", "314": "pyodide-314"}
NODE_FLAGS = ["--no-opt"]
"""Node 20's V8 (the Node on this kind of machine) sometimes dies running these cases in
Pyodide with "Fatal error: unreachable code" in its deoptimizer (Pyodide 314: every run without
flags, 2 of 3 with --no-turbo-inline-array-builtins; Pyodide 0.29: 1 run in 3). With V8's
optimising JS compiler off (``--no-opt``; WebAssembly is still compiled) no run has failed."""
MODES = ("raw", "sdk")
BLOCKED = ("sqlite3", "aiosqlite", "httpx")
CASE_TIMEOUT = 300.0
RUN_TIMEOUT = 900.0


def _case_names() -> list[str]:
    tree = ast.parse((PY_DIR / "binding_cases.py").read_text(encoding="utf-8"))
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.AsyncFunctionDef) and node.name.startswith("test_")
    ]


CASES = _case_names()


SOURCES = ("aibind-core", "aibind-sqlite", "aibind-cloudflare")


def write_metadata(target: Path) -> None:
    """A ``<name>-<version>.dist-info/METADATA`` per mounted package, as a Worker's vendored
    (installed) packages have, so ``importlib.metadata`` finds their versions in Pyodide."""
    for name in SOURCES:
        text = (REPO / "packages" / name / "pyproject.toml").read_text(encoding="utf-8")
        version = next(
            line.split("=", 1)[1].strip().strip('"')
            for line in text.splitlines()
            if line.startswith("version")
        )
        info = target / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
        )


class HarnessRun:
    """One ``pyodide-harness.mjs`` process (one Pyodide version, every mode and case)."""

    def __init__(self, version: str, modules: Path, sdk: Path) -> None:
        self.version = version
        self.meta = Path(tempfile.mkdtemp(prefix=f"aibind-pyodide-{version}-"))
        write_metadata(self.meta)
        mounts = {
            "/aibind/core": REPO / "packages/aibind-core/src",
            "/aibind/sqlite": REPO / "packages/aibind-sqlite/src",
            "/aibind/cloudflare": REPO / "packages/aibind-cloudflare/src",
            "/aibind/cases": PY_DIR,
            "/aibind/stubs": PY_DIR / "stubs",
            "/aibind/example": REPO / "examples/cloudflare-worker/src",
            "/aibind/sdk": sdk,
            "/aibind/meta": self.meta,
        }
        config = {
            "pyodide": VERSIONS[version],
            "mounts": {target: str(host) for target, host in mounts.items()},
            "sys_path": list(mounts),
            "block": list(BLOCKED),
            "modes": list(MODES),
            "case_timeout": CASE_TIMEOUT,
        }
        env = node_env(modules)
        env["AIBIND_PYODIDE_CONFIG"] = json.dumps(config)
        self.log_path = cache_root() / f"pyodide-{version}.log"
        self.log = self.log_path.open("w+b")
        self.proc = subprocess.Popen(
            [node_executable(), *NODE_FLAGS, str(JS_DIR / "pyodide-harness.mjs")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            start_new_session=True,
        )
        self._results: dict[tuple[str, str], dict[str, Any]] | None = None
        self.error = ""

    def results(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Wait for the run (once) and return ``{(mode, case): result}``."""
        if self._results is None:
            self._results = {}
            try:
                out, _ = self.proc.communicate(timeout=RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                stop_process_group(self.proc, grace=0)
                out = b""
                self.error = f"the harness did not finish within {RUN_TIMEOUT:g} s"
            lines = out.decode(errors="replace").strip().splitlines()
            try:
                report = json.loads(lines[-1])
            except (IndexError, ValueError):
                self.log.seek(0)
                tail = self.log.read()[-6000:].decode(errors="replace")
                self.error = self.error or f"the harness exited {self.proc.returncode}"
                self.error += f"; its log ({self.log_path}) ends:\n{tail}"
            else:
                self.pyodide, self.python = report["pyodide"], report["python"]
                for item in report["results"]:
                    self._results[(item["mode"], item["case"])] = item
        return self._results

    def stop(self) -> None:
        stop_process_group(self.proc, grace=0)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()
        shutil.rmtree(self.meta, ignore_errors=True)


@pytest.fixture(scope="session")
def pyodide_runs(node_modules: Path) -> Iterator[dict[str, HarnessRun]]:
    """Both harness runs, started together on first use; stopped at the end of the session."""
    try:
        sdk = install_workers_sdk()
    except NodeUnavailable as exc:
        skip_or_fail(str(exc))
    runs = {version: HarnessRun(version, node_modules, sdk) for version in VERSIONS}
    try:
        yield runs
    finally:
        for run in runs.values():
            run.stop()


@pytest.mark.timeout(RUN_TIMEOUT + 60)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("version", list(VERSIONS))
def test_binding_path(
    pyodide_runs: dict[str, HarnessRun], version: str, mode: str, case: str
) -> None:
    run = pyodide_runs[version]
    results = run.results()
    if run.error:
        pytest.fail(f"Pyodide {version}: {run.error}", pytrace=False)
    result = results.get((mode, case))
    assert result is not None, f"Pyodide {version} reported no result for {mode}/{case}"
    if result["outcome"] != "passed":
        pytest.fail(
            f"inside Pyodide {run.pyodide} (Python {run.python}), {mode} bindings:\n"
            f"{result['detail']}",
            pytrace=False,
        )


@pytest.mark.parametrize("guard", [False, True], ids=["unguarded", "guarded"])
def test_sync_fetch_race_and_its_guard(guard: bool) -> None:
    """Miniflare's synchronous fetcher loses track of its responses when its worker thread is
    preempted between storing the result flag and notifying (``js/atomics-guard.mjs``); the
    race, injected deterministically by ``js/sync-fetch-race.mjs``, desynchronises every later
    request without the guard the harness loads, and none with it."""
    try:
        node = node_executable()
    except NodeUnavailable as exc:
        skip_or_fail(str(exc))
    args = [node, str(JS_DIR / "sync-fetch-race.mjs"), *(["guard"] if guard else [])]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["guard"] is guard
    if guard:
        assert report["mismatched"] == 0, report
    else:
        # The first injected race (request 7) shifts every later response by one.
        assert report["mismatched"] >= report["requests"] // 2, report


def test_every_case_is_known() -> None:
    """The case list pytest parametrizes over is the module's ``test_*`` coroutines."""
    assert len(CASES) >= 15
    assert len(set(CASES)) == len(CASES)
    assert os.path.isfile(JS_DIR / "pyodide-harness.mjs")
