// Shared integration-test harness: runs the real built Worker
// (build/index.js + wasm) on workerd through Miniflare, with real KV and
// SQLite-backed Durable Objects, and a stub origin on 127.0.0.1.
import { Miniflare } from "miniflare";
import { WRANGLER } from "./bindings.mjs";
import http from "node:http";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export const ADMIN_TOKEN = "test-admin-token-0123456789";

/** The Worker's static assets as wrangler.toml declares them (the Worker runs first). */
export const ASSETS = WRANGLER.assets;
export const BASE = "http://keygate.test";

/** A stub origin that records every request and answers 200 with JSON (after `delayMs`, with `headers`). */
export async function startOrigin({ delayMs = 0, headers = {} } = {}) {
  const requests = [];
  const stats = { bytesReceived: 0 };
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      stats.bytesReceived += c.length;
      body += c;
    });
    req.on("end", async () => {
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      requests.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.setHeader("content-type", "application/json");
      res.setHeader("x-origin", "stub");
      for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
      res.end(JSON.stringify({ ok: true, path: req.url }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, requests, stats, close: () => new Promise((r) => server.close(r)) };
}

/**
 * POSTs `bytes` of body with `Transfer-Encoding: chunked` to `path` on
 * `worker`, 64 KiB at a time, through node's client (fetch would buffer
 * it); resolves with the status and body text. keygate may answer and
 * close while the body is still being sent: that is what it is for.
 */
export function chunkedUpload(worker, { path: at = "/upload", headers = {}, bytes }) {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(at, worker.url), { method: "POST", headers: { ...headers, "transfer-encoding": "chunked" } }, (r) => {
      let text = "";
      r.on("data", (c) => (text += c));
      r.on("end", () => resolve({ status: r.statusCode, text }));
    });
    req.on("error", () => {});
    setTimeout(() => reject(new Error("no answer")), 60_000).unref();
    const chunk = Buffer.alloc(64 * 1024, 97);
    let sent = 0;
    const pump = () => {
      while (sent * chunk.length < bytes) {
        sent++;
        if (!req.write(chunk)) return req.once("drain", pump);
      }
      req.end();
    };
    pump();
  });
}

/** A fresh directory for persisted KV and Durable Object state. */
export function stateDir() {
  // In memory where the machine has it: workerd's SQLite syncs each write,
  // and on a slow disk that, not the Worker, sets the pace.
  const root = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  return mkdtempSync(path.join(root, "keygate-state-"));
}

/**
 * Starts the Worker. `vars` override bindings; `persist` is a directory to
 * keep state in across restarts (in-memory otherwise). `wrapped`: load it
 * through bench/keygate-wrapper.mjs, which counts key-object calls (read
 * them with `objectCalls(worker)`). `build`: another release's build
 * directory (tests/fixtures writes state with one).
 */
