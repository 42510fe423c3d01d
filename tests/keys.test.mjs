// Keys end to end on the real built Worker: issue → proxy →
// headers count down → 429 → revoke → 401, bad keys, whoami, origin down,
// restart.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  admin, awayFromMinuteEdge, bearer, errorOf, issue, startOrigin, startWorker, stateDir,
} from "./harness.mjs";

let origin;
let worker;

before(async () => {
  origin = await startOrigin();
  worker = await startWorker({ vars: { ORIGIN_LIVE: origin.url } });
});
after(async () => {
  await worker?.dispose();
  await origin?.close();
});

test("issue returns the secret once, in the documented shape", async () => {
  const data = await issue(worker, { name: "billing", description: "for billing", rate_limits: { per_minute: 5 } });
  assert.match(data.key, /^sk_live_[0-9A-Za-z]{38}$/);
  assert.match(data.id, /^key_[0-9A-Za-z]{18}$/);
  assert.equal(data.name, "billing");
  assert.equal(data.description, "for billing");
  assert.equal(data.environment, "live");
  assert.equal(data.type, "secret");
  assert.deepEqual(data.rate_limits, { per_minute: 5, per_day: 10000 });
  assert.equal(data.display, `${data.key.slice(0, 12)}…${data.key.slice(-4)}`);
  assert.equal(data.last_used, null);
  assert.equal(data.expires_at, null);
  assert.equal(data.status, "active");
  assert.match(data.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  // Reading it back never shows the secret or its hash.
  const res = await worker.fetch(`/_keygate/v1/keys/${data.id}`, { headers: admin() });
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.ok(!text.includes(data.key.slice(8)), "secret leaked in GET");
  assert.equal(JSON.parse(text).data.display, data.display);
});

test("KV holds only the SHA-256 of the key", async () => {
  const data = await issue(worker);
  const kv = await worker.mf.getKVNamespace("KEYS");
  const { keys } = await kv.list();
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(data.key));
  const hex = Buffer.from(digest).toString("hex");
  const names = keys.map((k) => k.name);
  assert.ok(names.includes(hex), "hash not stored");
  for (const name of names) assert.match(name, /^[0-9a-f]{64}$/);
  const value = await kv.get(hex);
  assert.deepEqual(JSON.parse(value), { id: data.id });
  assert.ok(!value.includes(data.key));
});

