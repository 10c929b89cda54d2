// The binding path: the project's own source loaded into Pyodide (npm, pinned) inside Node,
// with Miniflare's real D1 and KV bindings handed to Python, running tests/pyodide's cases.
//
// Configuration comes as JSON in AIBIND_PYODIDE_CONFIG (written by tests/test_pyodide.py):
//   {"pyodide": "pyodide-0.29" | "pyodide-314",   the npm alias to load
//    "mounts": {"/aibind/core": "<host dir>", ...},  host folders mounted into Pyodide
//    "sys_path": ["/aibind/core", ...],             prepended to sys.path
//    "block": ["sqlite3", "aiosqlite", "httpx"],    made unimportable before anything runs
//    "modes": ["raw", "sdk"], "case_timeout": 300, "only": [case names] (optional)}
// Pyodide's stdout/stderr go to stderr; the last stdout line is the JSON result
// {"pyodide", "python", "results": [{"mode", "case", "outcome", "seconds", "detail"}]}.

import { absorbedWakeUps } from "./atomics-guard.mjs"; // first: see its header
import { D1Database as DispatchedD1 } from "./d1-binding.mjs";
import { importPackage, packageDir, startMiniflare } from "./miniflare-env.mjs";

const cfg = JSON.parse(process.env.AIBIND_PYODIDE_CONFIG);
const log = (text) => process.stderr.write(text + "\n");

const started = Date.now();
const { loadPyodide } = await importPackage(cfg.pyodide, "pyodide.mjs");
const py = await loadPyodide({ indexURL: packageDir(cfg.pyodide) + "/", stdout: log, stderr: log });
if (process.env.AIBIND_PYODIDE_DEBUG) py.setDebug(true);
log(`${cfg.pyodide}: loaded Pyodide ${py.version} in ${Date.now() - started} ms`);
for (const [target, host] of Object.entries(cfg.mounts)) {
  py.FS.mkdirTree(target);
  py.FS.mount(py.FS.filesystems.NODEFS, { root: host }, target);
}

// Node's Request refuses the empty URL of a Response built in code, which pyodide.http's
// FetchResponse (0.29+) turns into a Request; resolve it against a base, as a browser would.
const NodeRequest = globalThis.Request;
globalThis.Request = class Request extends NodeRequest {
  constructor(input, init) {
    super(input === "" ? "http://localhost/" : input, init);
  }
};

// What a Python Worker's env holds: objects of the runtime's binding classes, which the workers
// SDK's _EnvWrapper recognises by class name and wraps (Miniflare's proxies carry no such name,
// so these thin classes name them and pass every call through to them unchanged).
class D1Database {
  constructor(inner) {
    this.inner = inner;
  }
  prepare(sql) {
    return this.inner.prepare(sql);
  }
  batch(statements) {
    return this.inner.batch(statements);
  }
}
class KvNamespace {
  constructor(inner) {
    this.inner = inner;
  }
  get(key, options) {
    return this.inner.get(key, options);
  }
  put(key, value, options) {
    return this.inner.put(key, value, options);
  }
  delete(key) {
    return this.inner.delete(key);
  }
}

const { mf } = await startMiniflare();
let code = 0;
try {
  const DB = await mf.getD1Database("DB");
  const KV = await mf.getKVNamespace("KV");
  // An execution context for the example Worker: waitUntil collects promises, settle() waits
  // for all of them (and for any they add meanwhile).
  const makeCtx = () => {
    const pending = [];
    return {
      waitUntil(promise) {
        pending.push(Promise.resolve(promise));
      },
      async settle() {
        while (pending.length) await Promise.allSettled(pending.splice(0));
      },
    };
  };
  const dispatchedDB = new DispatchedD1(mf);
  py.registerJsModule("aibind_harness", {
    DB,
    KV,
    dispatchedDB,
    env: { DB, CONVERSATIONS: KV },
    sdkEnv: {
      DB: new D1Database(DB),
      CONVERSATIONS: new KvNamespace(KV),
      DISPATCHED_DB: new D1Database(dispatchedDB),
    },
    makeCtx,
  });
  const out = await py.runPythonAsync(`
import sys
sys.path[:0] = ${JSON.stringify(cfg.sys_path)}
for _name in ${JSON.stringify(cfg.block)}:
    sys.modules[_name] = None  # "not installed": an import raises ImportError
import runner
await runner.main(${JSON.stringify(cfg.modes)}, ${Number(cfg.case_timeout)}, ${JSON.stringify(cfg.only || [])})
`);
  const python = py.runPython("import sys; sys.version.split()[0]");
  process.stdout.write(
    JSON.stringify({ pyodide: py.version, python, results: JSON.parse(out) }) + "\n",
  );
} catch (error) {
  log(`harness error: ${error && error.stack ? error.stack : error}`);
  code = 1;
} finally {
  log(`Atomics.wait guard: ${absorbedWakeUps()} stale wake-up(s) of Miniflare's fetcher absorbed`);
  await mf.dispose();
}
process.exit(code);
