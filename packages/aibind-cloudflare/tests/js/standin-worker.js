// A local stand-in for the parts of Cloudflare's REST API (v4) that aibind-cloudflare uses,
// run by Miniflare in workerd over REAL local D1 and KV bindings (env.DB, env.KV):
//
//   POST   /client/v4/accounts/{account}/d1/database/{database}/query   rows as objects
//   POST   /client/v4/accounts/{account}/d1/database/{database}/raw     rows as arrays
//          body {"sql", "params"} or {"batch": [{"sql", "params"}, ...]} (batch = one D1 batch())
//   GET    /client/v4/accounts/{account}/storage/kv/namespaces/{ns}/values/{key}
//   PUT    ...                                   /values/{key}?expiration_ttl=N   (body = value)
//   DELETE ...                                   /values/{key}
//   GET    /client/v4/accounts/{account}/storage/kv/namespaces/{ns}/keys?prefix=&cursor=&limit=
//
// Every answer is Cloudflare's envelope {"success", "errors": [{"code", "message"}], "messages",
// "result"}, except a KV value read, which is the raw value. Authentication is
// "Authorization: Bearer <token>" with the token in env.API_TOKEN. The account, database and
// namespace ids it serves are env.ACCOUNT_ID, env.DATABASE_ID, env.KV_NAMESPACE_ID. Error codes
// follow Cloudflare's where known (7500 SQL error, 7404 database not found, 10000/10001 auth,
// 10009 key not found, 971 rate limited); the rest are this stand-in's own choice.
//
// Test control (not part of Cloudflare's API): POST /__standin/throttle {"count", "retry_after"}
// makes the next `count` API requests answer 429 with that retry-after header, as Cloudflare's
// rate limiter does (1,200 requests per 5 minutes per token).
//
// POST /__standin/d1 {"batch": bool, "statements": [{"sql", "params": [tagged values]}]} runs the
// statements on env.DB exactly as a Worker would (prepare().bind().all(), or batch()) and
// answers {"results": [D1 results]} or {"error": message}: the back end of the D1 binding that
// js/d1-binding.mjs hands to Pyodide for the heavy concurrency case (one dispatchFetch per call
// instead of Miniflare's proxied binding, whose synchronous round trips serialise callers).

const API = "/client/v4";
const throttle = { count: 0, retryAfter: "1" };

function envelope(status, result, errors = [], extra = {}) {
  return Response.json(
    { success: errors.length === 0, errors, messages: [], result, ...extra },
    { status },
  );
}

function fail(status, code, message, headers = {}) {
  const response = envelope(status, null, [{ code, message }]);
  for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
  return response;
}

function d1Message(error) {
  return String(error && error.message ? error.message : error).replace(/^D1_ERROR: /, "");
}

function statementOf(env, item) {
  if (item === null || typeof item !== "object" || typeof item.sql !== "string") {
    throw new TypeError("each query needs a string 'sql'");
  }
  const params = item.params === undefined ? [] : item.params;
  if (!Array.isArray(params)) throw new TypeError("'params' must be an array");
  const stmt = env.DB.prepare(item.sql);
  return params.length ? stmt.bind(...params) : stmt;
}

async function d1Query(env, body, raw) {
  let queries;
  if (body && Array.isArray(body.batch)) queries = body.batch;
  else queries = [body];
  let statements;
  try {
    statements = queries.map((item) => statementOf(env, item));
  } catch (error) {
    return fail(400, 7400, `invalid request body: ${error.message}`);
  }
  try {
    let results;
    if (raw) {
      // D1's binding has no raw() inside batch(): run the batch, then reshape each result.
      const all = statements.length === 1 ? [await statements[0].all()] : await env.DB.batch(statements);
      results = all.map((r) => {
        const columns = r.results.length ? Object.keys(r.results[0]) : [];
        return {
          results: { columns, rows: r.results.map((row) => columns.map((c) => row[c])) },
          success: true,
          meta: r.meta,
        };
      });
    } else {
      const all = statements.length === 1 ? [await statements[0].all()] : await env.DB.batch(statements);
      results = all.map((r) => ({ results: r.results, success: true, meta: r.meta }));
    }
    return envelope(200, results);
  } catch (error) {
    return fail(400, 7500, d1Message(error));
  }
}

