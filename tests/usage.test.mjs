// Usage analytics. Per key (GET /_keygate/v1/keys/{id}/usage): a scripted
// mix of requests produces exactly those counts by outcome, at every
// granularity, after a restart, and for a hot key whose requests were
// decided under a lease; countries come from the `cf` object Miniflare
// passes; bad queries are 422 naming the field.
//
// Overall (GET /_keygate/v1/usage): refusals no key's object sees (no key,
// garbage keys, oversize requests, keys KV knows are revoked) are counted
// per isolate and written in batches — a flood of 10,000 garbage keys makes
// a handful of registry writes and is counted exactly — and every key's
// decisions arrive when its minute closes (by the key object's alarm, for a
// key that went quiet), with the top keys. Only the admin token may read it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFileSync } from "node:fs";
import { admin, awayFromMinuteEdge, bearer, errorOf, issue, objectCalls, registryCalls, startOrigin, startWorker, stateDir } from "./harness.mjs";

const rest = JSON.parse(readFileSync("examples/routes-rest.json", "utf8"));
const ROUTES = JSON.stringify(rest);
let origin, originUrl;

before(async () => {
  // 200, except under /v1/orders/fail (503); /v1/orders/hang never answers in time.
  origin = http.createServer((req, res) => {
    if (req.url.startsWith("/v1/orders/hang")) return setTimeout(() => res.end("late"), 3_000);
    res.statusCode = req.url.startsWith("/v1/orders/fail") ? 503 : 200;
    res.end("{}");
  });
  await new Promise((r) => origin.listen(0, "127.0.0.1", r));
  originUrl = `http://127.0.0.1:${origin.address().port}`;
});

after(() => origin.close());

async function usage(worker, id, query = "") {
  const res = await worker.fetch(`/_keygate/v1/keys/${id}/usage${query}`, { headers: admin() });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()).data;
}

const totals = (data) => Object.fromEntries(Object.entries(data.totals).map(([o, t]) => [o, t.count]));

test("a scripted mix is counted exactly, by outcome, at every granularity and across a restart", async () => {
  await awayFromMinuteEdge(20_000);
  const persist = stateDir();
  const vars = { ORIGIN_LIVE: originUrl, ROUTES, ORIGIN_TIMEOUT_MS: "1000", ADMISSION: "exact" };
  let worker = await startWorker({ vars, persist });
  const key = await issue(worker, {
    type: "restricted",
    scopes: ["orders:read", "write:scans"],
    allowed_ips: ["198.51.100.0/24"],
    rate_limits: { per_minute: 11 },
  });
  // The country is CF-IPCountry's (Cloudflare's IP Geolocation), else request.cf's.
  const call = (path, { method = "GET", ip = "198.51.100.7", edgeCountry } = {}) =>
    worker.fetch(path, {
      method,
      headers: { ...bearer(key.key), "cf-connecting-ip": ip, ...(edgeCountry ? { "cf-ipcountry": edgeCountry } : {}) },
      cf: { country: "DE" },
    });
  const statuses = [];
  // 4 admitted reads, one of them from FR by its CF-IPCountry (request.cf says DE).
  for (let i = 0; i < 3; i++) statuses.push((await call("/v1/orders")).status);
  statuses.push((await call("/v1/orders", { edgeCountry: "FR" })).status);
  // 1 admitted scan costing 5 (cost counted), 2 forbidden writes, 1 unknown route, 2 from a bad IP.
  statuses.push((await call("/v1/scans", { method: "POST" })).status);
  statuses.push((await call("/v1/orders", { method: "POST" })).status);
  statuses.push((await call("/v1/orders/1", { method: "DELETE" })).status);
  statuses.push((await call("/v1/nowhere")).status);
  statuses.push((await call("/v1/orders", { ip: "203.0.113.9" })).status);
  statuses.push((await call("/v1/orders", { ip: "203.0.113.9" })).status);
  // The origin fails twice (503, and no answer in ORIGIN_TIMEOUT_MS): admitted, and origin_error.
  statuses.push((await call("/v1/orders/fail")).status);
  statuses.push((await call("/v1/orders/hang")).status);
  // 4 + 5 + 2 = 11 units: the limit of 11 is spent, the next two are refused.
  statuses.push((await call("/v1/orders")).status);
  statuses.push((await call("/v1/orders")).status);
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 403, 403, 403, 403, 403, 503, 504, 429, 429]);
  // Origin failures are reported off the response's path.
  await new Promise((r) => setTimeout(r, 500));

  const expected = { valid: 7, insufficient_permissions: 2, route_not_allowed: 1, ip_not_allowed: 2, origin_error: 2, rate_limited: 2 };
  const check = async (label) => {
    for (const granularity of ["minute", "hour", "day"]) {
      const data = await usage(worker, key.id, `?granularity=${granularity}`);
      assert.equal(data.granularity, granularity);
      assert.equal(data.key_id, key.id);
      assert.deepEqual(totals(data), expected, `${label}, ${granularity}`);
      assert.equal(data.totals.valid.cost, 11, "the scan's cost of 5 is counted");
      const bucketSum = data.buckets.reduce((n, b) => n + (b.outcomes.valid?.count ?? 0), 0);
      assert.equal(bucketSum, 7, "buckets add up to the totals");
      assert.deepEqual(data.countries, [{ country: "DE", count: 13 }, { country: "FR", count: 1 }]);
    }
  };
  await check("before the restart");
  await worker.dispose();
  worker = await startWorker({ vars, persist });
  await check("after the restart");
  await worker.dispose();
});

