// `make bench`: keygate against a hand-written JS floor and a bare proxy,
// all on workerd through Miniflare (no wrangler proxy hop), same load, same
// run. Everything listens on 127.0.0.1; every phase is bounded in time.
// Prints one table and appends it to bench/RESULTS.md.
//
// The old rows run keygate with ADMISSION=exact (every admitted request
// calls the key's Durable Object). "hot key" and "distance" compare it with
// the default, leased admission, through bench/keygate-wrapper.mjs, which
// counts key-object calls and can delay each one (BENCH_OBJECT_DELAY_MS).
import { Miniflare } from "miniflare";
import autocannon from "autocannon";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { gzipSync } from "node:zlib";
import { bareOptions, editsOptions, floorOptions, keygateOptions, wasmFloorOptions } from "./workers.mjs";
import { pool, stateDir } from "../tests/harness.mjs";
import { cpuReader } from "./cpu.mjs";

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
/**
 * What Cloudflare's edge adds to every request a Worker gets when the
 * zone's IP Geolocation is on: the client's country. Every scenario's
 * requests carry it (Workers that do not read it ignore it); keygate reads
 * it instead of parsing `request.cf` (one hot-key row goes without it).
 */
const EDGE_HEADERS = { "cf-ipcountry": "NL" };
/** autocannon's options for `opts`, sent as Cloudflare's edge would. */
const cannon = (opts, duration) => {
  // A header set to undefined in `opts` is not sent.
  const headers = Object.fromEntries(Object.entries({ ...EDGE_HEADERS, ...opts.headers }).filter(([, v]) => v !== undefined));
  return { connections: CONNECTIONS, pipelining: 1, ...opts, headers, duration };
};
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const WARMUP = 2;
// BENCH_QUICK=1: only the proxy scenarios, for iterating on the exact path;
// BENCH_QUICK=hot: only the hot-key scenario, for the leased path;
// BENCH_QUICK=limits: only the limits rows; BENCH_QUICK=listing: only the
// listing rows (nothing is written to RESULTS.md in any of them).
const QUICK = process.env.BENCH_QUICK === "1";
const QUICK_HOT = process.env.BENCH_QUICK === "hot";
const QUICK_LIMITS = process.env.BENCH_QUICK === "limits";
const QUICK_LISTING = process.env.BENCH_QUICK === "listing";
const ORIGIN_PORT = 8799;
const ORIGIN = `http://127.0.0.1:${ORIGIN_PORT}`;
const TOKEN = "bench-admin-token-0123456789";

const sha256 = (s) => createHash("sha256").update(s).digest("hex");
const log = (...a) => console.error("bench:", ...a);
const started = async (options) => {
  const mf = new Miniflare(options);
  return { mf, url: (await mf.ready).href.replace(/\/$/, "") };
};

/**
 * A keygate instance with `bindings` added to its vars. `wrapped`: load it
 * through bench/keygate-wrapper.mjs, and return `objectCalls()`, the number
 * of key-object calls so far.
 */
async function keygate({ bindings = {}, wrapped = false, root, persist } = {}) {
  const { mf, url } = await started(keygateOptions({ origin: ORIGIN, token: TOKEN, bindings, wrapped, root, persist }));
  const objectCalls = wrapped ? async () => (await (await fetch(url + "/__bench/object-calls")).json()).calls : undefined;
  return { mf, url, objectCalls };
}

/** The JS floor; `bindings` may set OBJECT_DELAY_MS. */
const floor = (bindings = {}) => started(floorOptions({ origin: ORIGIN, bindings }));
const bare = () => started(bareOptions({ origin: ORIGIN }));
const wasmFloor = () => started(wasmFloorOptions({ origin: ORIGIN }));
const edits = () => started(editsOptions({ origin: ORIGIN }));

async function adminCall(url, path, body, method = "POST") {
  const res = await fetch(url + "/_keygate" + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()).data;
}

