// Overall usage (GET /_keygate/v1/usage): refusals no key's object sees
// (no key, garbage keys, oversize requests, keys KV knows are revoked) are
// counted per isolate and written in batches — a flood of 10,000 garbage
// keys makes a handful of registry writes and is counted exactly — and
// every key's decisions arrive when its minute closes (by the key object's
// alarm, for a key that went quiet), with the top keys. Only the admin
// token may read it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { admin, bearer, errorOf, issue, registryCalls, startOrigin, startWorker, stateDir } from "./harness.mjs";

const FLUSH_MS = 5_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function overall(worker, query = "") {
  const res = await worker.fetch(`/_keygate/v1/usage${query}`, { headers: admin() });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()).data;
}

const totals = (data) => Object.fromEntries(Object.entries(data.totals).map(([o, t]) => [o, t.count]));

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
        assert.deepEqual(data.countries, [{ country: "NL", count: 12 }], "countries from the keys' objects");
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