export async function startWorker({ vars = {}, persist, logs, wrapped = false, analytics = false, build = "build" } = {}) {
  // Four registry shards unless a test says otherwise: every listing,
  // lookup and report crosses shards.
  const bindings = { ADMIN_TOKEN, REGISTRY_SHARDS: "4", ...vars };
  const printed = logs ?? [];
  for (const [k, v] of Object.entries(bindings)) if (v === undefined) delete bindings[k];
  const mf = new Miniflare({
    // Named: the static-assets router dispatches to the Worker by name.
    name: "keygate",
    modules: true,
    // The wrapper imports ../build/index.js, so its modules root is the repo.
    scriptPath: wrapped ? "bench/keygate-wrapper.mjs" : path.join(build, "index.js"),
    modulesRoot: wrapped ? "." : build,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: WRANGLER.compatibilityDate,
    bindings,
    kvNamespaces: WRANGLER.kvNamespaces,
    assets: ASSETS,
    // `analytics`: an Analytics Engine dataset bound as USAGE (see the README).
    ...(analytics ? { analyticsEngineDatasets: { USAGE: { dataset: "keygate_usage" } } } : {}),
    // The webhook queue (produced and consumed by this Worker) and the
    // Durable Objects, as wrangler.toml declares them.
    queueProducers: WRANGLER.queueProducers,
    queueConsumers: WRANGLER.queueConsumers,
    durableObjects: WRANGLER.durableObjects,
    ...(persist
      ? { kvPersist: path.join(persist, "kv"), durableObjectsPersist: path.join(persist, "do") }
      : {}),
    // Everything the runtime prints goes to `logs` (the caller's array, or
    // the worker's own `logs`), not to the test's output: the Worker logs a
    // line per request. Errors also still reach stderr when nobody asked.
    handleRuntimeStdio(stdout, stderr) {
      stdout.on("data", (d) => printed.push(String(d)));
      stderr.on("data", (d) => {
        printed.push(String(d));
        if (!logs) process.stderr.write(d);
      });
    },
  });
  // The address Miniflare serves on, for raw HTTP that fetch() cannot send.
  const url = await mf.ready;
  const fetch = (p, init = {}) => mf.dispatchFetch(new URL(p, BASE), init);
  // Runs the Cron Trigger's handler now, as the runtime would on schedule.
  const scheduled = async () => (await mf.getWorker()).scheduled({ cron: WRANGLER.crons[0] });
  return { mf, url, fetch, scheduled, logs: printed, dispose: () => mf.dispose() };
}

/** The structured log lines (see src/log.rs) a worker printed so far, parsed. */
export function logLines(worker) {
  return worker.logs
    .join("")
    .split("\n")
    .filter((l) => l.startsWith('{"log":'))
    .map((l) => JSON.parse(l));
}

/** Key-object calls so far, for a worker started with `wrapped: true`. */
export async function objectCalls(worker) {
  return (await wrappedCounts(worker)).calls;
}

/** Registry calls so far, for a worker started with `wrapped: true`. */
export async function registryCalls(worker) {
  return (await wrappedCounts(worker)).registry_calls;
}

/**
 * Every Durable Object call so far by class and request path
 * (`"RegistryObject /registry-3/report": 12`), for a worker started with
 * `wrapped: true`.
 */
export async function objectPaths(worker) {
  return (await wrappedCounts(worker)).paths;
}

/** Runs `task(i)` for each i in [0, n), `width` at a time. */
export async function pool(n, width, task) {
  let next = 0;
  const run = async () => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: width }, run));
}

/** What each path in `after` gained since `before` (both from objectPaths). */
export function pathsSince(before, after) {
  return Object.fromEntries(
    Object.entries(after)
      .map(([path, n]) => [path, n - (before[path] ?? 0)])
      .filter(([, n]) => n > 0),
  );
}

async function wrappedCounts(worker) {
  const res = await worker.fetch("/__bench/object-calls");
  const body = await res.json();
  if (typeof body.calls !== "number") throw new Error(`not a wrapped worker: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

export const admin = (extra = {}) => ({
  authorization: `Bearer ${ADMIN_TOKEN}`,
  "content-type": "application/json",
  ...extra,
});

/** Issues a key through the admin API and returns the create response's data. */
export async function issue(worker, body = {}) {
  const res = await worker.fetch("/_keygate/v1/keys", {
    method: "POST",
    headers: admin(),
    body: JSON.stringify({ name: "test key", environment: "live", ...body }),
  });
  const json = await res.json();
  if (res.status !== 201) throw new Error(`issue failed: ${res.status} ${JSON.stringify(json)}`);
  return json.data;
}

export const bearer = (key) => ({ authorization: `Bearer ${key}` });

/** Asserts the JSON error shape and returns the error object. */
export async function errorOf(res) {
  const body = await res.json();
  if (!body.error || typeof body.error.code !== "string" || typeof body.error.message !== "string") {
    throw new Error(`not an error body: ${JSON.stringify(body)}`);
  }
  return body.error;
}

/**
 * Waits, if needed, so that at least `ms` remain in the current minute:
 * tests that count within one minute window must not straddle its edge.
 */
export async function awayFromMinuteEdge(ms = 10_000) {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < ms) await new Promise((r) => setTimeout(r, left + 50));
}