const issue = (url, body = {}) =>
  adminCall(url, "/v1/keys", { name: "bench", environment: "live", rate_limits: { per_minute: 10_000_000, per_day: 10_000_000 }, ...body });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The cost of richer limits on the exact path, in interleaved rounds: a
 * key with only the minute and day limits (`plain`), one with three named
 * limits and credits, and one whose owner has limits (one more Durable
 * Object call per request).
 */
async function limitRows(url, plain) {
  const big = 10_000_000;
  const named = await issue(url, {
    limits: [
      { name: "burst", limit: big, window_seconds: 1 },
      { name: "hourly", limit: big, window_seconds: 3_600 },
      { name: "monthly", limit: big, window_seconds: 2_678_400 },
    ],
    credits: { remaining: 1_000_000_000_000 },
  });
  await adminCall(url, "/v1/owners/bench_owner", { rate_limits: { per_minute: big, per_day: big } }, "PUT");
  const owned = await issue(url, { owner_id: "bench_owner" });
  const auth = (key) => ({ authorization: `Bearer ${key}` });
  return interleaved([
    { name: "limits: keygate (exact), minute and day only", opts: { url: url + "/v1/orders", headers: auth(plain.key) } },
    { name: "limits: keygate (exact), three named limits + credits", opts: { url: url + "/v1/orders", headers: auth(named.key) } },
    { name: "limits: keygate (exact), owner-limited key (its object + the owner's)", opts: { url: url + "/v1/orders", headers: auth(owned.key) } },
  ]);
}

/**
 * Runs autocannon against `opts` (after a warm-up) and returns rps, p50, p99
 * and the status mix. With `objectCalls` (see keygate()), also the key-object
 * calls per 2xx response during the measured run only.
 */
async function load(name, opts, objectCalls) {
  await autocannon(cannon(opts, WARMUP));
  // Let requests cut off by the end of the warm-up finish before counting.
  const before = objectCalls && (await sleep(250), await objectCalls());
  const r = await autocannon(cannon(opts, SECONDS));
  const calls = objectCalls && (await sleep(250), (await objectCalls()) - before);
  const statuses = { "2xx": r["2xx"], "4xx": r["4xx"], "5xx": r["5xx"], errors: r.errors + r.timeouts };
  const perAdmitted = objectCalls ? calls / r["2xx"] : undefined;
  log(name, Math.round(r.requests.average), "req/s", r.latency.p50, "ms p50", JSON.stringify(statuses), ...(objectCalls ? [calls, "object calls"] : []));
  return { name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, statuses, perAdmitted };
}

const HOT_ROUNDS = 4;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Like load(), for several `targets` ({ name, opts, objectCalls }) measured
 * in HOT_ROUNDS interleaved rounds of SECONDS / HOT_ROUNDS each (after one
 * warm-up each), so that a slow spell of the shared machine falls on all
 * of them rather than on whichever ran then. rps: the mean over rounds;
 * p50 and p99: the median of the rounds'; cpuPerRequest: the CPU time
 * (µs) the target's workerd process spent per request it answered during
 * its measured runs (see cpu.mjs), steadier than req/s on a shared machine.
 */
