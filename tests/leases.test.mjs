// Edge admission with leases, on the real built Worker: a hot key's
// requests are admitted in the isolate from units its Durable Object has
// already counted, yet limits stay exact, unused units come back, edits and
// revocation reach every request within LEASE_TTL_MS, and `exact` admission
// (per key, or the whole Worker) never leases. The Worker is loaded through
// bench/keygate-wrapper.mjs, which counts key-object calls, so each test can
// also show that a lease was (or was not) really taken.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { admin, awayFromMinuteEdge, bearer, issue, objectCalls, startOrigin, startWorker } from "./harness.mjs";

const ROUTES = readFileSync("examples/routes-rest.json", "utf8");
const HIGH = { per_minute: 10_000_000, per_day: 10_000_000 };
const DEFAULT_TTL = 1_000;
const SHORT_TTL = 400;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let origin;
let worker; // leased admission, default LEASE_TTL_MS
let short; // leased admission, LEASE_TTL_MS = SHORT_TTL
let exact; // ADMISSION = exact

before(async () => {
  origin = await startOrigin();
  const vars = { ORIGIN_LIVE: origin.url, ROUTES };
  [worker, short, exact] = await Promise.all([
    startWorker({ vars, wrapped: true }),
    startWorker({ vars: { ...vars, LEASE_TTL_MS: String(SHORT_TTL) }, wrapped: true }),
    startWorker({ vars: { ...vars, ADMISSION: "exact" }, wrapped: true }),
  ]);
});
after(async () => {
  await Promise.all([worker, short, exact].map((w) => w?.dispose()));
  await origin?.close();
});

/** One API request: its status and, for an error, its code. */
async function call(w, key, path = "/v1/orders") {
  const res = await w.fetch(path, { headers: bearer(key) });
  const text = await res.text();
  let code;
  if (!res.ok) {
    try {
      code = JSON.parse(text).error?.code;
    } catch {
      code = `unparsed: ${text.slice(0, 80)}`;
    }
  }
  return { status: res.status, code };
}

async function api(w, path, init = {}) {
  const res = await w.fetch(`/_keygate${path}`, { headers: admin(), ...init });
  const body = await res.json();
  assert.ok(res.ok, `${init.method ?? "GET"} ${path}: ${res.status} ${JSON.stringify(body)}`);
  return body.data;
}

/**
 * `loops` concurrent request loops on `key` until `stop()` is called (or
 * `ms` passed). Returns { results, stop, done }: each result records when
 * the request started (Date.now() before sending), its status and code.
 */
function hammer(w, key, { loops = 8, ms = 60_000, path } = {}) {
  const results = [];
  let stopped = false;
  const deadline = Date.now() + ms;
  const done = Promise.all(
    Array.from({ length: loops }, async () => {
      while (!stopped && Date.now() < deadline) {
        const start = Date.now();
        const r = await call(w, key, path);
        results.push({ start, ...r });
      }
    }),
  );
  return { results, stop: () => (stopped = true), done };
}

/** Hot traffic on `key` for `ms`: how many requests were admitted, and the key-object calls meanwhile. */
async function hot(w, key, ms = 1_200) {
  const calls0 = await objectCalls(w);
  const h = hammer(w, key, { ms });
  await h.done;
  const calls = (await objectCalls(w)) - calls0;
  const admitted = h.results.filter((r) => r.status === 200).length;
  assert.equal(admitted, h.results.length, `not all admitted: ${JSON.stringify(h.results.find((r) => r.status !== 200))}`);
  return { admitted, calls };
}

