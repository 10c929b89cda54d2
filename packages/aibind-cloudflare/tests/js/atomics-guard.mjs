// Guards the harness against a race in Miniflare's SynchronousFetcher (miniflare 4.20260426.0,
// still so in 4.20260730.0), which every synchronous call on a proxied binding goes through
// (D1's prepare() and bind(), reading a property of a KV binding).
//
// The fetcher stores 0 in a shared Int32Array, posts the request to its worker thread and
// blocks in Atomics.wait(handle, 0, 0); the worker posts the response, stores 1, then calls
// Atomics.notify. When the worker is preempted between that store and that notify, the main
// thread finds 1 already stored ("not-equal"), takes the response and goes on to the next
// request, and the late notify then wakes the wait of that next request before its response
// exists: receiveMessageOnPort returns undefined, Miniflare's assert(message?.id === id) fails
// ("AssertionError [ERR_ASSERTION]: false == true"), and because that response arrives later
// and stays queued, every later request reads the previous one's and fails too. Seen once in
// a CI run on a loaded 2-vCPU machine (every Pyodide 314 case after the first failure);
// `sync-fetch-race.mjs` reproduces it by injecting the preemption.
//
// The guard: an Atomics.wait without a timeout that was woken while the value is still the one
// it waited on waits again. A wait with a timeout is passed through unchanged.

const originalWait = Atomics.wait;
let absorbed = 0;

Atomics.wait = function wait(array, index, value, timeout) {
  if (timeout !== undefined && timeout !== Infinity) {
    return originalWait(array, index, value, timeout);
  }
  let outcome = originalWait(array, index, value);
  while (outcome === "ok" && Atomics.load(array, index) === value) {
    absorbed += 1;
    outcome = originalWait(array, index, value);
  }
  return outcome;
};

/** How many stale wake-ups the guard has absorbed in this process. */
export function absorbedWakeUps() {
  return absorbed;
}
