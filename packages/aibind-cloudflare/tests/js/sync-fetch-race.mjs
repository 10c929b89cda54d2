// Reproduces the race that atomics-guard.mjs guards against, with Miniflare's SynchronousFetcher
// protocol (store 0, post, Atomics.wait; the worker posts, stores 1, notifies) and the
// preemption injected deterministically on every 50th request: the main thread reaches its
// wait only after the worker has stored 1, and the worker notifies only once the main thread
// has posted the next request and is about to wait for it. Prints one JSON line:
// {"guard": bool, "requests": n, "mismatched": n, "absorbed": n}. Run with the argument "guard"
// to load the guard first.

import { MessageChannel, Worker, receiveMessageOnPort } from "node:worker_threads";

const guarded = process.argv[2] === "guard";
const guard = guarded ? await import("./atomics-guard.mjs") : null;
const REQUESTS = 300;

// The requests with the injected preemption: id % EVERY === AT (both threads apply it).
const INJECT = { EVERY: 50, AT: 7 };
const injected = (id) => id % INJECT.EVERY === INJECT.AT;
// [0]: the fetcher's notify slot; [1]: the id of the request the main thread is about to wait
// for, plus 1 (what the preempted worker waits to see).
const handle = new Int32Array(new SharedArrayBuffer(8));
const { port1, port2 } = new MessageChannel();
const worker = new Worker(
  `
const { workerData } = require("node:worker_threads");
const { handle, port, inject } = workerData;
port.on("message", async ({ id }) => {
  await new Promise((resolve) => setImmediate(resolve));
  port.postMessage({ id });
  Atomics.store(handle, 0, 1);
  if (id % inject.EVERY === inject.AT) {
    while (Atomics.load(handle, 1) !== id + 2);
    const end = Date.now() + 1;
    while (Date.now() < end);
  }
  Atomics.notify(handle, 0);
});`,
  { eval: true, workerData: { handle, port: port2, inject: INJECT }, transferList: [port2] },
);
let mismatched = 0;
for (let id = 0; id < REQUESTS; id++) {
  Atomics.store(handle, 0, 0);
  port1.postMessage({ id });
  if (injected(id)) while (Atomics.load(handle, 0) !== 1);
  Atomics.store(handle, 1, id + 1);
  Atomics.wait(handle, 0, 0);
  if (receiveMessageOnPort(port1)?.message?.id !== id) mismatched += 1;
}
await worker.terminate();
process.stdout.write(
  JSON.stringify({
    guard: guarded,
    requests: REQUESTS,
    mismatched,
    absorbed: guard ? guard.absorbedWakeUps() : 0,
  }) + "\n",
);