async function interleaved(targets) {
  const rounds = targets.map(() => []);
  const calls = targets.map(() => 0);
  // CPU seconds of each target's workerd process during its measured runs.
  const cpu = targets.map((t) => ({ read: cpuReader(t.opts.url), seconds: 0 }));
  for (const t of targets) await autocannon(cannon(t.opts, WARMUP));
  for (let round = 0; round < HOT_ROUNDS; round++) {
    for (const [i, t] of targets.entries()) {
      const before = t.objectCalls && (await sleep(250), await t.objectCalls());
      const cpuBefore = cpu[i].read?.();
      rounds[i].push(await autocannon(cannon(t.opts, SECONDS / HOT_ROUNDS)));
      if (cpu[i].read) cpu[i].seconds += cpu[i].read() - cpuBefore;
      if (t.objectCalls) calls[i] += (await sleep(250), (await t.objectCalls()) - before);
    }
  }
  return targets.map((t, i) => {
    const rs = rounds[i];
    const sum = (f) => rs.reduce((a, r) => a + f(r), 0);
    const statuses = { "2xx": sum((r) => r["2xx"]), "4xx": sum((r) => r["4xx"]), "5xx": sum((r) => r["5xx"]), errors: sum((r) => r.errors + r.timeouts) };
    const row = {
      name: t.name,
      rps: sum((r) => r.requests.average) / rs.length,
      p50: median(rs.map((r) => r.latency.p50)),
      p99: median(rs.map((r) => r.latency.p99)),
      statuses,
      perAdmitted: t.objectCalls ? calls[i] / statuses["2xx"] : undefined,
      cpuPerRequest: cpu[i].read ? (1e6 * cpu[i].seconds) / sum((r) => r.requests.total) : undefined,
    };
    log(t.name, Math.round(row.rps), "req/s", row.p50, "ms p50", Math.round(row.cpuPerRequest ?? NaN), "µs CPU/req", rs.map((r) => Math.round(r.requests.average)).join("/"), JSON.stringify(statuses), ...(t.objectCalls ? [calls[i], "object calls"] : []));
    return row;
  });
}

const COLD_RUNS = 3;

/**
 * Cold start: milliseconds from starting a Miniflare instance with
 * `options` (a fresh workerd process: its isolate, the script and, for a
 * Rust Worker, its wasm compiled and instantiated) to the first answer to
 * GET `path`; the median of COLD_RUNS.
 */
async function coldStart(options, path = "/v1/orders") {
  const times = [];
  for (let i = 0; i < COLD_RUNS; i++) {
    const t0 = performance.now();
    const { mf, url } = await started(options);
    await fetch(url + path).then((r) => r.arrayBuffer());
    times.push(performance.now() - t0);
    await mf.dispose();
  }
  return median(times);
}

/** Cold starts of keygate (its first request refused without I/O: no key), the Rust floor and the bare proxy. */
async function coldStarts() {
  const kg = await coldStart(keygateOptions({ origin: ORIGIN, token: TOKEN }));
  const rust = await coldStart(wasmFloorOptions({ origin: ORIGIN }));
  const rustBound = await coldStart(wasmFloorOptions({ origin: ORIGIN, bound: true }));
  const b = await coldStart(bareOptions({ origin: ORIGIN }));
  log(`cold start: keygate ${kg.toFixed(0)} ms, Rust floor ${rust.toFixed(0)} ms (with keygate's KV and queues ${rustBound.toFixed(0)} ms), bare ${b.toFixed(0)} ms`);
  return { keygate: kg, rust, rustBound, bare: b };
}

/** The built wasm's size, raw and gzip (level 9), KiB. */
function wasmSize() {
  const wasm = readFileSync("build/index_bg.wasm");
  return { raw: wasm.length / 1024, gzip: gzipSync(wasm, { level: 9 }).length / 1024 };
}

/**
 * The hot path's ratios (issue 28's targets) from the hot-key rows `hot`,
 * the distance rows `far`, the malformed-key and bare rows, cold starts and
 * the wasm's size; `null` where a row is missing.
 */
