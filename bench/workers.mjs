// Miniflare options for the Workers the benchmarks run: keygate (as built,
// or through the test-only wrapper that counts key-object calls), the
// hand-written JS floor and the bare proxy.
import { WRANGLER } from "../tests/bindings.mjs";

export const COMPAT = WRANGLER.compatibilityDate;

/**
 * keygate's KV namespaces and queues as deployed (reports go through
 * REPORTS, as in production); the bound Rust floor declares the same.
 */
const STORAGE_AND_QUEUES = {
  kvNamespaces: WRANGLER.kvNamespaces,
  queueProducers: WRANGLER.queueProducers,
  queueConsumers: WRANGLER.queueConsumers,
};

const modulesRules = [
  { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
  { type: "CompiledWasm", include: ["**/*.wasm"] },
];

/**
 * keygate with its origin, admin token and extra `bindings`; `wrapped`:
 * through bench/keygate-wrapper.mjs; `root`: the checkout whose build/ to
 * run (another worktree, for a same-run A/B; see BENCH_BASELINE); `persist`:
 * a directory for its KV and Durable Object storage.
 */
export function keygateOptions({ origin, token, bindings = {}, wrapped = false, root = ".", persist }) {
  return {
    // Named: the static-assets router dispatches to the Worker by name.
    name: "keygate",
    modules: true,
    // The wrapper imports ../build/index.js, so its modules root is the checkout.
    scriptPath: wrapped ? `${root}/bench/keygate-wrapper.mjs` : `${root}/build/index.js`,
    modulesRoot: wrapped ? root : `${root}/build`,
    modulesRules,
    compatibilityDate: COMPAT,
    // BENCH_LOGS=off: measure without request log lines (LOGS=off).
    bindings: { ADMIN_TOKEN: token, ORIGIN_LIVE: origin, ...(process.env.BENCH_LOGS ? { LOGS: process.env.BENCH_LOGS } : {}), ...bindings },
    ...STORAGE_AND_QUEUES,
    // No static assets unless BENCH_ASSETS=on: Miniflare serves them through
    // a router Worker that every request then crosses first — a JavaScript
    // hop that measured 45% of keygate's throughput on a refused request
    // (12-03), which the bare proxy does not pay and Cloudflare's own
    // routing (run_worker_first) does not add as a Worker. The bench
    // measures keygate, not Miniflare's router; only the OpenAPI document
    // is an asset, and no scenario asks for it.
    ...(process.env.BENCH_ASSETS === "on"
      ? { assets: WRANGLER.assets }
      : {}),
    durableObjects: WRANGLER.durableObjects,
    ...(persist ? { kvPersist: `${persist}/kv`, durableObjectsPersist: `${persist}/do` } : {}),
    // keygate logs a JSON line per request (LOGS=json, the default): measured
    // as written to the runtime's stdout, which is drained here, not shown.
    handleRuntimeStdio(stdout, stderr) {
      stdout.resume();
      stderr.pipe(process.stderr);
    },
  };
}

/** The JS floor; `bindings` may set OBJECT_DELAY_MS. */
export function floorOptions({ origin, bindings = {} }) {
  return {
    modules: true,
    scriptPath: "bench/floor.mjs",
    compatibilityDate: COMPAT,
    bindings: { ORIGIN: origin, ...bindings },
    kvNamespaces: ["KEYS"],
    durableObjects: { COUNTERS: { className: "Counter", useSQLite: true } },
  };
}

/**
 * The Rust floor (bench/wasm-floor): a wasm Worker that only proxies to
 * `origin`; `bound`: with keygate's KV namespaces and queues declared
 * (unused), so a cold start compares like with like — Miniflare starts a
 * service per binding before the Worker answers, which a deployed isolate
 * does not pay.
 */
export function wasmFloorOptions({ origin, bound = false }) {
  return {
    modules: true,
    scriptPath: "bench/wasm-floor/build/index.js",
    modulesRoot: "bench/wasm-floor/build",
    modulesRules,
    compatibilityDate: COMPAT,
    bindings: { ORIGIN: origin },
    ...(bound ? STORAGE_AND_QUEUES : {}),
  };
}

/** The bare proxy plus keygate's forwarding work in JavaScript, no key check (bench/edits.mjs). */
export function editsOptions({ origin }) {
  return { modules: true, scriptPath: "bench/edits.mjs", compatibilityDate: COMPAT, bindings: { ORIGIN: origin } };
}

/** A Worker that only proxies to `origin`. */
export function bareOptions({ origin }) {
  return { modules: true, scriptPath: "bench/bare.mjs", compatibilityDate: COMPAT, bindings: { ORIGIN: origin } };
}
