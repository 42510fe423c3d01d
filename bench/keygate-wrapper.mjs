// Test-only wrapper around the built Worker, for `make bench`: counts the
// calls every Durable Object class receives, and can delay each key-object
// call, without changing the Worker. Everything build/index.js exports is
// re-exported; the object classes are replaced by classes that wrap the
// real ones, and the default export answers GET /__bench/object-calls with
// the counts so far: `{calls, registry_calls, paths}`, where `calls` are
// the key objects', `registry_calls` the registry shards', and `paths`
// every class's calls by request path (`RegistryObject /registry-3/report`;
// the registry client names the shard and the command in the path).
//
// The count is a module global: in local workerd the Worker and the
// Durable Objects of one script run in the same isolate, so both see it
// (bench/run.mjs checks that it moves).
//
// Binding BENCH_OBJECT_DELAY_MS (default 0): wait that long before every
// key-object call, to stand in for the distance to the object's location.
import Real, {
  GuardObject as RealGuardObject,
  KeyObject as RealKeyObject,
  OwnerObject as RealOwnerObject,
  RegistryObject as RealRegistryObject,
} from "../build/index.js";

export * from "../build/index.js";

const counts = { calls: 0, registry_calls: 0, paths: {} };
const COUNT_PATH = "/__bench/object-calls";
// Analytics Engine data points written to a `USAGE` binding (Miniflare's
// local dataset keeps none), for the tests.
const points = [];
const POINTS_PATH = "/__bench/usage-points";
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A Durable Object class wrapping `Inner`, counting its calls by path under
 * `name`, and in total under `counter` if given.
 */
const counted = (Inner, name, counter, delayed) => class {
  constructor(state, env) {
    this.inner = new Inner(state, env);
    this.delay = delayed ? Number(env.BENCH_OBJECT_DELAY_MS ?? 0) || 0 : 0;
  }

  async fetch(req) {
    if (counter) counts[counter]++;
    const path = `${name} ${new URL(req.url).pathname}`;
    counts.paths[path] = (counts.paths[path] ?? 0) + 1;
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
};

export const KeyObject = counted(RealKeyObject, "KeyObject", "calls", true);
export const RegistryObject = counted(RealRegistryObject, "RegistryObject", "registry_calls", false);
export const GuardObject = counted(RealGuardObject, "GuardObject");
export const OwnerObject = counted(RealOwnerObject, "OwnerObject");

// The real default export is a Proxy around a WorkerEntrypoint subclass;
// extending it keeps its construct trap (and so its recovery after a wasm
// trap), and `super.fetch` is the Worker's own fetch.
export default class extends Real {
  fetch(req) {
    if (req.url.endsWith(COUNT_PATH) && new URL(req.url).pathname === COUNT_PATH) {
      return Response.json(counts);
    }
    if (req.url.endsWith(POINTS_PATH) && new URL(req.url).pathname === POINTS_PATH) {
      return Response.json(points);
    }
    const usage = this.env?.USAGE;
    if (usage !== undefined && !usage.recorded) {
      const write = usage.writeDataPoint.bind(usage);
      usage.writeDataPoint = (point) => {
        points.push(point);
        write(point);
      };
      usage.recorded = true;
    }
    return super.fetch(req);
  }
}