async function kvValue(env, request, key, url) {
  if (request.method === "GET") {
    const value = await env.KV.get(key, { type: "arrayBuffer" });
    if (value === null) return fail(404, 10009, "get: 'key not found'");
    return new Response(value, { headers: { "content-type": "application/octet-stream" } });
  }
  if (request.method === "PUT") {
    const options = {};
    const ttl = url.searchParams.get("expiration_ttl");
    if (ttl !== null) options.expirationTtl = Number(ttl);
    try {
      await env.KV.put(key, await request.arrayBuffer(), options);
    } catch (error) {
      // the binding says e.g. "KV PUT failed: 400 Invalid expiration_ttl of 30. ..."
      const match = /failed: (\d{3}) (.*)$/s.exec(String(error.message));
      const status = match ? Number(match[1]) : 400;
      return fail(status, status === 414 ? 10033 : 10014, match ? match[2] : String(error.message));
    }
    return envelope(200, null);
  }
  if (request.method === "DELETE") {
    await env.KV.delete(key);
    return envelope(200, null);
  }
  return fail(405, 10000, `method ${request.method} not allowed`);
}

async function kvKeys(env, url) {
  const options = { prefix: url.searchParams.get("prefix") ?? undefined };
  const cursor = url.searchParams.get("cursor");
  if (cursor) options.cursor = cursor;
  const limit = url.searchParams.get("limit");
  if (limit) options.limit = Number(limit);
  const listed = await env.KV.list(options);
  const keys = listed.keys.map((k) => ({ name: k.name, expiration: k.expiration }));
  return envelope(200, keys, [], {
    result_info: { count: keys.length, cursor: listed.list_complete ? "" : listed.cursor },
  });
}

async function api(request, env, path, url) {
  const auth = request.headers.get("authorization");
  if (!auth) return fail(400, 10001, "Unable to authenticate request");
  if (auth !== `Bearer ${env.API_TOKEN}`) return fail(403, 10000, "Authentication error");
  if (throttle.count > 0) {
    throttle.count -= 1;
    return fail(429, 971, "Please wait and consider throttling your request speed", {
      "retry-after": throttle.retryAfter,
    });
  }
  let m = /^\/accounts\/([^/]+)\/d1\/database\/([^/]+)\/(query|raw)$/.exec(path);
  if (m) {
    if (m[1] !== env.ACCOUNT_ID || m[2] !== env.DATABASE_ID) {
      return fail(404, 7404, `The database ${m[2]} could not be found`);
    }
    if (request.method !== "POST") return fail(405, 7400, "use POST");
    let body;
    try {
      body = await request.json();
    } catch {
      return fail(400, 7400, "request body is not JSON");
    }
    return d1Query(env, body, m[3] === "raw");
  }
  m = /^\/accounts\/([^/]+)\/storage\/kv\/namespaces\/([^/]+)\/(values\/(.+)|keys)$/.exec(path);
  if (m) {
    if (m[1] !== env.ACCOUNT_ID || m[2] !== env.KV_NAMESPACE_ID) {
      return fail(404, 10013, "namespace not found");
    }
    if (m[3] === "keys") return kvKeys(env, url);
    return kvValue(env, request, decodeURIComponent(m[4]), url);
  }
  return fail(404, 7003, `No route for the URI ${path}`);
}

// JS values a D1 binding may be given, tagged so JSON carries them unchanged (undefined and
// BigInt included: D1's own type checks must see them as they are).
function untag(value) {
  switch (value.t) {
    case "null":
      return null;
    case "undefined":
      return undefined;
    case "bigint":
      return BigInt(value.v);
    case "bytes":
      return new Uint8Array(value.v);
    default:
      return value.v;
  }
}

async function d1Binding(env, body) {
  try {
    const statements = body.statements.map((s) => {
      const stmt = env.DB.prepare(s.sql);
      return s.params.length ? stmt.bind(...s.params.map(untag)) : stmt;
    });
    const results = body.batch ? await env.DB.batch(statements) : [await statements[0].all()];
    return Response.json({ results });
  } catch (error) {
    return Response.json({ error: String(error && error.message ? error.message : error) });
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/__standin/d1" && request.method === "POST") {
      return d1Binding(env, await request.json());
    }
    if (url.pathname === "/__standin/throttle" && request.method === "POST") {
      const body = await request.json();
      throttle.count = Number(body.count ?? 0);
      throttle.retryAfter = String(body.retry_after ?? "1");
      return Response.json({ ok: true });
    }
    if (url.pathname.startsWith(API + "/")) {
      return api(request, env, url.pathname.slice(API.length), url);
    }
    return fail(404, 7003, `No route for the URI ${url.pathname}`);
  },
};
