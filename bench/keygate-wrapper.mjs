// Test-only wrapper around the built Worker, for `make bench`: counts the
// calls the key Durable Object receives, and can delay each one, without
// changing the Worker. Everything build/index.js exports is re-exported;
// `KeyObject` is replaced by a class that wraps the real one, and the
// default export answers GET /__bench/object-calls with the count so far.
//
// The count is a module global: in local workerd the Worker and the
// Durable Objects of one script run in the same isolate, so both see it
// (bench/run.mjs checks that it moves).
//
// Binding BENCH_OBJECT_DELAY_MS (default 0): wait that long before every
// key-object call, to stand in for the distance to the object's location.
import Real, { KeyObject as RealKeyObject } from "../build/index.js";

export * from "../build/index.js";

let objectCalls = 0;
const COUNT_PATH = "/__bench/object-calls";
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class KeyObject {
  constructor(state, env) {
    this.inner = new RealKeyObject(state, env);
    this.delay = Number(env.BENCH_OBJECT_DELAY_MS ?? 0) || 0;
  }

  async fetch(req) {
    objectCalls++;
    if (this.delay > 0) await sleep(this.delay);
    return this.inner.fetch(req);
  }

  alarm(...args) {
    return this.inner.alarm?.(...args);
  }

  webSocketMessage(...args) {
    return this.inner.webSocketMessage?.(...args);
  }

  webSocketClose(...args) {
    return this.inner.webSocketClose?.(...args);
  }

  webSocketError(...args) {
    return this.inner.webSocketError?.(...args);
  }
}

// The real default export is a Proxy around a WorkerEntrypoint subclass;
// extending it keeps its construct trap (and so its recovery after a wasm
// trap), and `super.fetch` is the Worker's own fetch.
export default class extends Real {
  fetch(req) {
    if (req.url.endsWith(COUNT_PATH) && new URL(req.url).pathname === COUNT_PATH) {
      return Response.json({ calls: objectCalls });
    }
    return super.fetch(req);
  }
}