test("a key's journey: proxy, count down, 429, revoke, 401", async () => {
  const data = await issue(worker, { rate_limits: { per_minute: 3, per_day: 1000 } });
  await awayFromMinuteEdge();
  const seen = origin.requests.length;

  for (const remaining of [2, 1, 0]) {
    const res = await worker.fetch("/v1/orders?limit=2", { headers: { ...bearer(data.key), "x-custom": "kept" } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-origin"), "stub");
    assert.equal(res.headers.get("x-ratelimit-limit"), "3");
    assert.equal(res.headers.get("x-ratelimit-remaining"), String(remaining));
    const reset = Number(res.headers.get("x-ratelimit-reset"));
    const now = Date.now() / 1000;
    assert.ok(reset > now && reset <= now + 61, `reset ${reset} not within the minute`);
    assert.deepEqual(await res.json(), { ok: true, path: "/v1/orders?limit=2" });
  }

  const forwarded = origin.requests.slice(seen);
  assert.equal(forwarded.length, 3);
  for (const r of forwarded) {
    assert.equal(r.headers["x-keygate-key-id"], data.id);
    assert.equal(r.headers["x-keygate-environment"], "live");
    assert.equal(r.headers["x-custom"], "kept");
    assert.equal(r.headers.authorization, undefined, "key header forwarded to origin");
  }

  const limited = await worker.fetch("/v1/orders", { headers: bearer(data.key) });
  assert.equal(limited.status, 429);
  const retryAfter = Number(limited.headers.get("retry-after"));
  assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
  assert.equal(limited.headers.get("x-ratelimit-remaining"), "0");
  assert.equal(limited.headers.get("x-ratelimit-limit"), "3");
  const err = await errorOf(limited);
  assert.equal(err.code, "rate_limited");
  assert.equal(err.retry_after, retryAfter);
  assert.equal(origin.requests.length, seen + 3, "a limited request reached the origin");

  const revoke = await worker.fetch(`/_keygate/v1/keys/${data.id}`, { method: "DELETE", headers: admin() });
  assert.equal(revoke.status, 200);
  const revoked = (await revoke.json()).data;
  assert.equal(revoked.status, "revoked");
  assert.ok(revoked.revoked_at);

  const after = await worker.fetch("/v1/orders", { headers: bearer(data.key) });
  assert.equal(after.status, 401);
  assert.equal((await errorOf(after)).code, "key_revoked");
  assert.equal(origin.requests.length, seen + 3);

  // Revoking again is an idempotent 200 with the original revocation time.
  const again = await worker.fetch(`/_keygate/v1/keys/${data.id}`, { method: "DELETE", headers: admin() });
  assert.equal(again.status, 200);
  assert.equal((await again.json()).data.revoked_at, revoked.revoked_at);
});

test("revocation wins over a stale KV entry", async () => {
  const data = await issue(worker);
  const kv = await worker.mf.getKVNamespace("KEYS");
  const { keys } = await kv.list();
  const before = new Map(await Promise.all(keys.map(async (k) => [k.name, await kv.get(k.name)])));
  assert.equal((await worker.fetch("/x", { headers: bearer(data.key) })).status, 200);
  await worker.fetch(`/_keygate/v1/keys/${data.id}`, { method: "DELETE", headers: admin() });
  // Put every KV entry back as it was before the revoke, as a lagging
  // replica would still serve it.
  for (const [name, value] of before) await kv.put(name, value);
  const res = await worker.fetch("/x", { headers: bearer(data.key) });
  assert.equal(res.status, 401);
  assert.equal((await errorOf(res)).code, "key_revoked");
});

test("X-API-Key works and is stripped before the origin", async () => {
  const data = await issue(worker);
  const seen = origin.requests.length;
  const res = await worker.fetch("/v1/things", {
    method: "POST",
    headers: { "x-api-key": data.key, authorization: "Basic b3JpZ2luOm93bg==", "content-type": "text/plain" },
    body: "payload",
  });
  assert.equal(res.status, 200);
  const r = origin.requests[seen];
  assert.equal(r.method, "POST");
  assert.equal(r.body, "payload");
  assert.equal(r.headers["x-api-key"], undefined);
  assert.equal(r.headers.authorization, "Basic b3JpZ2luOm93bg==", "origin's own auth must pass through");
});

test("clients cannot spoof keygate's headers to the origin", async () => {
  const data = await issue(worker);
  const seen = origin.requests.length;
  await worker.fetch("/x", { headers: { ...bearer(data.key), "x-keygate-key-id": "key_forged", "x-keygate-owner-id": "evil" } });
  const r = origin.requests[seen];
  assert.equal(r.headers["x-keygate-key-id"], data.id);
  assert.equal(r.headers["x-keygate-owner-id"], undefined);
});

test("missing, malformed and unknown keys are 401 and never reach the origin", async () => {
  const data = await issue(worker);
  const seen = origin.requests.length;
  const missing = await worker.fetch("/v1/orders");
  assert.equal(missing.status, 401);
  assert.equal((await errorOf(missing)).code, "missing_api_key");

  const flipped = data.key.slice(0, -1) + (data.key.endsWith("a") ? "b" : "a");
  const unknownKey = await issue(worker); // a real key, then forgotten by KV
  const kv = await worker.mf.getKVNamespace("KEYS");
  const digest = Buffer.from(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(unknownKey.key))).toString("hex");
  await kv.delete(digest);
  for (const bad of ["nonsense", "sk_live_short", flipped, data.key.replace("sk_", "rk_"), `${data.key}x`]) {
    const res = await worker.fetch("/v1/orders", { headers: bearer(bad) });
    assert.equal(res.status, 401, bad);
    const err = await errorOf(res);
    assert.equal(err.code, "invalid_api_key");
    assert.equal(err.message, "The API key is not valid.");
    assert.equal(res.headers.get("www-authenticate"), "Bearer");
  }
  // Unknown to KV: same answer as garbage.
  const unknown = await worker.fetch("/v1/orders", { headers: bearer(unknownKey.key) });
  assert.equal(unknown.status, 401);
  assert.deepEqual(await errorOf(unknown), { code: "invalid_api_key", message: "The API key is not valid." });
  assert.equal(origin.requests.length, seen);
});

test("a test key against a deployment that serves only live names the mismatch", async () => {
  const data = await issue(worker, { environment: "test" });
  assert.match(data.key, /^sk_test_/);
  const res = await worker.fetch("/v1/orders", { headers: bearer(data.key) });
  assert.equal(res.status, 401);
  const err = await errorOf(res);
  assert.equal(err.code, "invalid_api_key");
  assert.match(err.message, /test key/);
  assert.match(err.message, /live/);
});

test("whoami describes the key without consuming quota", async () => {
  const data = await issue(worker, { name: "who", rate_limits: { per_minute: 7 } });
  await awayFromMinuteEdge(3_000);
  await worker.fetch("/x", { headers: bearer(data.key) });
  for (let i = 0; i < 2; i++) {
    const res = await worker.fetch("/_keygate/v1/whoami", { headers: { "x-api-key": data.key } });
    assert.equal(res.status, 200);
    const me = (await res.json()).data;
    assert.equal(me.id, data.id);
    assert.equal(me.name, "who");
    assert.equal(me.environment, "live");
    assert.equal(me.type, "secret");
    assert.equal(me.display, data.display);
    assert.deepEqual(me.rate_limits, { per_minute: 7, per_day: 10000 });
    assert.equal(me.ratelimit.limit, 7);
    assert.equal(me.ratelimit.remaining, 6);
  }
  const bad = await worker.fetch("/_keygate/v1/whoami", { headers: bearer("sk_live_nope") });
  assert.equal(bad.status, 401);
});

test("origin down: 502, and the admitted request was counted", async () => {
  const dead = await startWorker({ vars: { ORIGIN_LIVE: "http://127.0.0.1:9" } });
  try {
    const data = await issue(dead, { rate_limits: { per_minute: 5 } });
    await awayFromMinuteEdge(3_000);
    const res = await dead.fetch("/x", { headers: bearer(data.key) });
    assert.equal(res.status, 502);
    assert.equal((await errorOf(res)).code, "bad_gateway");
    const me = await (await dead.fetch("/_keygate/v1/whoami", { headers: bearer(data.key) })).json();
    assert.equal(me.data.ratelimit.remaining, 4);
  } finally {
    await dead.dispose();
  }
});

test("keys and counters survive a restart on the same state directory", async () => {
  const dir = stateDir();
  const first = await startWorker({ vars: { ORIGIN_LIVE: origin.url }, persist: dir });
  const data = await issue(first, { rate_limits: { per_minute: 100, per_day: 4 } });
  for (let i = 0; i < 3; i++) assert.equal((await first.fetch("/x", { headers: bearer(data.key) })).status, 200);
  const revokedKey = await issue(first);
  await first.fetch(`/_keygate/v1/keys/${revokedKey.id}`, { method: "DELETE", headers: admin() });
  await first.dispose();

  const second = await startWorker({ vars: { ORIGIN_LIVE: origin.url }, persist: dir });
  try {
    const res = await second.fetch("/x", { headers: bearer(data.key) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-ratelimit-remaining"), "0", "day counter lost across restart");
    const limited = await second.fetch("/x", { headers: bearer(data.key) });
    assert.equal(limited.status, 429);
    const gone = await second.fetch("/x", { headers: bearer(revokedKey.key) });
    assert.equal(gone.status, 401);
    assert.equal((await errorOf(gone)).code, "key_revoked");
    const got = await (await second.fetch(`/_keygate/v1/keys/${data.id}`, { headers: admin() })).json();
    assert.equal(got.data.name, "test key");
    assert.ok(got.data.last_used, "last_used lost across restart");
  } finally {
    await second.dispose();
  }
});