test("requests decided under a lease are counted once, when the lease goes back", async () => {
  await awayFromMinuteEdge(20_000);
  const worker = await startWorker({ vars: { ORIGIN_LIVE: originUrl, LEASE_TTL_MS: "500" }, wrapped: true });
  const key = await issue(worker, { rate_limits: { per_minute: 100_000 } });
  const waves = 10;
  for (let w = 0; w < waves; w++) {
    const res = await Promise.all(Array.from({ length: 40 }, () => worker.fetch("/v1/orders", { headers: bearer(key.key) })));
    assert.ok(res.every((r) => r.status === 200));
  }
  // Leases end at most LEASE_TTL_MS later and go back off the request path.
  await new Promise((r) => setTimeout(r, 1_500));
  const calls = await objectCalls(worker);
  assert.ok(calls < waves * 40 / 4, `most requests were decided under a lease (${calls} object calls)`);
  const data = await usage(worker, key.id, "?granularity=minute");
  assert.equal(data.totals.valid.count, waves * 40);
  await worker.dispose();
});

// Known gap (issue 27 notes): a refusal decided by a key's object while this
// isolate holds no lease for the key is counted without its owner, so the
// owner's rollup misses it (the object's Refused reply does not name the
// owner yet). Marked todo so it runs and shows, without failing the suite.
test("an owner's usage sums its keys; an admin key of another owner sees none of them", async () => {
  const worker = await startWorker({ vars: { ORIGIN_LIVE: originUrl, ADMISSION: "exact" } });
  const a = await issue(worker, { owner_id: "cus_sum", rate_limits: { per_minute: 2 } });
  const b = await issue(worker, { owner_id: "cus_sum" });
  const other = await issue(worker, { owner_id: "cus_other" });
  const statuses = [];
  for (const [key, n] of [[a, 3], [b, 2], [other, 4]]) {
    for (let i = 0; i < n; i++) statuses.push((await worker.fetch("/v1/orders", { headers: bearer(key.key), cf: { country: "SE" } })).status);
  }
  assert.deepEqual(statuses, [200, 200, 429, 200, 200, 200, 200, 200, 200]);
  // The owner's rollup arrives with the isolate's batch: within its flush
  // (5 s) and the queue's batch wait (5 s).
  let data;
  for (let tries = 0; tries < 60; tries++) {
    const res = await worker.fetch("/_keygate/v1/owners/cus_sum/usage?granularity=day", { headers: admin() });
    assert.equal(res.status, 200);
    data = (await res.json()).data;
    if ((data.totals.valid?.count ?? 0) >= 4) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.equal(data.owner_id, "cus_sum");
  assert.equal(data.keys, 2);
  assert.deepEqual(totals(data), { valid: 4, rate_limited: 1 });
  assert.deepEqual(data.countries, [{ country: "SE", count: 5 }]);
  // An admin key bound to another owner reaches none of these keys.
  const outsider = await issue(worker, { owner_id: "cus_other", scopes: ["admin"] });
  const seen = await worker.fetch("/_keygate/v1/owners/cus_sum/usage", { headers: bearer(outsider.key) });
  assert.equal(seen.status, 200);
  const none = (await seen.json()).data;
  assert.equal(none.keys, 0);
  assert.deepEqual(none.totals, {});
  const bad = await worker.fetch(`/_keygate/v1/owners/${"x".repeat(129)}/usage`, { headers: admin() });
  assert.equal(bad.status, 422);
  await worker.dispose();
});

test("bad queries are 422 naming the field; other methods 405", async () => {
  const worker = await startWorker({ vars: { ORIGIN_LIVE: originUrl } });
  const key = await issue(worker);
  const cases = [
    ["?granularity=week", "granularity"],
    ["?from=yesterday", "from"],
    ["?from=2026-11-24T11:00:00Z&to=2026-11-24T10:00:00Z", "from"],
    [`?granularity=minute&from=${new Date(Date.now() - 3 * 86_400_000).toISOString()}`, "from"],
    ["?colour=red", "colour"],
  ];
  for (const [query, field] of cases) {
    const res = await worker.fetch(`/_keygate/v1/keys/${key.id}/usage${query}`, { headers: admin() });
    assert.equal(res.status, 422, query);
    assert.equal((await errorOf(res)).field, field, query);
  }
  const post = await worker.fetch(`/_keygate/v1/keys/${key.id}/usage`, { method: "POST", headers: admin() });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET");
  const unknown = await worker.fetch("/_keygate/v1/keys/key_0000000000000000/usage", { headers: admin() });
  assert.equal(unknown.status, 404);
  const anonymous = await worker.fetch(`/_keygate/v1/keys/${key.id}/usage`);
  assert.equal(anonymous.status, 401);
  await worker.dispose();
});

const FLUSH_MS = 5_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function overall(worker, query = "") {
  const res = await worker.fetch(`/_keygate/v1/usage${query}`, { headers: admin() });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()).data;
}