test("200 simultaneous requests on a warm, leased key with a limit of 50 admit exactly 50", async (t) => {
  const k = await issue(worker, { rate_limits: { per_minute: 50 } });
  await awayFromMinuteEdge(3_000);
  const calls0 = await objectCalls(worker);
  // Warm-up: sustained demand in this isolate, so it asks for a lease.
  const warm = [];
  for (let i = 0; i < 6; i++) warm.push(await call(worker, k.key));
  assert.deepEqual(warm.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
  const burst = await Promise.all(Array.from({ length: 200 }, () => call(worker, k.key)));
  const calls = (await objectCalls(worker)) - calls0;
  const ok = burst.filter((r) => r.status === 200).length;
  const limited = burst.filter((r) => r.status === 429 && r.code === "rate_limited").length;
  const detail = `warm 6 + burst ${ok} admitted, ${limited} limited, ${calls} object calls`;
  t.diagnostic(detail);
  assert.equal(warm.length + ok, 50, detail);
  assert.equal(limited, 200 - ok, `${detail}; others: ${JSON.stringify(burst.filter((r) => r.status !== 200 && r.status !== 429))}`);
  // Some requests were admitted from a lease, with no object call.
  assert.ok(calls < 206, detail);
});

/**
 * Hot traffic on `key` (8 loops) for `warmMs`, then `change()` (an admin
 * call); traffic goes on for `ttl` + 900 ms after it returned. Every
 * request that started more than `ttl` + 100 ms after the change returned
 * must be refused with `status`/`code`; and the key must have been leased
 * before the change (else this would prove nothing).
 */
async function propagates(t, w, ttl, key, change, status, code, warmMs = 1_300) {
  const calls0 = await objectCalls(w);
  const h = hammer(w, key);
  await sleep(warmMs);
  const before = h.results.length;
  const callsBefore = (await objectCalls(w)) - calls0;
  await change();
  const changed = Date.now();
  await sleep(ttl + 900);
  h.stop();
  await h.done;
  const late = h.results.filter((r) => r.start > changed + ttl + 100);
  const lastAdmitted = Math.max(...h.results.filter((r) => r.status === 200).map((r) => r.start - changed));
  const summary = `${before} requests and ${callsBefore} object calls before the change; ${late.length} requests after the deadline; last admitted request started at ${lastAdmitted} ms after the change`;
  t.diagnostic(summary);
  assert.ok(before >= 150, summary);
  assert.ok(h.results.slice(0, before).every((r) => r.status === 200), summary);
  assert.ok(callsBefore * 5 < before, `not leased: ${summary}`);
  assert.ok(late.length >= 50, summary);
  const wrong = late.filter((r) => r.status !== status || r.code !== code);
  assert.equal(wrong.length, 0, `${wrong.length}/${late.length} late requests not refused, e.g. ${JSON.stringify(wrong[0])} at +${wrong[0]?.start - changed} ms`);
}

test("a revocation reaches every request within LEASE_TTL_MS under hot traffic (default TTL)", async (t) => {
  const k = await issue(worker, { rate_limits: HIGH });
  const revoke = () => api(worker, `/v1/keys/${k.id}`, { method: "DELETE" });
  await propagates(t, worker, DEFAULT_TTL, k.key, revoke, 401, "key_revoked");
});

for (const [label, ttl, w] of [
  ["default TTL", DEFAULT_TTL, () => worker],
  [`LEASE_TTL_MS=${SHORT_TTL}`, SHORT_TTL, () => short],
]) {
  test(`a PATCH removing a permission reaches every request within LEASE_TTL_MS (${label})`, async (t) => {
    const k = await issue(w(), { type: "restricted", scopes: ["orders:read"], rate_limits: HIGH });
    const patch = async () => {
      const edited = await api(w(), `/v1/keys/${k.id}`, { method: "PATCH", body: JSON.stringify({ scopes: ["orders:write"] }) });
      assert.deepEqual(edited.scopes, ["orders:write"]);
    };
    await propagates(t, w(), ttl, k.key, patch, 403, "insufficient_permissions");
  });
}

test("units of an expired lease are handed back and admitted later in the same window", async (t) => {
  const k = await issue(worker, { rate_limits: { per_minute: 100 } });
  await awayFromMinuteEdge(6_000);
  // Let returns from earlier tests land before counting.
  await sleep(DEFAULT_TTL + 300);
  const calls0 = await objectCalls(worker);
  // A quick burst: the 4th request asks for a lease (twice the demand: 8
  // units, well under a quarter of what is left), the rest spend from it.
  const burst = [];
  for (let i = 0; i < 6; i++) burst.push(await call(worker, k.key));
  const burstCalls = (await objectCalls(worker)) - calls0;
  assert.ok(burst.every((r) => r.status === 200), JSON.stringify(burst));
  assert.ok(burstCalls < burst.length, `no lease taken: ${burstCalls} object calls for ${burst.length} requests`);
  // The lease expires unused in part; its timer hands the rest back.
  await sleep(DEFAULT_TTL + 500);
  let admitted = burst.length;
  let last;
  for (let i = 0; i < 200; i++) {
    last = await call(worker, k.key);
    if (last.status !== 200) break;
    admitted++;
  }
  t.diagnostic(`burst ${burst.length} requests with ${burstCalls} object calls; ${admitted} admitted in the window`);
  assert.equal(last.status, 429, JSON.stringify(last));
  assert.equal(last.code, "rate_limited");
  assert.equal(admitted, 100, `${admitted} admitted in the window (burst ${burst.length}, ${burstCalls} object calls)`);
  // And nothing more once the leases of the run above have ended too.
  await sleep(DEFAULT_TTL + 300);
  assert.equal((await call(worker, k.key)).status, 429);
});

test("exact admission: per key it is never leased until PATCHed to leased; the ADMISSION var leases no key", async (t) => {
  const e = await issue(worker, { rate_limits: HIGH, admission: "exact" });
  assert.equal(e.admission, "exact");
  assert.equal((await api(worker, `/v1/keys/${e.id}`)).admission, "exact");
  const n = await issue(worker, { rate_limits: HIGH });
  assert.equal(n.admission, "leased");

  const exactKey = await hot(worker, e.key);
  assert.ok(exactKey.admitted >= 100, JSON.stringify(exactKey));
  assert.ok(exactKey.calls >= exactKey.admitted, `exact key leased: ${JSON.stringify(exactKey)}`);

  const normal = await hot(worker, n.key);
  assert.ok(normal.admitted >= 100, JSON.stringify(normal));
  assert.ok(normal.calls * 5 < normal.admitted, `normal key not leased: ${JSON.stringify(normal)}`);

  const edited = await api(worker, `/v1/keys/${e.id}`, { method: "PATCH", body: JSON.stringify({ admission: "leased" }) });
  assert.equal(edited.admission, "leased");
  const nowLeased = await hot(worker, e.key);
  assert.ok(nowLeased.calls * 5 < nowLeased.admitted, `PATCHed key not leased: ${JSON.stringify(nowLeased)}`);

  t.diagnostic(`admitted/object calls: exact key ${exactKey.admitted}/${exactKey.calls}, normal key ${normal.admitted}/${normal.calls}, after PATCH ${nowLeased.admitted}/${nowLeased.calls}`);
  const x = await issue(exact, { rate_limits: HIGH });
  assert.equal(x.admission, "leased");
  const varExact = await hot(exact, x.key);
  assert.ok(varExact.admitted >= 100, JSON.stringify(varExact));
  t.diagnostic(`ADMISSION=exact: ${varExact.admitted}/${varExact.calls}`);
  assert.ok(varExact.calls >= varExact.admitted, `leased under ADMISSION=exact: ${JSON.stringify(varExact)}`);
});
