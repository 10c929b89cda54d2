// Starts Miniflare (local workerd) with one D1 database and one KV namespace, in memory (nothing
// is persisted), and the REST stand-in Worker (standin-worker.js) in front of them.
//
// The npm packages live in a cache directory installed by the tests with `npm ci` (see
// ../cf_node.py), passed in as AIBIND_CF_NODE_MODULES; modules are resolved from there.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/** Import an npm package from the cached node_modules folder. */
export async function importPackage(name, subpath = null) {
  const modules = process.env.AIBIND_CF_NODE_MODULES;
  if (!modules) throw new Error("AIBIND_CF_NODE_MODULES is not set (the cached node_modules folder)");
  const require = createRequire(join(modules, "package.json"));
  const target = subpath === null ? require.resolve(name) : join(dirname(require.resolve(`${name}/package.json`)), subpath);
  return import(pathToFileURL(target).href);
}

/** The folder of an installed npm package. */
export function packageDir(name) {
  const require = createRequire(join(process.env.AIBIND_CF_NODE_MODULES, "package.json"));
  return dirname(require.resolve(`${name}/package.json`));
}

export const IDS = {
  ACCOUNT_ID: "0123456789abcdef0123456789abcdef",
  DATABASE_ID: "0f0e0d0c-0b0a-4909-8807-060504030201",
  KV_NAMESPACE_ID: "fedcba9876543210fedcba9876543210",
};

/**
 * Start Miniflare. Returns {mf, url}; url is the stand-in's base URL when `port` is given
 * (0 picks a free port), else null (only dispatchFetch and the bindings are used).
 */
export async function startMiniflare({ port = null, token = "aibind-test-token" } = {}) {
  const { Miniflare } = await importPackage("miniflare");
  const options = {
    modules: true,
    script: readFileSync(join(here, "standin-worker.js"), "utf8"),
    scriptPath: join(here, "standin-worker.js"),
    compatibilityDate: "2025-09-01",
    cf: false,
    d1Databases: { DB: IDS.DATABASE_ID },
    kvNamespaces: { KV: IDS.KV_NAMESPACE_ID },
    bindings: { ...IDS, API_TOKEN: token },
  };
  if (port !== null) {
    options.host = "127.0.0.1";
    options.port = port;
  }
  const mf = new Miniflare(options);
  const ready = await mf.ready;
  return { mf, url: port === null ? null : ready.href.replace(/\/$/, "") };
}