function hotPathRatios(hot, far, malformed, bareRow, cold, size) {
  const [hl, he, hf, hb, hr, hw, hn, hq] = hot;
  const byCpu = (a, b) => (a.cpuPerRequest && b.cpuPerRequest ? b.cpuPerRequest / a.cpuPerRequest : NaN);
  const ratios = {
    "hot key: leased ÷ Rust floor, req/s (target ≥ 0.85)": hl.rps / hr.rps,
    "hot key: leased ÷ Rust floor, by workerd CPU per request (floor µs ÷ leased µs; same target)": byCpu(hl, hr),
    "hot key: keygate's own CPU per leased request, µs (leased − Rust floor, reference)": hl.cpuPerRequest - hr.cpuPerRequest,
    "hot key: leased ÷ bare, req/s (target ≥ 0.80)": hl.rps / hb.rps,
    "hot key: exact ÷ JS floor, req/s (target ≥ 1.0)": he.rps / hf.rps,
    "hot key: leased ÷ floor, req/s (target ≥ 2)": hl.rps / hf.rps,
    "hot key: Rust floor ÷ bare, req/s (reference: the price of any wasm Worker)": hr.rps / hb.rps,
    "hot key: JS proxy with keygate's header work ÷ bare, req/s (reference: that work alone, in JS)": hw.rps / hb.rps,
    "hot key: leased without CF-IPCountry ÷ Rust floor, req/s (reference: IP Geolocation off)": hn.rps / hr.rps,
    "hot key: leased with LOGS=off ÷ Rust floor, req/s (reference: the request log's share)": hq.rps / hr.rps,
    "hot key: leased with LOGS=off ÷ Rust floor, by workerd CPU per request (reference)": byCpu(hq, hr),
    "hot key: object calls per admitted request, leased (target ≤ 0.05)": hl.perAdmitted,
    "hot key: object calls per admitted request, exact (reference)": he.perAdmitted,
  };
  if (far) {
    const [dl, de, df, db] = far;
    ratios["distance: leased p50 − bare p50, ms (target ≤ 2)"] = dl.p50 - db.p50;
    ratios["distance: exact p50 − bare p50, ms (reference)"] = de.p50 - db.p50;
    ratios["distance: floor p50 − bare p50, ms (reference)"] = df.p50 - db.p50;
  }
  if (malformed && bareRow) ratios["malformed ÷ bare, req/s (target ≥ 0.9)"] = malformed.rps / bareRow.rps;
  ratios["cold start: keygate − Rust floor, ms (target ≤ 50)"] = cold.keygate - cold.rust;
  ratios["cold start: keygate − Rust floor with keygate's KV and queues, ms (reference: without Miniflare's binding setup)"] = cold.keygate - cold.rustBound;
  return {
    ratios,
    lines: [
      `| wasm size raw / gzip | ${size.raw.toFixed(0)} KiB / ${size.gzip.toFixed(0)} KiB |`,
      `| cold start to first response (Miniflare: a fresh workerd) keygate / Rust floor / Rust floor with keygate's KV and queues / bare | ${cold.keygate.toFixed(0)} ms / ${cold.rust.toFixed(0)} ms / ${cold.rustBound.toFixed(0)} ms / ${cold.bare.toFixed(0)} ms |`,
    ],
  };
}

const LISTING_ROUNDS = 6;
const LISTING_SAMPLES = 40;

/**
 * Listing cost against table size: GET /v1/keys?per_page=20 for the admin
 * token and for an admin key bound to one owner, on a deployment with
 * 1,000 keys and on one with 20,000 (every tenth key the owner's), each
 * call timed alone (one at a time: a page's latency, not throughput) in
 * LISTING_ROUNDS interleaved rounds. p50 in ms, to the microsecond.
 */
