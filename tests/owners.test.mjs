// Owner limits on the real built Worker: limits and credits that every key
// with the same owner_id shares, decided together with each key's own
// (a refused request counts in neither, also when the owner's object
// cannot be reached), the admin routes and their rule, and the headers.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { parseItem, parseList } from "structured-headers";
import {
  admin,
  awayFromMinuteEdge,
  bearer,
  errorOf,
  issue,
  objectCalls,
  startOrigin,
  startWorker,
  stateDir,
} from "./harness.mjs";

const HIGH = { per_minute: 100_000, per_day: 1_000_000 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let origin;
let worker;

before(async () => {
  origin = await startOrigin();
  worker = await startWorker({ vars: { ORIGIN_LIVE: origin.url }, wrapped: true });
});
after(async () => {
  await worker?.dispose();
  await origin?.close();
});

let owners = 0;
/** A fresh owner id for each test. */
const ownerId = (label) => `cus_${label}_${Date.now()}_${owners++}`;

async function api(w, path, init = {}) {
  const res = await w.fetch(`/_keygate${path}`, { headers: admin(), ...init });
  return { status: res.status, body: await res.json() };
}

const putOwner = (w, id, body) =>
  api(w, `/v1/owners/${encodeURIComponent(id)}`, { method: "PUT", body: JSON.stringify(body) });
const getOwner = (w, id) => api(w, `/v1/owners/${encodeURIComponent(id)}`);

/** Units left in each of the owner's limits, by policy name. */
async function ownerLeft(w, id) {
  const { status, body } = await getOwner(w, id);
  assert.equal(status, 200, JSON.stringify(body));
  return Object.fromEntries(body.data.usage.map((q) => [q.policy, q.remaining]));
}

/** Units left in each limit of `key` (whoami does not count), by policy name. */
async function keyLeft(w, key) {
  const res = await w.fetch("/_keygate/v1/whoami", { headers: bearer(key) });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return Object.fromEntries(body.data.limits.map((q) => [q.policy, q.remaining]));
}

async function call(w, key) {
  const res = await w.fetch("/v1/orders", { headers: bearer(key) });
  await res.arrayBuffer();
  return res;
}

test("PUT, GET and DELETE an owner's limits; bad bodies are 422 naming the field and change nothing", async () => {
  const id = ownerId("crud");
  assert.equal((await getOwner(worker, id)).status, 404);
  const set = await putOwner(worker, id, {
    rate_limits: { per_minute: 50, per_day: 1000 },
    limits: [{ name: "search", limit: 10, window_seconds: 60 }],
    credits: { remaining: 500, refill: { amount: 500, interval: "monthly", day_of_month: 15 } },
  });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  assert.equal(set.body.data.owner_id, id);
  assert.deepEqual(set.body.data.rate_limits, { per_minute: 50, per_day: 1000 });
  assert.equal(set.body.data.window, "fixed");
  assert.deepEqual(
    set.body.data.usage.map((q) => q.policy),
    ["owner.minute", "owner.day", "owner.search"],
  );
  const before = await getOwner(worker, id);
  assert.equal(before.status, 200);
  for (const [body, field] of [
    [{}, "rate_limits"],
    [{ rate_limits: { per_minute: 0, per_day: 1 } }, "rate_limits.per_minute"],
    [{ limits: [{ name: "x", limit: 1, window_seconds: 3_000_000 }] }, "limits[0].window_seconds"],
    [{ credits: { remaining: -1 } }, "credits.remaining"],
    [{ credits: { remaining: 1, refill: { amount: 1, interval: "weekly" } } }, "credits.refill.interval"],
    [{ per_minute: 5 }, "per_minute"],
  ]) {
    const res = await putOwner(worker, id, body);
    assert.equal(res.status, 422, `${JSON.stringify(body)} → ${JSON.stringify(res.body)}`);
    assert.equal(res.body.error.code, "invalid_request");
    assert.equal(res.body.error.field, field, JSON.stringify(body));
  }
  const notJson = await api(worker, `/v1/owners/${id}`, { method: "PUT", body: "{" });
  assert.equal(notJson.status, 400);
  assert.deepEqual(await getOwner(worker, id), before, "a refused PUT changes nothing");
  const odd = await api(worker, `/v1/owners/${"x".repeat(129)}`);
  assert.equal(odd.status, 422);
  assert.equal(odd.body.error.field, "owner_id");
  const patch = await api(worker, `/v1/owners/${id}`, { method: "PATCH", body: "{}" });
  assert.equal(patch.status, 405);
  const del = await api(worker, `/v1/owners/${id}`, { method: "DELETE" });
  assert.equal(del.status, 200);
  assert.deepEqual(del.body.data, { owner_id: id, deleted: true });
  assert.equal((await getOwner(worker, id)).status, 404);
  assert.equal((await api(worker, `/v1/owners/${id}`, { method: "DELETE" })).status, 404);
});

test("only the admin token changes owner limits; an admin key reads only its own owner's", async () => {
  const id = ownerId("rule");
  assert.equal((await putOwner(worker, id, { rate_limits: { per_minute: 5, per_day: 50 } })).status, 200);
  const mine = await issue(worker, { scopes: ["admin"], owner_id: id });
  const other = await issue(worker, { scopes: ["admin"], owner_id: `${id}_other` });
  const as = (key, init = {}) =>
    worker.fetch(`/_keygate/v1/owners/${id}`, {
      ...init,
      headers: { ...bearer(key), "content-type": "application/json" },
    });
  const lift = { method: "PUT", body: JSON.stringify({ rate_limits: { per_minute: 100_000, per_day: 1_000_000 } }) };
  for (const key of [mine.key, other.key]) {
    for (const init of [lift, { method: "DELETE" }]) {
      const res = await as(key, init);
      assert.equal(res.status, 403);
      assert.equal((await errorOf(res)).code, "insufficient_permissions");
    }
  }
  assert.equal((await as(mine.key)).status, 200);
  assert.equal((await as(other.key)).status, 403);
  assert.deepEqual((await getOwner(worker, id)).body.data.rate_limits, { per_minute: 5, per_day: 50 });
});

test("an owner with 2 keys and a shared limit of 50 admits exactly 50 across both, under concurrency", async () => {
  await awayFromMinuteEdge(20_000);
  const id = ownerId("shared");
  assert.equal((await putOwner(worker, id, { rate_limits: { per_minute: 50, per_day: 10_000 } })).status, 200);
  const a = await issue(worker, { rate_limits: HIGH, owner_id: id });
  const b = await issue(worker, { rate_limits: HIGH, owner_id: id });
  const responses = await Promise.all(
    Array.from({ length: 200 }, (_, i) => call(worker, i % 2 ? a.key : b.key)),
  );
  const byStatus = {};
  for (const r of responses) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
  assert.deepEqual(byStatus, { 200: 50, 429: 150 });
  const admittedA = responses.filter((r, i) => i % 2 && r.status === 200).length;
  // Each key counted exactly what it admitted: the owner's refusals were taken back.
  assert.equal((await keyLeft(worker, a.key)).minute, HIGH.per_minute - admittedA);
  assert.equal((await keyLeft(worker, b.key)).minute, HIGH.per_minute - (50 - admittedA));
  assert.equal((await ownerLeft(worker, id))["owner.minute"], 0);
});

test("refused by the owner: 429 naming owner.minute, in parsed RateLimit headers, and the key's own count is untouched", async () => {
  await awayFromMinuteEdge(15_000);
  const id = ownerId("refuse");
  assert.equal((await putOwner(worker, id, { rate_limits: { per_minute: 3, per_day: 1000 } })).status, 200);
  const k = await issue(worker, { rate_limits: { per_minute: 10, per_day: 1000 }, owner_id: id });
  const first = await call(worker, k.key);
  assert.equal(first.status, 200);
  const names = parseList(first.headers.get("ratelimit-policy")).map(([name]) => name);
  assert.deepEqual(names, ["minute", "day", "owner.minute", "owner.day"]);
  const [bound, params] = parseItem(first.headers.get("ratelimit"));
  assert.equal(bound, "owner.minute");
  assert.equal(params.get("r"), 2);
  assert.equal(first.headers.get("x-ratelimit-remaining"), "2");
  for (let i = 0; i < 2; i++) assert.equal((await call(worker, k.key)).status, 200);
  for (let i = 0; i < 4; i++) {
    const res = await call(worker, k.key);
    assert.equal(res.status, 429);
    const [name] = parseItem(res.headers.get("ratelimit"));
    assert.equal(name, "owner.minute");
    assert.ok(Number(res.headers.get("retry-after")) >= 1);
  }
  const refused = await worker.fetch("/v1/orders", { headers: bearer(k.key) });
  const error = await errorOf(refused);
  assert.equal(error.code, "rate_limited");
  assert.equal(error.policy, "owner.minute");
  const left = await keyLeft(worker, k.key);
  assert.equal(left.minute, 7, "only the 3 admitted requests count in the key's own window");
  assert.equal(left["owner.minute"], 0);
});

test("owner credits are shared and run out as the owner's; whoami shows them", async () => {
  const id = ownerId("credits");
  assert.equal((await putOwner(worker, id, { credits: { remaining: 3 } })).status, 200);
  const a = await issue(worker, { rate_limits: HIGH, owner_id: id, credits: { remaining: 100 } });
  const b = await issue(worker, { rate_limits: HIGH, owner_id: id });
  for (const key of [a.key, b.key, a.key]) assert.equal((await call(worker, key)).status, 200);
  const res = await call(worker, b.key);
  assert.equal(res.status, 429);
  const error = await errorOf(await worker.fetch("/v1/orders", { headers: bearer(a.key) }));
  assert.equal(error.code, "credits_exhausted");
  assert.match(error.message, /owner has no credits left/);
  const who = await (await worker.fetch("/_keygate/v1/whoami", { headers: bearer(a.key) })).json();
  assert.deepEqual(who.data.owner_credits, { remaining: 0, refill: null });
  assert.equal(who.data.credits.remaining, 98, "the key's own credits paid only for what was admitted");
});

test("when the owner's object cannot be reached, the request fails closed and counts nowhere", async () => {
  await awayFromMinuteEdge(20_000);
  const dir = stateDir();
  const id = ownerId("down");
  let w = await startWorker({ vars: { ORIGIN_LIVE: origin.url }, persist: dir });
  assert.equal((await putOwner(w, id, { rate_limits: { per_minute: 10, per_day: 100 } })).status, 200);
  const k = await issue(w, { rate_limits: { per_minute: 20, per_day: 100 }, owner_id: id });
  assert.equal((await call(w, k.key)).status, 200);
  await w.dispose();
  w = await startWorker({ vars: { ORIGIN_LIVE: origin.url, FAULTS: "owner_object" }, persist: dir });
  for (let i = 0; i < 5; i++) {
    const res = await call(w, k.key);
    assert.equal(res.status, 503);
  }
  await w.dispose();
  w = await startWorker({ vars: { ORIGIN_LIVE: origin.url }, persist: dir });
  try {
    const left = await keyLeft(w, k.key);
    assert.equal(left.minute, 19, "the failed requests were taken back from the key's window");
    assert.equal(left["owner.minute"], 9);
  } finally {
    await w.dispose();
  }
});

test("a hot key whose owner has limits is leased with the owner's units too, and admits exactly the owner's limit", async () => {
  await awayFromMinuteEdge(20_000);
  const bound = ownerId("bound");
  assert.equal((await putOwner(worker, bound, { rate_limits: { per_minute: 300, per_day: 1_000_000 } })).status, 200);
  const k = await issue(worker, { rate_limits: HIGH, owner_id: bound });
  const start = await objectCalls(worker);
  const statuses = [];
  for (let i = 0; i < 150; i++) statuses.push((await call(worker, k.key)).status);
  const calls = (await objectCalls(worker)) - start;
  assert.ok(statuses.every((s) => s === 200));
  assert.ok(calls < 75, `leased: ${calls} key-object calls for 150 requests`);
  // Once the leases have ended, their unused units are back with the key
  // and with the owner: both windows hold exactly the 150 admitted.
  await sleep(1_500);
  assert.equal((await ownerLeft(worker, bound))["owner.minute"], 150);
  assert.equal((await keyLeft(worker, k.key)).minute, HIGH.per_minute - 150);
  for (let i = 0; i < 250; i++) statuses.push((await call(worker, k.key)).status);
  assert.equal(statuses.filter((s) => s === 200).length, 300, "exactly the owner's limit, leases included");
  assert.equal(statuses.filter((s) => s === 429).length, 100);
});

test("a key whose owner has no limits is leased as usual, and bound within 2 s once the owner gets limits", async () => {
  const n = 60;
  const free = ownerId("free");
  const f = await issue(worker, { rate_limits: HIGH, owner_id: free });
  const start = await objectCalls(worker);
  for (let i = 0; i < n; i++) assert.equal((await call(worker, f.key)).status, 200);
  assert.ok((await objectCalls(worker)) - start < n / 2, "an unbound owner's key is leased like any other");

  assert.equal((await putOwner(worker, free, { limits: [{ name: "hourly", limit: 1000, window_seconds: 3600 }] })).status, 200);
  // Within UNBOUND_RECHECK_MS (1 s) + LEASE_TTL_MS (1 s) the key is bound.
  await sleep(2_100);
  for (let i = 0; i < 5; i++) assert.equal((await call(worker, f.key)).status, 200);
  const left = await ownerLeft(worker, free);
  assert.equal(left["owner.hourly"], 995);
});