test("10,000 garbage keys are counted exactly with a handful of registry writes", async () => {
  const origin = await startOrigin();
  const worker = await startWorker({ vars: { ORIGIN_LIVE: origin.url }, wrapped: true });
  try {
    const before = await registryCalls(worker);
    const statuses = new Map();
    const send = async (init) => {
      const res = await worker.fetch("/v1/orders", init);
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    };
    for (let i = 0; i < 10_000; i += 200) {
      await Promise.all(Array.from({ length: 200 }, (_, j) => send({ headers: bearer(`sk_live_garbage${i + j}`) })));
    }
    await Promise.all(Array.from({ length: 100 }, () => send({})));
    const huge = await worker.fetch(`/v1/orders?q=${"x".repeat(20_000)}`, { headers: bearer("sk_live_x") });
    assert.equal(huge.status, 414);
    // Admin API failures are not API traffic: not counted here.
    for (let i = 0; i < 5; i++) {
      assert.equal((await worker.fetch("/_keygate/v1/whoami", { headers: bearer(`sk_live_admin${i}`) })).status, 401);
    }
    assert.deepEqual([...statuses], [[401, 10_100]]);
    assert.equal(origin.requests.length, 0, "nothing reached the origin");
    // The last batch goes out FLUSH_MS after its first count.
    await sleep(FLUSH_MS + 1_500);
    const writes = (await registryCalls(worker)) - before;
    assert.ok(writes >= 1 && writes <= 8, `registry writes for the flood: ${writes}`);
    for (const granularity of ["minute", "hour", "day"]) {
      const data = await overall(worker, `?granularity=${granularity}`);
      assert.deepEqual(totals(data), { invalid_api_key: 10_000, missing_api_key: 100, request_too_large: 1 }, granularity);
      assert.deepEqual(data.top_keys, { by_requests: [], by_refusals: [] }, "garbage names no key");
    }
    console.log(`# 10,101 refused requests, ${writes} registry writes`);
  } finally {
    await worker.dispose();
    await origin.close();
  }
});