async function listingRows() {
  const instances = [];
  const dirs = [];
  try {
    const deployment = async (n) => {
      // Persisted in memory where the machine has it (see stateDir):
      // 20,000 keys' storage is otherwise paced by the disk's syncs.
      const dir = stateDir();
      dirs.push(dir);
      const inst = await keygate({ persist: dir });
      instances.push(inst);
      log(`listing: issuing ${n} keys`);
      await pool(n, 32, (i) => issue(inst.url, i % 10 === 0 ? { owner_id: "bench_lister" } : {}));
      const ops = await issue(inst.url, { owner_id: "bench_lister", scopes: ["admin", "*"] });
      return { url: inst.url, ops: ops.key };
    };
    const small = await deployment(1_000);
    const large = await deployment(20_000);
    const targets = [];
    for (const [size, d] of [["1,000", small], ["20,000", large]]) {
      targets.push({ name: `listing: admin token, per_page=20, ${size} keys`, url: d.url, token: TOKEN, samples: [] });
      targets.push({ name: `listing: owner's admin key, per_page=20, ${size} keys`, url: d.url, token: d.ops, samples: [] });
    }
    for (let round = 0; round < LISTING_ROUNDS; round++) {
      for (const t of targets) {
        for (let i = 0; i < LISTING_SAMPLES; i++) {
          const at = performance.now();
          const res = await fetch(t.url + "/_keygate/v1/keys?per_page=20", { headers: { authorization: `Bearer ${t.token}` } });
          const body = await res.json();
          if (res.status !== 200 || body.data.length !== 20) throw new Error(`${t.name}: ${res.status}`);
          t.samples.push(performance.now() - at);
        }
      }
    }
    return targets.map((t) => {
      const sorted = [...t.samples].sort((a, b) => a - b);
      const row = {
        name: t.name,
        rps: 1000 / (t.samples.reduce((a, b) => a + b, 0) / t.samples.length),
        p50: Number(median(sorted).toFixed(3)),
        p99: Number(sorted[Math.floor(sorted.length * 0.99)].toFixed(3)),
        statuses: { "2xx": t.samples.length },
      };
      log(row.name, row.p50, "ms p50");
      return row;
    });
  } finally {
    for (const inst of instances) await inst.mf.dispose();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * BENCH_BASELINE=<checkout>: the hot-key rows also run that checkout's
 * built Worker (its build/ and bench/keygate-wrapper.mjs, e.g. a `git
 * worktree` of the previous commit after `make build`), leased, in the
 * same interleaved rounds: a same-run A/B of a change.
 */
const BASELINE = process.env.BENCH_BASELINE;

async function baselineTarget(label, start) {
  const kg = await start(keygate({ wrapped: true, root: BASELINE }));
  const key = await issue(kg.url);
  return { name: `${label}: keygate (leased), baseline ${BASELINE}`, opts: { url: kg.url + "/v1/orders", headers: { authorization: `Bearer ${key.key}` } }, objectCalls: kg.objectCalls };
}

/**
 * One hot key (issue()'s high limits), CONNECTIONS connections, against
 * keygate leased (no ADMISSION var), keygate exact, the JS floor and the
 * bare proxy `bw`; without `delay`, also the Rust floor (a wasm Worker that
 * only forwards, bench/wasm-floor) and keygate's forwarding work done in
 * plain JavaScript with no key check (bench/edits.mjs). With `delay`, every key-object call
 * (keygate's through the wrapper, the floor's Counter) waits that many ms
 * first; the proxies call no object. The instances are disposed before
 * returning.
 */
async function hotKey(label, bw, delay = 0) {
  const objectDelay = delay ? { BENCH_OBJECT_DELAY_MS: delay } : {};
  const instances = [];
  const start = async (p) => {
    const inst = await p;
    instances.push(inst);
    return inst;
  };
  try {
    const leased = await start(keygate({ wrapped: true, bindings: objectDelay }));
    const exact = await start(keygate({ wrapped: true, bindings: { ADMISSION: "exact", ...objectDelay } }));
    const fl = await start(floor(delay ? { OBJECT_DELAY_MS: delay } : {}));
    const leasedKey = await issue(leased.url);
    const exactKey = await issue(exact.url);
    await (await fl.mf.getKVNamespace("KEYS")).put(sha256(leasedKey.key), JSON.stringify({ id: leasedKey.id }));
    const auth = (key) => ({ authorization: `Bearer ${key}` });
    const rows = await interleaved([
      { name: `${label}: keygate (leased)`, opts: { url: leased.url + "/v1/orders", headers: auth(leasedKey.key) }, objectCalls: leased.objectCalls },
      { name: `${label}: keygate (exact)`, opts: { url: exact.url + "/v1/orders", headers: auth(exactKey.key) }, objectCalls: exact.objectCalls },
      { name: `${label}: JS floor`, opts: { url: fl.url + "/v1/orders", headers: auth(leasedKey.key) } },
      { name: `${label}: bare proxy Worker${delay ? " (no object)" : ""}`, opts: { url: bw.url + "/v1/orders" } },
      ...(delay
        ? []
        : [
            { name: `${label}: Rust floor (wasm Worker that only forwards)`, opts: { url: (await start(wasmFloor())).url + "/v1/orders" } },
            { name: `${label}: JS proxy with keygate's header work, no key check`, opts: { url: (await start(edits())).url + "/v1/orders" } },
            { name: `${label}: keygate (leased), no CF-IPCountry (IP Geolocation off: request.cf is read)`, opts: { url: leased.url + "/v1/orders", headers: { ...auth(leasedKey.key), "cf-ipcountry": undefined } }, objectCalls: leased.objectCalls },
            await (async () => {
              const quiet = await start(keygate({ bindings: { LOGS: "off" } }));
              return { name: `${label}: keygate (leased), LOGS=off (no request log lines)`, opts: { url: quiet.url + "/v1/orders", headers: auth((await issue(quiet.url)).key) } };
            })(),
            ...(BASELINE ? [await baselineTarget(label, start)] : []),
          ]),
    ]);
    // The exact path calls the object for every admitted request; if the
    // count did not move, the wrapper's counter is not the one the objects
    // increment (e.g. they ran in another isolate): report no counts.
    if (!(rows[1].perAdmitted > 0)) {
      log(`${label}: the key-object call counter did not move on the exact path; object-call counts are unusable`);
      for (const r of rows) if (r.perAdmitted !== undefined) r.perAdmitted = NaN;
    }
    return rows;
  } finally {
    for (const inst of instances) await inst.mf.dispose();
  }
}

const putMany = (kv, entries, width = 64) => pool(entries.length, width, (i) => kv.put(...entries[i]));

/** Verify latency over `keys`, cycling through them so KV lookups vary. */
async function verifyLoad(name, url, keys) {
  let i = 0;
  return load(name, {
    url: url + "/_keygate/v1/verify",
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify({ key: keys[i++ % keys.length] }) }) }],
  });
}

