// Limits beyond minute/day, on the real built Worker: named limits (all
// or nothing, under concurrency), rolling windows (no burst across a
// boundary), the IETF RateLimit / RateLimit-Policy headers (parsed with a
// Structured Fields parser, not a regex), the limits in whoami and verify,
// bad input, that a key with such limits is never leased, and that
// concurrent requests never admit more than a limit.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { parseItem, parseList } from "structured-headers";
import { admin, awayFromMinuteEdge, bearer, errorOf, issue, objectCalls, startOrigin, startWorker } from "./harness.mjs";

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

/** One API request with `key`; the body is read (the headers and status stay readable). */
async function call(key, path = "/v1/orders") {
  const res = await worker.fetch(path, { headers: bearer(key) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: async () => JSON.parse(text) };
}

async function api(path, init = {}) {
  const res = await worker.fetch(`/_keygate${path}`, { headers: admin(), ...init });
  return { status: res.status, body: await res.json() };
}

/** The RateLimit-Policy header as [{ name, q, w }], parsed as an sf-list. */
function policies(res) {
  return parseList(res.headers.get("ratelimit-policy")).map(([name, params]) => ({ name, q: params.get("q"), w: params.get("w") }));
}

/** The RateLimit header as { name, r, t }, parsed as an sf-item. */
function ratelimit(res) {
  const [name, params] = parseItem(res.headers.get("ratelimit"));
  return { name, r: params.get("r"), t: params.get("t") };
}

/** Waits until `ms` into a period of `period` ms (epoch-aligned). */
async function untilPhase(period, ms) {
  const phase = Date.now() % period;
  await sleep((ms - phase + period) % period);
}

test("named limits: headers list every limit, the binding one is named, a refusal names its limit", async () => {
  const k = await issue(worker, { rate_limits: HIGH, limits: [{ name: "burst", limit: 3, window_seconds: 10 }] });
  // Far from a 10 s boundary, so the three requests share one window.
  await untilPhase(10_000, 500);
  for (let i = 0; i < 3; i++) {
    const res = await call(k.key);
    assert.equal(res.status, 200);
    assert.deepEqual(policies(res), [
      { name: "minute", q: 100_000, w: 60 },
      { name: "day", q: 1_000_000, w: 86_400 },
      { name: "burst", q: 3, w: 10 },
    ]);
    const rl = ratelimit(res);
    assert.equal(rl.name, "burst");
    assert.equal(rl.r, 2 - i);
    assert.ok(rl.t >= 1 && rl.t <= 10, `t=${rl.t}`);
    assert.equal(res.headers.get("x-ratelimit-limit"), "3");
  }
  const refused = await call(k.key);
  assert.equal(refused.status, 429);
  assert.deepEqual(ratelimit(refused).name, "burst");
  assert.equal(ratelimit(refused).r, 0);
  assert.equal(policies(refused).length, 3);
  const error = await errorOf(refused);
  assert.equal(error.code, "rate_limited");
  assert.equal(error.policy, "burst");
  assert.ok(Number(refused.headers.get("retry-after")) <= 10);
});

test("200 concurrent requests against three named limits admit exactly the smallest, and count nothing refused", async () => {
  const limits = [
    { name: "a", limit: 40, window_seconds: 3_600 },
    { name: "b", limit: 25, window_seconds: 86_400 },
    { name: "c", limit: 30, window_seconds: 7 * 86_400 },
  ];
  const k = await issue(worker, { rate_limits: HIGH, limits });
  const results = await Promise.all(
    Array.from({ length: 200 }, async () => {
      return (await call(k.key)).status;
    }),
  );
  assert.equal(results.filter((s) => s === 200).length, 25);
  assert.equal(results.filter((s) => s === 429).length, 175);
  // Refused requests were counted nowhere: every other limit spent 25.
  const { body } = await api("/v1/verify", { method: "POST", body: JSON.stringify({ key: k.key }) });
  const left = Object.fromEntries(body.data.limits.map((l) => [l.policy, l.remaining]));
  assert.equal(left.a, 15);
  assert.equal(left.b, 0);
  assert.equal(left.c, 5);
  assert.equal(left.minute, HIGH.per_minute - 25);
  assert.equal(left.day, HIGH.per_day - 25);
  // GET /v1/keys/{id} shows the same states.
  const read = await api(`/v1/keys/${k.id}`);
  const shown = Object.fromEntries(read.body.data.usage.map((l) => [l.policy, l.remaining]));
  assert.deepEqual(shown, left);
  assert.ok(read.body.data.usage.every((l) => Number.isInteger(l.reset) && l.limit > 0));
});

test("a rolling window has no burst across its boundary; a fixed one does", async () => {
  const limits = [{ name: "short", limit: 3, window_seconds: 4 }];
  const fixed = await issue(worker, { rate_limits: HIGH, limits });
  const rolling = await issue(worker, { rate_limits: HIGH, limits, window: "rolling" });
  // Fill both just before a 4 s boundary, then try again just after it.
  await untilPhase(4_000, 3_300);
  for (const k of [fixed, rolling]) {
    for (let i = 0; i < 3; i++) assert.equal((await call(k.key)).status, 200);
  }
  await untilPhase(4_000, 200);
  const afterFixed = await call(fixed.key);
  const afterRolling = await call(rolling.key);
  assert.equal(afterFixed.status, 200, "a fixed window starts over at its boundary");
  assert.equal(afterRolling.status, 429, "a rolling window still holds the last 4 s");
  assert.equal((await errorOf(afterRolling)).policy, "short");
  const retry = Number(afterRolling.headers.get("retry-after"));
  assert.ok(retry >= 1 && retry <= 5, `retry-after ${retry}`);
  // Once the burst has rolled out, the key admits again.
  await sleep(retry * 1_000 + 100);
  assert.equal((await call(rolling.key)).status, 200);
});

test("whoami, verify and GET show every limit; PATCH adds and removes named limits", async () => {
  const k = await issue(worker, { rate_limits: HIGH });
  const patched = await api(`/v1/keys/${k.id}`, {
    method: "PATCH",
    body: JSON.stringify({ window: "rolling", limits: [{ name: "search", limit: 2, window_seconds: 60 }] }),
  });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.equal(patched.body.data.window, "rolling");
  assert.deepEqual(patched.body.data.limits, [{ name: "search", limit: 2, window_seconds: 60 }]);
  const who = await (await worker.fetch("/_keygate/v1/whoami", { headers: bearer(k.key) })).json();
  assert.deepEqual(
    who.data.limits.map((l) => [l.policy, l.limit, l.window_seconds]),
    [["minute", HIGH.per_minute, 60], ["day", HIGH.per_day, 86_400], ["search", 2, 60]],
  );
  assert.equal(who.data.window, "rolling");
  for (let i = 0; i < 2; i++) assert.equal((await call(k.key)).status, 200);
  assert.equal((await call(k.key)).status, 429);
  const cleared = await api(`/v1/keys/${k.id}`, { method: "PATCH", body: JSON.stringify({ limits: [] }) });
  assert.deepEqual(cleared.body.data.limits, []);
  assert.equal((await call(k.key)).status, 200);
});

test("bad limits are 422 naming the field, and change nothing", async () => {
  const k = await issue(worker, { rate_limits: HIGH, limits: [{ name: "keep", limit: 5, window_seconds: 5 }] });
  const before = JSON.stringify((await api(`/v1/keys/${k.id}`)).body);
  const cases = [
    [{ window: "sliding" }, "window"],
    [{ limits: "many" }, "limits"],
    [{ limits: [{ name: "Bad Name", limit: 1, window_seconds: 1 }] }, "limits[0].name"],
    [{ limits: [{ name: "x", limit: 0, window_seconds: 1 }] }, "limits[0].limit"],
    [{ limits: [{ name: "x", limit: 1, window_seconds: 0 }] }, "limits[0].window_seconds"],
    [{ limits: [{ name: "x", limit: 1, window_seconds: 2_678_401 }] }, "limits[0].window_seconds"],
    [{ limits: [{ name: "x", limit: 1 }] }, "limits[0].window_seconds"],
    [{ limits: [{ name: "x", limit: 1, window_seconds: 1, extra: 1 }] }, "limits[0].extra"],
    [{ limits: [{ name: "x", limit: 1, window_seconds: 1 }, { name: "x", limit: 2, window_seconds: 2 }] }, "limits[1].name"],
    [{ limits: [{ name: "minute", limit: 1, window_seconds: 1 }] }, "limits[0].name"],
    [{ limits: Array.from({ length: 17 }, (_, i) => ({ name: `l${i}`, limit: 1, window_seconds: 1 })) }, "limits"],
  ];
  for (const [body, field] of cases) {
    for (const [method, path] of [["PATCH", `/v1/keys/${k.id}`], ["POST", "/v1/keys"]]) {
      const full = method === "POST" ? { name: "bad", environment: "live", ...body } : body;
      const res = await api(path, { method, body: JSON.stringify(full) });
      assert.equal(res.status, 422, `${method} ${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.field, field, `${method} ${JSON.stringify(body)}`);
    }
  }
  assert.equal(JSON.stringify((await api(`/v1/keys/${k.id}`)).body), before);
});

test("a key with named limits or rolling windows is never leased: every request reaches its object", async () => {
  for (const extra of [{ limits: [{ name: "n", limit: 1_000, window_seconds: 60 }] }, { window: "rolling" }]) {
    const k = await issue(worker, { rate_limits: HIGH, ...extra });
    const start = await objectCalls(worker);
    const n = 60;
    for (let i = 0; i < n / 10; i++) {
      const statuses = await Promise.all(Array.from({ length: 10 }, async () => (await call(k.key)).status));
      assert.deepEqual(new Set(statuses), new Set([200]));
    }
    assert.ok((await objectCalls(worker)) - start >= n, `${JSON.stringify(extra)}: fewer object calls than requests`);
  }
});

test("credits: spent by every admitted request, 429 credits_exhausted at zero, listed in RateLimit-Policy", async () => {
  const k = await issue(worker, { rate_limits: HIGH, credits: { remaining: 3 } });
  assert.deepEqual(k.credits, { remaining: 3, refill: null });
  for (let i = 0; i < 3; i++) {
    const res = await call(k.key);
    assert.equal(res.status, 200);
    // With no refill, the quota is the balance (after this request).
    assert.deepEqual(policies(res).at(-1), { name: "credits", q: 2 - i, w: undefined });
  }
  const out = await call(k.key);
  assert.equal(out.status, 429);
  const error = (await out.json()).error;
  assert.equal(error.code, "credits_exhausted");
  assert.equal(out.headers.get("retry-after"), null, "no refill: no time to retry at");
  assert.equal(error.retry_after, undefined);
  const who = await (await worker.fetch("/_keygate/v1/whoami", { headers: bearer(k.key) })).json();
  assert.deepEqual(who.data.credits, { remaining: 0, refill: null });
});

test("200 concurrent requests on three named limits and credits admit exactly the smallest of them", async () => {
  const limits = [
    { name: "a", limit: 40, window_seconds: 3_600 },
    { name: "b", limit: 25, window_seconds: 86_400 },
    { name: "c", limit: 30, window_seconds: 600 },
  ];
  const k = await issue(worker, { rate_limits: HIGH, limits, credits: { remaining: 18 } });
  const statuses = await Promise.all(Array.from({ length: 200 }, async () => (await call(k.key)).status));
  assert.equal(statuses.filter((s) => s === 200).length, 18);
  const { body } = await api("/v1/verify", { method: "POST", body: JSON.stringify({ key: k.key }) });
  assert.equal(body.data.code, "credits_exhausted");
  const key = (await api(`/v1/keys/${k.id}`)).body.data;
  assert.equal(key.credits.remaining, 0);
  // A refused request spent nothing anywhere: every limit counted 18.
  const k2 = await issue(worker, { rate_limits: HIGH, limits, credits: { remaining: 100 } });
  const statuses2 = await Promise.all(Array.from({ length: 200 }, async () => (await call(k2.key)).status));
  assert.equal(statuses2.filter((s) => s === 200).length, 25);
  // whoami consumes nothing (verify would, and be refused by limit b).
  const left = (await (await worker.fetch("/_keygate/v1/whoami", { headers: bearer(k2.key) })).json()).data;
  assert.equal(left.credits.remaining, 75);
  assert.deepEqual(left.limits.map((l) => l.remaining).slice(2), [15, 0, 5]);
});

test("POST /keys/{id}/credits: set, increment, decrement; a repeated Idempotency-Key applies once", async () => {
  const k = await issue(worker, { rate_limits: HIGH, credits: { remaining: 10 } });
  const change = (body, key) =>
    api(`/v1/keys/${k.id}/credits`, { method: "POST", headers: admin(key ? { "idempotency-key": key } : {}), body: JSON.stringify(body) });
  const first = await change({ op: "increment", amount: 5 }, "order-1");
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.data.credits.remaining, 15);
  const again = await change({ op: "increment", amount: 5 }, "order-1");
  assert.equal(again.status, 200);
  assert.equal(again.body.data.credits.remaining, 15, "the retry applied nothing");
  const misuse = await change({ op: "decrement", amount: 5 }, "order-1");
  assert.equal(misuse.status, 422);
  assert.equal(misuse.body.error.field, "Idempotency-Key");
  assert.equal((await change({ op: "decrement", amount: 4 })).body.data.credits.remaining, 11);
  assert.equal((await change({ op: "set", amount: 2 })).body.data.credits.remaining, 2);
  const before = JSON.stringify((await api(`/v1/keys/${k.id}`)).body);
  for (const [body, field, headers] of [
    [{ op: "decrement", amount: 3 }, "amount"],
    [{ op: "add", amount: 3 }, "op"],
    [{ op: "set" }, "amount"],
    [{ op: "set", amount: -1 }, "amount"],
    [{ op: "set", amount: 1, extra: true }, "extra"],
    [{ op: "set", amount: 1 }, "Idempotency-Key", { "idempotency-key": "x".repeat(256) }],
  ]) {
    const res = await api(`/v1/keys/${k.id}/credits`, { method: "POST", headers: admin(headers ?? {}), body: JSON.stringify(body) });
    assert.equal(res.status, 422, JSON.stringify(body));
    assert.equal(res.body.error.field, field, JSON.stringify(body));
  }
  assert.equal(JSON.stringify((await api(`/v1/keys/${k.id}`)).body), before, "refused changes changed nothing");
  const plain = await issue(worker, { rate_limits: HIGH });
  const none = await api(`/v1/keys/${plain.id}/credits`, { method: "POST", body: JSON.stringify({ op: "set", amount: 1 }) });
  assert.equal(none.status, 422);
  assert.equal(none.body.error.field, "credits");
  const audit = (await api(`/v1/keys/${k.id}/audit`)).body.data.map((e) => `${e.action} ${e.detail}`);
  assert.ok(audit.includes("credits set 2"), JSON.stringify(audit));
  assert.equal(audit.filter((e) => e === "credits increment 5").length, 1, "a replay is not recorded again");
});

test("credits refill exactly at the (test-controlled) UTC day boundary, once", async () => {
  // CLOCK_OFFSET_MS puts this Worker's clock 8 s before the next UTC midnight.
  const DAY = 86_400_000;
  const offset = Math.ceil(Date.now() / DAY) * DAY - 8_000 - Date.now();
  const shifted = await startWorker({ vars: { ORIGIN_LIVE: origin.url, CLOCK_OFFSET_MS: String(offset) } });
  try {
    const k = await issue(shifted, { rate_limits: HIGH, credits: { remaining: 1, refill: { amount: 2, interval: "daily" } } });
    const req = async () => {
      const res = await shifted.fetch("/v1/orders", { headers: bearer(k.key) });
      const body = await res.text();
      return { status: res.status, retry: res.headers.get("retry-after"), body };
    };
    assert.equal((await req()).status, 200);
    const out = await req();
    assert.equal(out.status, 429, out.body);
    assert.equal(JSON.parse(out.body).error.code, "credits_exhausted");
    const retry = Number(out.retry);
    assert.ok(retry >= 1 && retry <= 8, `Retry-After ${out.retry}`);
    await sleep(retry * 1_000 + 300);
    assert.deepEqual([(await req()).status, (await req()).status, (await req()).status], [200, 200, 429]);
  } finally {
    await shifted.dispose();
  }
});

test("routes in ROUTES draw on the named limits they list, at their own costs", async () => {
  const ROUTES = JSON.stringify({
    routes: [
      { method: "GET", path: "/v1/search", limits: { search: 5 } },
      { method: "*", path: "/*", limits: {} },
    ],
  });
  const routed = await startWorker({ vars: { ORIGIN_LIVE: origin.url, ROUTES } });
  try {
    const k = await issue(routed, { rate_limits: HIGH, limits: [{ name: "search", limit: 10, window_seconds: 3_600 }] });
    const get = async (path) => {
      const res = await routed.fetch(path, { headers: bearer(k.key) });
      return { status: res.status, body: await res.text() };
    };
    assert.equal((await get("/v1/search?q=a")).status, 200);
    assert.equal((await get("/v1/search?q=b")).status, 200);
    const third = await get("/v1/search?q=c");
    assert.equal(third.status, 429);
    assert.equal(JSON.parse(third.body).error.policy, "search");
    // Other routes draw on no named limit: still open, and their headers
    // name a limit they do draw on, not the spent search limit.
    for (let i = 0; i < 5; i++) assert.equal((await get("/v1/orders")).status, 200);
    const orders = await routed.fetch("/v1/orders", { headers: bearer(k.key) });
    await orders.arrayBuffer();
    assert.equal(ratelimit(orders).name, "minute");
  } finally {
    await routed.dispose();
  }
});

test("50 concurrent requests against a limit of 10 admit exactly 10", async () => {
  const data = await issue(worker, { rate_limits: { per_minute: 10 } });
  await awayFromMinuteEdge(3_000);
  const results = await Promise.all(
    Array.from({ length: 50 }, () => worker.fetch("/burst", { headers: bearer(data.key) }).then(async (r) => {
      await r.arrayBuffer();
      return r.status;
    })),
  );
  assert.equal(results.filter((s) => s === 200).length, 10);
  assert.equal(results.filter((s) => s === 429).length, 40);
});
