"""A small test runner for inside Pyodide (no pytest there): runs every ``test_*`` coroutine of
:mod:`binding_cases` once per binding mode and returns the results as JSON, one entry per case.

Called by ``tests/js/pyodide-harness.mjs`` after it has mounted the sources, blocked the
drivers and registered the JS module ``aibind_harness`` (Miniflare's bindings, ``makeCtx``).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import time
import traceback
from typing import Any


def _envs(modes: list[str]) -> list[Any]:
    harness = importlib.import_module("aibind_harness")
    cases = importlib.import_module("binding_cases")
    envs = []
    for mode in modes:
        if mode == "raw":
            db, kv, dispatched, js_env = harness.DB, harness.KV, harness.dispatchedDB, harness.env
        elif mode == "sdk":
            # self.env as a WorkerEntrypoint sees it: the SDK's _EnvWrapper wraps each binding
            # of a known class (D1Database, KvNamespace) in its _BindingWrapper.
            js_env = harness.sdkEnv
            wrapped = importlib.import_module("workers")._EnvWrapper(js_env)
            db, kv, dispatched = wrapped.DB, wrapped.CONVERSATIONS, wrapped.DISPATCHED_DB
            wrapper = importlib.import_module("workers.rpc")._BindingWrapper
            assert all(isinstance(b, wrapper) for b in (db, kv, dispatched)), "not SDK-wrapped"
        else:
            raise ValueError(f"unknown mode {mode!r}")
        envs.append(cases.Env(mode, db, kv, dispatched, js_env, harness.makeCtx))
    return envs


async def main(modes: list[str], case_timeout: float, only: list[str] | None = None) -> str:
    """Run every case (or those named in ``only``) in every mode; return ``[{"mode", "case",
    "outcome", "seconds", "detail"}]`` as JSON (``outcome``: ``passed`` or ``failed``;
    ``detail``: the traceback)."""
    cases = importlib.import_module("binding_cases")
    tests = [
        (name, fn)
        for name, fn in vars(cases).items()
        if name.startswith("test_")
        and inspect.iscoroutinefunction(fn)
        and (not only or name in only)
    ]
    results = []
    for env in _envs(modes):
        for name, fn in tests:
            started = time.monotonic()
            try:
                await asyncio.wait_for(fn(env), case_timeout)
            except Exception:
                outcome, detail = "failed", traceback.format_exc()
            else:
                outcome, detail = "passed", ""
            seconds = round(time.monotonic() - started, 3)
            print(f"[{env.mode}] {name}: {outcome} in {seconds:.2f} s", flush=True)
            results.append(
                {"mode": env.mode, "case": name, "outcome": outcome, "seconds": seconds,
                 "detail": detail}
            )  # fmt: skip
    return json.dumps(results)