async function main() {
  const origin = spawn(process.execPath, ["dev/echo-origin.mjs", String(ORIGIN_PORT)], { stdio: "ignore" });
  const started = [];
  const deadline = setTimeout(() => {
    log("took longer than 25 minutes; stopping");
    origin.kill();
    process.exit(2);
  }, 25 * 60_000);
  try {
    await new Promise((r) => setTimeout(r, 300));
    if (QUICK_LISTING) {
      const rows = await listingRows();
      console.log(rows.map((r) => `${r.name}: p50 ${r.p50} ms, p99 ${r.p99} ms`).join("\n"));
      console.log(`20,000 ÷ 1,000 keys, p50: admin token ${(rows[2].p50 / rows[0].p50).toFixed(2)}, owner's admin key ${(rows[3].p50 / rows[1].p50).toFixed(2)}`);
      return;
    }
    if (QUICK_HOT) {
      const bw = await bare();
      started.push(bw);
      const rows = await hotKey("hot key", bw);
      const { ratios, lines } = hotPathRatios(rows, null, null, null, await coldStarts(), wasmSize());
      console.log(rows.map((r) => `${r.name}: ${Math.round(r.rps)} req/s, p50 ${r.p50} ms, ${Math.round(r.cpuPerRequest ?? NaN)} µs CPU/request`).join("\n"));
      for (const [name, value] of Object.entries(ratios)) console.log(`${name}: ${Number.isFinite(value) ? value.toFixed(name.includes("object calls") ? 3 : 2) : "n/a"}`);
      console.log(lines.join("\n"));
      const [leased, baseline] = [rows[0], rows[8]];
      if (baseline) console.log(`leased ÷ baseline leased: rps ${(leased.rps / baseline.rps).toFixed(2)}, by CPU per request ${(baseline.cpuPerRequest / leased.cpuPerRequest).toFixed(2)}, p50 ${leased.p50 - baseline.p50 >= 0 ? "+" : ""}${leased.p50 - baseline.p50} ms`);
      return;
    }
    const t0 = performance.now();
    const kg = await keygate({ bindings: { ADMISSION: "exact" } });
    started.push(kg);
    const valid = await issue(kg.url);
    const limited = await issue(kg.url, { rate_limits: { per_minute: 1, per_day: 1 } });
    await fetch(kg.url + "/warm", { headers: { authorization: `Bearer ${limited.key}` } }).then((r) => r.arrayBuffer());
    const unknown = await issue(kg.url);
    await (await kg.mf.getKVNamespace("KEYS")).delete(sha256(unknown.key));

    const fl = await floor();
    started.push(fl);
    await (await fl.mf.getKVNamespace("KEYS")).put(sha256(valid.key), JSON.stringify({ id: valid.id }));
    const bw = await bare();
    started.push(bw);

    if (QUICK_LIMITS) {
      const [plain, many, owned] = await limitRows(kg.url, valid);
      console.log([plain, many, owned].map((r) => `${r.name}: ${Math.round(r.rps)} req/s, p50 ${r.p50} ms`).join("\n"));
      console.log(`named ÷ plain p50 ${(many.p50 / plain.p50).toFixed(2)}; owner-limited ÷ plain p50 ${(owned.p50 / plain.p50).toFixed(2)}`);
      return;
    }
    const auth = (key) => ({ authorization: `Bearer ${key}` });
    const rows = [];
    rows.push(await load("keygate (exact), valid key → origin", { url: kg.url + "/v1/orders", headers: auth(valid.key) }));
    rows.push(await load("JS floor, valid key → origin", { url: fl.url + "/v1/orders", headers: auth(valid.key) }));
    rows.push(await load("bare proxy Worker", { url: bw.url + "/v1/orders" }));
    rows.push(await load("keygate (exact), malformed key (401)", { url: kg.url + "/v1/orders", headers: auth("sk_live_not-a-real-key") }));
    rows.push(await load("keygate (exact), unknown key (401)", { url: kg.url + "/v1/orders", headers: auth(unknown.key) }));
    rows.push(await load("keygate (exact), rate-limited key (429)", { url: kg.url + "/v1/orders", headers: auth(limited.key) }));

    if (QUICK) {
      console.log(rows.map((r) => `${r.name}: ${Math.round(r.rps)} req/s, p50 ${r.p50} ms`).join("\n"));
      const [k, f] = rows;
      console.log(`keygate ÷ floor: rps ${(k.rps / f.rps).toFixed(2)}, p50 ${(k.p50 / f.p50).toFixed(2)}`);
      return;
    }
    // Leased against exact admission on one hot key, then the same with every
    // key-object call 50 ms away.
    const hot = await hotKey("hot key", bw);
    const far = await hotKey("distance, 50 ms to the object", bw, 50);
    rows.push(...hot, ...far);

    const limits = await limitRows(kg.url, valid);
    rows.push(...limits);

    const listing = await listingRows();
    rows.push(...listing);

    // Verify with 1,000 keys stored, and with 100,000: two fresh instances
    // with 1,000 issued keys each, one also holding 99,000 more KV entries.
    // Measured A, B, A again, so drift during the run shows up.
    const withKeys = async (extra) => {
      const inst = await keygate({ bindings: { ADMISSION: "exact" } });
      started.push(inst);
      log(`issuing 1,000 keys${extra ? ` and seeding ${extra} more KV entries` : ""}`);
      const keys = [];
      for (let i = 0; i < 1000; i++) keys.push((await issue(inst.url)).key);
      const filler = Array.from({ length: extra }, () => [randomBytes(32).toString("hex"), JSON.stringify({ id: "key_" + randomBytes(8).toString("hex").slice(0, 16) })]);
      await putMany(await inst.mf.getKVNamespace("KEYS"), filler);
      return { url: inst.url, sample: keys.slice(0, 500) };
    };
    const small = await withKeys(0);
    const large = await withKeys(99_000);
    await new Promise((r) => setTimeout(r, 5_000));
    const v1a = await verifyLoad("verify, 1,000 keys stored", small.url, small.sample);
    rows.push(await verifyLoad("verify, 100,000 keys stored", large.url, large.sample));
    const v1b = await verifyLoad("verify, 1,000 keys stored (again)", small.url, small.sample);
    rows.push({ ...v1a, rps: (v1a.rps + v1b.rps) / 2, p50: (v1a.p50 + v1b.p50) / 2, p99: Math.max(v1a.p99, v1b.p99), name: "verify, 1,000 keys stored (mean of before and after)" });

    const find = (n) => rows.find((r) => r.name.startsWith(n));
    const [k, f, b, m, v1, v100] = ["keygate (exact), valid", "JS floor", "bare", "keygate (exact), malformed", "verify, 1,000 keys stored (mean", "verify, 100,000"].map(find);
    const hotPath = hotPathRatios(hot, far, m, b, await coldStarts(), wasmSize());
    const ratios = {
      "keygate ÷ floor, req/s (target ≥ 0.95)": k.rps / f.rps,
      "keygate ÷ floor, p50 (target ≤ 1.1)": k.p50 / f.p50,
      "three named limits + credits ÷ minute/day only, p50 (target ≤ 1.1)": limits[1].p50 / limits[0].p50,
      "owner-limited key ÷ minute/day only, p50 (reference: one more object call)": limits[2].p50 / limits[0].p50,
      "verify 100k ÷ 1k, p50 (target ≤ 1.1)": v100.p50 / v1.p50,
      "listing 20k ÷ 1k keys, admin token, p50 (target ≤ 1.3)": listing[2].p50 / listing[0].p50,
      "listing 20k ÷ 1k keys, owner's admin key, p50 (target ≤ 1.3)": listing[3].p50 / listing[1].p50,
      ...hotPath.ratios,
    };
    const num = (v, digits) => (Number.isFinite(v) ? v.toFixed(digits) : "n/a");
    const machine = `${cpus().length} × ${cpus()[0]?.model?.trim() ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`;
    const when = new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC";
    const table = [
      `### ${when} — ${machine}`,
      "",
      `${CONNECTIONS} connections, ${SECONDS} s per scenario after ${WARMUP} s warm-up; load generator, workerd and origin share the machine.`,
      "Keygate (exact): ADMISSION=exact, every admitted request calls the key's Durable Object; keygate (leased): ADMISSION unset (default).",
      "Hot key and distance rows run keygate through bench/keygate-wrapper.mjs, which counts key-object calls (during the measured run only);",
      `distance delays every key-object call (keygate's and the floor's Counter) by 50 ms. Hot key and distance rows are measured in ${HOT_ROUNDS} interleaved rounds`,
      "(req/s: mean of the rounds; p50/p99: median of the rounds'), so a slow spell of the shared machine falls on all of them alike.",
      "",
      "| scenario | req/s | p50 ms | p99 ms | key-object calls per 2xx | workerd CPU µs per request | statuses |",
      "|---|---:|---:|---:|---:|---:|---|",
      ...rows.map((r) => `| ${r.name} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${r.perAdmitted === undefined ? "" : num(r.perAdmitted, 3)} | ${r.cpuPerRequest === undefined ? "" : num(r.cpuPerRequest, 0)} | ${Object.entries(r.statuses).filter(([, n]) => n).map(([s, n]) => `${s}: ${n}`).join(", ")} |`),
      "",
      "| ratio | value |",
      "|---|---:|",
      ...Object.entries(ratios).map(([name, value]) => `| ${name} | ${num(value, name.includes("object calls") ? 3 : name.includes("µs") ? 0 : 2)} |`),
      ...hotPath.lines,
      "",
    ].join("\n");
    console.log(table);
    log(`whole run took ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    const file = "bench/RESULTS.md";
    if (!existsSync(file)) {
      writeFileSync(file, "# Benchmark results\n\nEach `make bench` run appends a section. Absolute numbers depend on the machine and what else runs on it; the ratios, measured within one run, are the result.\n\n");
    }
    appendFileSync(file, table + "\n");
  } finally {
    clearTimeout(deadline);
    for (const s of started) await s.mf.dispose();
    origin.kill();
  }
}

await main();
