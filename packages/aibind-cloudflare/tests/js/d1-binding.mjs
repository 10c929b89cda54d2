// A D1 binding for Pyodide whose statements run on the Worker's own env.DB (standin-worker.js,
// POST /__standin/d1) through mf.dispatchFetch: the D1Database / D1PreparedStatement API
// (prepare, bind, all, batch) with D1's own behaviour (its type checks, its errors, batch() as
// one transaction), because the real binding executes every statement. Used for the 20 x 100
// concurrency case: Miniflare's proxied binding makes prepare()/bind() synchronous round trips
// that block Node's event loop, so twenty writers could only take turns (~80 ms an append).

function tag(value) {
  if (value === null) return { t: "null" };
  if (value === undefined) return { t: "undefined" };
  if (typeof value === "bigint") return { t: "bigint", v: value.toString() };
  if (value instanceof Uint8Array) return { t: "bytes", v: Array.from(value) };
  if (value instanceof ArrayBuffer) return { t: "bytes", v: Array.from(new Uint8Array(value)) };
  return { t: typeof value, v: value };
}

class D1PreparedStatement {
  constructor(db, sql, params = []) {
    this.db = db;
    this.sql = sql;
    this.params = params;
  }

  bind(...values) {
    return new D1PreparedStatement(this.db, this.sql, values.map(tag));
  }

  async all() {
    return (await this.db.run(false, [this]))[0];
  }
}

export class D1Database {
  constructor(mf) {
    this.mf = mf;
  }

  prepare(sql) {
    return new D1PreparedStatement(this, String(sql));
  }

  async batch(statements) {
    return this.run(true, Array.from(statements));
  }

  async run(batch, statements) {
    const response = await this.mf.dispatchFetch("http://standin/__standin/d1", {
      method: "POST",
      body: JSON.stringify({ batch, statements: statements.map((s) => ({ sql: s.sql, params: s.params })) }),
    });
    const answer = await response.json();
    if (answer.error !== undefined) throw new Error(answer.error);
    return answer.results;
  }
}