test("every key's decisions reach the overall usage when their minute closes, with the top keys, across a restart", async () => {
  const origin = await startOrigin();
  const persist = stateDir();
  const vars = { ORIGIN_LIVE: origin.url, ADMISSION: "exact" };
  let worker = await startWorker({ vars, persist });
  try {
    // Start early in a minute, so all of it is decided in one.
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 40_000) await sleep(left + 100);
    const busy = await issue(worker, { name: "busy" });
    const limited = await issue(worker, { name: "limited", rate_limits: { per_minute: 2 } });
    const gone = await issue(worker, { name: "gone" });
    const call = (key) => worker.fetch("/v1/orders", { headers: bearer(key.key), cf: { country: "NL" } }).then((r) => r.status);
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push(await call(busy));
    for (let i = 0; i < 5; i++) statuses.push(await call(limited));
    statuses.push(await call(gone));
    const revoke = await worker.fetch(`/_keygate/v1/keys/${gone.id}`, { method: "DELETE", headers: admin() });
    assert.equal(revoke.status, 200);
    statuses.push(await call(gone), await call(gone));
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 200, 200, 429, 429, 429, 200, 401, 401]);

    // Nothing has closed yet: the keys' minutes are open (the revoked calls are batched).
    // Each key object's alarm closes its minute a second after it ends.
    await sleep(60_000 - (Date.now() % 60_000) + 3_000);
    const expected = { valid: 9, rate_limited: 3, key_revoked: 2 };
    const check = async (label) => {
      for (const granularity of ["minute", "hour", "day"]) {
        const data = await overall(worker, `?granularity=${granularity}`);
        assert.deepEqual(totals(data), expected, `${label}, ${granularity}`);
        assert.deepEqual(data.countries, [{ country: "NL", count: 14 }], "every decision on a well-formed key has its country");
        const byRequests = data.top_keys.by_requests.map((k) => [k.name, k.requests, k.refused]);
        assert.deepEqual(byRequests, [["busy", 6, 0], ["limited", 5, 3], ["gone", 3, 2]], label);
        const byRefusals = data.top_keys.by_refusals.map((k) => [k.key_id, k.refused]);
        assert.deepEqual(byRefusals, [[limited.id, 3], [gone.id, 2]], label);
      }
    };
    await check("after the minute closed");
    // The key list shows each key's requests today, from the same reports.
    const listed = await (await worker.fetch("/_keygate/v1/keys", { headers: admin() })).json();
    const today = Object.fromEntries(listed.data.map((k) => [k.name, k.requests_today]));
    assert.deepEqual(today, { busy: 6, limited: 5, gone: 3 });
    await worker.dispose();
    worker = await startWorker({ vars, persist });
    await check("after a restart");

    // An admin key, even the strongest, reaches some keys, not all: 403.
    const adminKey = await issue(worker, { name: "ops", scopes: ["admin", "*"] });
    const refused = await worker.fetch("/_keygate/v1/usage", { headers: bearer(adminKey.key) });
    assert.equal(refused.status, 403);
    assert.equal((await errorOf(refused)).code, "insufficient_permissions");
    // Bad queries: 422 naming the field.
    for (const [query, field] of [["?granularity=week", "granularity"], ["?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "from"], ["?since=1", "since"]]) {
      const res = await worker.fetch(`/_keygate/v1/usage${query}`, { headers: admin() });
      assert.equal(res.status, 422, query);
      assert.equal((await errorOf(res)).field, field, query);
    }
  } finally {
    await worker.dispose();
    await origin.close();
  }
});
