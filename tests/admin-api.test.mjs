// The key lifecycle API on the real built Worker: who may call it (the
// token, not an API key; closed without ADMIN_TOKEN), list, get, edit,
// rotate, leaked-key revocation, tiers, owners, verify, bad input that
// changes nothing, and crashes injected between the storage writes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { ADMIN_TOKEN, admin, awayFromMinuteEdge, bearer, errorOf, issue, startOrigin, startWorker, stateDir } from "./harness.mjs";

let origin;
let worker;

before(async () => {
  origin = await startOrigin();
  worker = await startWorker({
    vars: { ORIGIN_LIVE: origin.url, ORIGIN_TEST: origin.url, TIERS: JSON.stringify({ standard: { per_minute: 100, per_day: 50000 }, premium: { per_minute: 1000, per_day: 1000000 } }) },
  });
});
after(async () => {
  await worker?.dispose();
  await origin?.close();
});

const api = (path, init = {}) => worker.fetch(`/_keygate${path}`, { ...init, headers: { ...admin(), ...(init.headers ?? {}) } });
const json = async (res, status) => {
  const text = await res.text();
  assert.equal(res.status, status, text);
  return JSON.parse(text);
};
const list = async (query = "") => json(await api(`/v1/keys${query}`), 200);

/** An owner whose limits the bad-input test must leave untouched. */
const SNAPSHOT_OWNER = "cus_untouchable";

/** Everything stored about keys, as bytes: KV entries, the registry's view, each key's view, an owner's limits. */
async function snapshot(w = worker) {
  const kv = await w.mf.getKVNamespace("KEYS");
  const names = (await kv.list()).keys.map((k) => k.name).sort();
  const entries = await Promise.all(names.map(async (n) => [n, await kv.get(n)]));
  const listed = await (await w.fetch("/_keygate/v1/keys?per_page=100", { headers: admin() })).text();
  const ids = JSON.parse(listed).data.map((k) => k.id);
  const views = await Promise.all(ids.map(async (id) => (await w.fetch(`/_keygate/v1/keys/${id}`, { headers: admin() })).text()));
  const owner = await (await w.fetch(`/_keygate/v1/owners/${SNAPSHOT_OWNER}`, { headers: admin() })).text();
  return JSON.stringify({ entries, listed, views, owner });
}

test("a key is listed immediately after create, newest first, never with its secret", async () => {
  const a = await issue(worker, { name: "alpha list", owner_id: "cus_list" });
  const b = await issue(worker, { name: "beta list", owner_id: "cus_list", environment: "test", type: "restricted", scopes: ["x:read"] });
  const page = await list("?owner_id=cus_list");
  assert.deepEqual(page.data.map((k) => k.id), [b.id, a.id]);
  assert.deepEqual(page.meta, { per_page: 20, next_cursor: null });
  const text = JSON.stringify(page);
  for (const k of [a, b]) assert.ok(!text.includes(k.key.slice(8)), "secret in listing");
  assert.equal(page.data[1].display, a.display);
  assert.equal(page.data[1].status, "active");

  assert.deepEqual((await list("?owner_id=cus_list&environment=test")).data.map((k) => k.id), [b.id]);
  assert.deepEqual((await list("?owner_id=cus_list&type=restricted")).data.map((k) => k.id), [b.id]);
  assert.deepEqual((await list("?q=ALPHA%20LIST")).data.map((k) => k.id), [a.id]);
  const p1 = await list("?owner_id=cus_list&per_page=1");
  assert.deepEqual(p1.data.map((k) => k.id), [b.id]);
  assert.equal(typeof p1.meta.next_cursor, "string");
  const p2 = await list(`?owner_id=cus_list&per_page=1&cursor=${encodeURIComponent(p1.meta.next_cursor)}`);
  assert.deepEqual(p2.data.map((k) => k.id), [a.id]);
  assert.equal(p2.meta.next_cursor, null, "the last page says so");

  await api(`/v1/keys/${a.id}`, { method: "DELETE" });
  assert.deepEqual((await list("?owner_id=cus_list&status=revoked")).data.map((k) => k.id), [a.id]);
  assert.deepEqual((await list("?owner_id=cus_list&status=active")).data.map((k) => k.id), [b.id]);
});

test("list parameters are validated", async () => {
  for (const [q, field] of [["?page=2", "page"], ["?cursor=12", "cursor"], ["?per_page=500", "per_page"], ["?status=zombie", "status"], ["?colour=red", "colour"]]) {
    const body = await json(await api(`/v1/keys${q}`), 422);
    assert.equal(body.error.field, field);
  }
  // Page numbers are retired with a pointer to what replaced them.
  assert.match((await json(await api("/v1/keys?page=2"), 422)).error.message, /next_cursor/);
});

test("last_used shows up in listings", async () => {
  const k = await issue(worker, { name: "used one", owner_id: "cus_used" });
  assert.equal((await list("?owner_id=cus_used")).data[0].last_used, null);
  assert.equal((await worker.fetch("/x", { headers: bearer(k.key) })).status, 200);
  // It arrives with the isolate's batch: a 5 s flush, then the queue's 5 s wait.
  let seen = null;
  for (let i = 0; i < 150 && !seen; i++) {
    seen = (await list("?owner_id=cus_used")).data[0].last_used;
    if (!seen) await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(seen, "last_used never reached the registry");
  assert.ok((await json(await api(`/v1/keys/${k.id}`), 200)).data.last_used);
});

test("edit without regenerating: owner, metadata, tier, limits", async () => {
  const k = await issue(worker, { name: "tiered", tier: "standard" });
  assert.equal(k.tier, "standard");
  assert.deepEqual(k.rate_limits, { per_minute: 100, per_day: 50000 });
  const edited = await json(
    await api(`/v1/keys/${k.id}`, { method: "PATCH", body: JSON.stringify({ tier: "premium", owner_id: "cus_9", metadata: { plan: "pro" }, description: "now premium" }) }),
    200,
  );
  assert.equal(edited.data.tier, "premium");
  assert.deepEqual(edited.data.rate_limits, { per_minute: 1000, per_day: 1000000 });
  assert.equal(edited.data.display, k.display);
  const seen = origin.requests.length;
  const res = await worker.fetch("/x", { headers: bearer(k.key) });
  assert.equal(res.headers.get("x-ratelimit-limit"), "1000");
  assert.equal(origin.requests[seen].headers["x-keygate-owner-id"], "cus_9");
  const me = (await json(await worker.fetch("/_keygate/v1/whoami", { headers: bearer(k.key) }), 200)).data;
  assert.equal(me.owner_id, "cus_9");
  assert.deepEqual(me.metadata, { plan: "pro" });
  const listed = (await list("?owner_id=cus_9")).data[0];
  assert.equal(listed.description, "now premium");
  const bad = await json(await api(`/v1/keys/${k.id}`, { method: "PATCH", body: JSON.stringify({ tier: "gold" }) }), 422);
  assert.equal(bad.error.field, "tier");
});

test("rotation: new secret, same id and counters; old works until the deadline", async () => {
  const k = await issue(worker, { rate_limits: { per_minute: 10 } });
  await awayFromMinuteEdge(5_000);
  assert.equal((await worker.fetch("/x", { headers: bearer(k.key) })).status, 200);
  const rotated = await json(await api(`/v1/keys/${k.id}/rotate`, { method: "POST", body: JSON.stringify({ expire_previous_in_seconds: 2 }) }), 200);
  const fresh = rotated.data.key;
  assert.notEqual(fresh, k.key);
  assert.equal(rotated.data.id, k.id);
  assert.equal(rotated.data.previous_secrets.length, 1);
  assert.equal(rotated.data.previous_secrets[0].display, k.display);

  const viaNew = await worker.fetch("/x", { headers: bearer(fresh) });
  assert.equal(viaNew.headers.get("x-ratelimit-remaining"), "8", "counters must be shared");
  const viaOld = await worker.fetch("/x", { headers: bearer(k.key) });
  assert.equal(viaOld.status, 200, "old secret must work during the overlap");
  assert.equal(viaOld.headers.get("x-ratelimit-remaining"), "7");
  await new Promise((r) => setTimeout(r, 2200));
  const late = await worker.fetch("/x", { headers: bearer(k.key) });
  assert.equal(late.status, 401);
  assert.equal((await errorOf(late)).code, "invalid_api_key");
  assert.equal((await worker.fetch("/x", { headers: bearer(fresh) })).status, 200);

  // 0 retires the previous secret at once; an empty body means the default (24 h).
  const again = await json(await api(`/v1/keys/${k.id}/rotate`, { method: "POST", body: JSON.stringify({ expire_previous_in_seconds: 0 }) }), 200);
  assert.equal((await worker.fetch("/x", { headers: bearer(fresh) })).status, 401);
  const third = await json(await api(`/v1/keys/${k.id}/rotate`, { method: "POST" }), 200);
  const deadline = Date.parse(third.data.previous_secrets[0].expires_at);
  assert.ok(Math.abs(deadline - Date.now() - 86400e3) < 60e3, "default overlap is 24 h");
  assert.equal((await worker.fetch("/x", { headers: bearer(again.data.key) })).status, 200);
});

test("revoke-leaked: keygate's shape and GitHub's, reporting only matches", async () => {
  const a = await issue(worker, { name: "leaky a" });
  const b = await issue(worker, { name: "leaky b" });
  const stranger = "sk_live_" + "A".repeat(38);
  const own = await json(
    await api("/v1/keys/revoke-leaked", { method: "POST", body: JSON.stringify({ keys: [stranger, a.key, "hello"], source: "https://pastebin.example/x" }) }),
    200,
  );
  assert.deepEqual(own.data, { received: 3, revoked: [{ index: 1, key_id: a.id, display: a.display }], failed: [] });
  const res = await worker.fetch("/x", { headers: bearer(a.key) });
  assert.equal(res.status, 401);
  assert.equal((await errorOf(res)).code, "key_revoked");
  const view = (await json(await api(`/v1/keys/${a.id}`), 200)).data;
  assert.equal(view.revoked_reason, "leaked: https://pastebin.example/x");

  const gh = await json(
    await api("/v1/keys/revoke-leaked", {
      method: "POST",
      body: JSON.stringify([{ token: b.key, type: "keygate_secret_key", url: "https://github.com/o/r/blob/main/.env", source: "content" }]),
    }),
    200,
  );
  assert.deepEqual(gh.data.revoked.map((r) => r.key_id), [b.id]);
  assert.equal((await worker.fetch("/x", { headers: bearer(b.key) })).status, 401);
  const viewB = (await json(await api(`/v1/keys/${b.id}`), 200)).data;
  assert.match(viewB.revoked_reason, /github\.com\/o\/r/);

  const nothing = await json(await api("/v1/keys/revoke-leaked", { method: "POST", body: JSON.stringify({ key: stranger }) }), 200);
  assert.deepEqual(nothing.data, { received: 1, revoked: [], failed: [] });
});

test("verify: the proxy's decision, counted the same way", async () => {
  const k = await issue(worker, { type: "restricted", scopes: ["orders:read"], owner_id: "cus_v", rate_limits: { per_minute: 3 }, allowed_ips: ["198.51.100.0/24"] });
  await awayFromMinuteEdge(3_000);
  const verify = async (body) => (await json(await api("/v1/verify", { method: "POST", body: JSON.stringify(body) }), 200)).data;
  const ok = await verify({ key: k.key, permission: "orders:read", ip: "198.51.100.1" });
  assert.equal(ok.valid, true);
  assert.equal(ok.key_id, k.id);
  assert.equal(ok.owner_id, "cus_v");
  assert.deepEqual(ok.scopes, ["orders:read"]);
  assert.deepEqual(ok.ratelimit.remaining, 2);
  const denied = await verify({ key: k.key, permission: "orders:write", ip: "198.51.100.1" });
  assert.deepEqual([denied.valid, denied.code, denied.required], [false, "insufficient_permissions", "orders:write"]);
  assert.equal((await verify({ key: k.key, ip: "203.0.113.1" })).code, "ip_not_allowed");
  const costly = await verify({ key: k.key, cost: 2, ip: "198.51.100.1" });
  assert.equal(costly.ratelimit.remaining, 0, "denied verifications must not count; cost must");
  const limited = await verify({ key: k.key, ip: "198.51.100.1" });
  assert.equal(limited.code, "rate_limited");
  assert.ok(limited.retry_after >= 1);
  assert.equal((await verify({ key: "garbage" })).code, "invalid_api_key");
  const bad = await json(await api("/v1/verify", { method: "POST", body: JSON.stringify({ key: k.key, permission: "not a perm" }) }), 422);
  assert.equal(bad.error.field, "permission");
});

test("bad input on every admin route changes nothing stored", async () => {
  const k = await issue(worker, { name: "untouchable", scopes: ["a:read"], owner_id: SNAPSHOT_OWNER });
  const owned = await api(`/v1/owners/${SNAPSHOT_OWNER}`, {
    method: "PUT",
    body: JSON.stringify({ rate_limits: { per_minute: 9, per_day: 99 }, credits: { remaining: 7 } }),
  });
  assert.equal(owned.status, 200);
  const before = await snapshot();
  const owner = `/v1/owners/${SNAPSHOT_OWNER}`;
  const missing = "key_0000000000000000";
  const big = JSON.stringify({ name: "x".repeat(17000) });
  const cases = [
    ["POST", "/v1/keys", "{nope", 400],
    ["POST", "/v1/keys", JSON.stringify({ name: "a", environment: "live", colour: "red" }), 422],
    ["POST", "/v1/keys", JSON.stringify({ name: 5, environment: "live" }), 422],
    ["POST", "/v1/keys", big, 413],
    ["PATCH", `/v1/keys/${k.id}`, "{nope", 400],
    ["PATCH", `/v1/keys/${k.id}`, JSON.stringify({ colour: "red" }), 422],
    ["PATCH", `/v1/keys/${k.id}`, JSON.stringify({ rate_limits: { per_minute: -1 } }), 422],
    ["PATCH", `/v1/keys/${k.id}`, JSON.stringify({ expires_at: "2001-01-01T00:00:00Z" }), 422],
    ["PATCH", `/v1/keys/${k.id}`, JSON.stringify({ allowed_ips: ["nope"] }), 422],
    ["PATCH", `/v1/keys/${k.id}`, big, 413],
    ["PATCH", `/v1/keys/${missing}`, JSON.stringify({ name: "b" }), 404],
    ["GET", `/v1/keys/${missing}`, undefined, 404],
    ["DELETE", `/v1/keys/${missing}`, undefined, 404],
    ["POST", `/v1/keys/${k.id}/rotate`, "{nope", 400],
    ["POST", `/v1/keys/${k.id}/rotate`, JSON.stringify({ expire_previous_in_seconds: -5 }), 422],
    ["POST", `/v1/keys/${k.id}/rotate`, JSON.stringify({ grace: 5 }), 422],
    ["POST", `/v1/keys/${missing}/rotate`, "{}", 404],
    ["POST", "/v1/keys/revoke-leaked", "{nope", 400],
    ["POST", "/v1/keys/revoke-leaked", JSON.stringify({ tokens: ["x"] }), 422],
    ["POST", "/v1/keys/revoke-leaked", big, 413],
    ["POST", "/v1/verify", "{nope", 400],
    ["POST", "/v1/verify", JSON.stringify({ key: k.key, cost: 0 }), 422],
    ["POST", "/v1/verify", big, 413],
    ["GET", "/v1/keys?per_page=0", undefined, 422],
    ["PUT", `/v1/keys/${k.id}`, "{}", 405],
    ["PUT", owner, "{nope", 400],
    ["PUT", owner, "{}", 422],
    ["PUT", owner, JSON.stringify({ rate_limits: { per_minute: 0, per_day: 1 } }), 422],
    ["PUT", owner, JSON.stringify({ rate_limits: null, credits: null }), 422],
    ["PUT", owner, JSON.stringify({ limits: [{ name: "Bad Name", limit: 1, window_seconds: 1 }] }), 422],
    ["PUT", owner, JSON.stringify({ credits: { remaining: 1, refill: { amount: 1, interval: "monthly", day_of_month: 32 } } }), 422],
    ["PUT", owner, JSON.stringify({ credits: { remaining: 1 }, colour: "red" }), 422],
    ["PUT", owner, big, 413],
    ["PUT", "/v1/owners/a%20b", JSON.stringify({ credits: { remaining: 1 } }), 422],
    ["DELETE", "/v1/owners/cus_nobody", undefined, 404],
    ["POST", owner, "{}", 405],
  ];
  for (const [method, path, body, status] of cases) {
    const res = await api(path, { method, body });
    const err = await errorOf(res);
    assert.equal(res.status, status, `${method} ${path} ${body?.slice(0, 60)}: ${JSON.stringify(err)}`);
  }
  assert.equal(await snapshot(), before, "a rejected request changed stored data");
});

test("the audit trail records who did what, newest first", async () => {
  const k = await issue(worker, { name: "audited" });
  await api(`/v1/keys/${k.id}`, { method: "PATCH", body: JSON.stringify({ name: "audited 2" }) }).then((r) => r.arrayBuffer());
  await api(`/v1/keys/${k.id}/rotate`, { method: "POST", body: JSON.stringify({ expire_previous_in_seconds: 0 }) }).then((r) => r.arrayBuffer());
  await api(`/v1/keys/${k.id}`, { method: "DELETE" }).then((r) => r.arrayBuffer());
  const trail = (await json(await api(`/v1/keys/${k.id}/audit`), 200)).data;
  assert.deepEqual(trail.map((e) => e.action), ["revoke", "rotate", "edit", "create"]);
  assert.ok(trail.every((e) => e.actor === "admin_token"));
  assert.match(trail[1].detail, /expires in 0s/);
  const text = JSON.stringify(trail);
  assert.ok(!text.includes(k.key.slice(8)), "a secret in the audit trail");
  await json(await api("/v1/keys/key_0000000000000000/audit"), 404);
});

test("revoking twice is an idempotent 200", async () => {
  const k = await issue(worker);
  const first = await json(await api(`/v1/keys/${k.id}`, { method: "DELETE" }), 200);
  const second = await json(await api(`/v1/keys/${k.id}`, { method: "DELETE" }), 200);
  assert.equal(second.data.revoked_at, first.data.revoked_at);
  const edit = await api(`/v1/keys/${k.id}`, { method: "PATCH", body: JSON.stringify({ name: "zombie" }) });
  assert.equal(edit.status, 401);
  assert.equal((await errorOf(edit)).code, "key_revoked");
});

test("a crash between the registry and KV leaves no usable or visible key", async () => {
  for (const fault of ["crash_after_registry", "crash_after_key_object"]) {
    const crashy = await startWorker({ vars: { ORIGIN_LIVE: origin.url, FAULTS: fault } });
    try {
      const before = await snapshot(crashy);
      const res = await crashy.fetch("/_keygate/v1/keys", {
        method: "POST",
        headers: admin(),
        body: JSON.stringify({ name: "doomed", environment: "live" }),
      });
      assert.equal(res.status, 503, fault);
      const text = await res.text();
      assert.ok(!/sk_live_/.test(text), "a secret left the Worker on a failed create");
      assert.equal(await snapshot(crashy), before, `${fault}: storage changed visibly`);
      assert.deepEqual((await (await crashy.fetch("/_keygate/v1/keys", { headers: admin() })).json()).data, []);
    } finally {
      await crashy.dispose();
    }
  }
});

test("a crash right after revocation still leaves the key revoked", async () => {
  const dir = stateDir();
  const first = await startWorker({ vars: { ORIGIN_LIVE: origin.url }, persist: dir });
  const k = await issue(first);
  assert.equal((await first.fetch("/x", { headers: bearer(k.key) })).status, 200);
  await first.dispose();
  const crashy = await startWorker({ vars: { ORIGIN_LIVE: origin.url, FAULTS: "crash_after_key_object" }, persist: dir });
  try {
    const res = await crashy.fetch(`/_keygate/v1/keys/${k.id}`, { method: "DELETE", headers: admin() });
    assert.equal(res.status, 503);
    // KV and the registry still say active, but the key object is authoritative.
    const kv = await crashy.mf.getKVNamespace("KEYS");
    const entries = await Promise.all((await kv.list()).keys.map((e) => kv.get(e.name)));
    assert.ok(entries.every((v) => !JSON.parse(v).revoked), "KV should be stale in this scenario");
    const after = await crashy.fetch("/x", { headers: bearer(k.key) });
    assert.equal(after.status, 401);
    assert.equal((await errorOf(after)).code, "key_revoked");
  } finally {
    await crashy.dispose();
  }
});

test("storage failures and timeouts fail closed with 503", async () => {
  for (const fault of ["kv_read", "key_object", "slow_key_object"]) {
    const dir = stateDir();
    const w = await startWorker({ vars: { ORIGIN_LIVE: origin.url }, persist: dir });
    const k = await issue(w);
    await w.dispose();
    const broken = await startWorker({ vars: { ORIGIN_LIVE: origin.url, FAULTS: fault }, persist: dir });
    try {
      const seen = origin.requests.length;
      const res = await broken.fetch("/x", { headers: bearer(k.key) });
      assert.equal(res.status, 503, fault);
      assert.equal((await errorOf(res)).code, "unavailable");
      assert.equal(origin.requests.length, seen, "the origin was called while state was unreachable");
    } finally {
      await broken.dispose();
    }
  }
});

test("admin routes reject a missing or wrong token", async () => {
  for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: `Basic ${ADMIN_TOKEN}` }]) {
    const res = await worker.fetch("/_keygate/v1/keys", {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ name: "x", environment: "live" }),
    });
    assert.equal(res.status, 401);
    assert.equal((await errorOf(res)).code, "unauthorized");
  }
  const kv = await worker.mf.getKVNamespace("KEYS");
  const before = (await kv.list()).keys.length;
  // An API key without `admin` is not an admin credential.
  const data = await issue(worker);
  const res = await worker.fetch("/_keygate/v1/keys", { method: "POST", headers: bearer(data.key), body: "{}" });
  assert.equal(res.status, 403);
  assert.equal((await errorOf(res)).code, "insufficient_permissions");
  assert.equal((await kv.list()).keys.length, before + 1);
});

test("admin input errors: 400, 422 naming the field, 413, 404, 405", async () => {
  const kv = await worker.mf.getKVNamespace("KEYS");
  const before = (await kv.list()).keys.length;
  const post = (body) => worker.fetch("/_keygate/v1/keys", { method: "POST", headers: admin(), body });

  const malformed = await post("{not json");
  assert.equal(malformed.status, 400);
  assert.equal((await errorOf(malformed)).code, "invalid_json");

  const cases = [
    [{ environment: "live" }, "name"],
    [{ name: "a", environment: "prod" }, "environment"],
    [{ name: "a", environment: "live", extra: 1 }, "extra"],
    [{ name: "a", environment: "live", type: "superuser" }, "type"],
    [{ name: "a", environment: "live", rate_limits: { per_minute: 0 } }, "rate_limits.per_minute"],
    [{ name: "a", environment: "live", rate_limits: { per_minute: "ten" } }, "rate_limits.per_minute"],
    [{ name: "a", environment: "live", expires_at: "2001-01-01T00:00:00Z" }, "expires_at"],
    [{ name: "a", environment: "live", expires_at: "next tuesday" }, "expires_at"],
    [{ name: "", environment: "live" }, "name"],
  ];
  for (const [body, field] of cases) {
    const res = await post(JSON.stringify(body));
    assert.equal(res.status, 422, JSON.stringify(body));
    const err = await errorOf(res);
    assert.equal(err.code, "invalid_request");
    assert.equal(err.field, field, JSON.stringify(err));
  }

  const big = await post(JSON.stringify({ name: "a", environment: "live", description: "x".repeat(20000) }));
  assert.equal(big.status, 413);
  assert.equal((await errorOf(big)).code, "payload_too_large");

  assert.equal((await kv.list()).keys.length, before, "a rejected create stored something");

  const missing = await worker.fetch("/_keygate/v1/keys/key_0000000000000000", { headers: admin() });
  assert.equal(missing.status, 404);
  assert.equal((await errorOf(missing)).code, "not_found");
  const missingRevoke = await worker.fetch("/_keygate/v1/keys/key_0000000000000000", { method: "DELETE", headers: admin() });
  assert.equal(missingRevoke.status, 404);
  const wrongMethod = await worker.fetch("/_keygate/v1/keys", { method: "PUT", headers: admin() });
  assert.equal(wrongMethod.status, 405);
  const nowhere = await worker.fetch("/_keygate/v9/nothing", { headers: admin() });
  assert.equal(nowhere.status, 404);
});

test("without ADMIN_TOKEN the admin API is closed (503), not open", async () => {
  const closed = await startWorker({ vars: { ADMIN_TOKEN: undefined, ORIGIN_LIVE: origin.url } });
  try {
    const res = await closed.fetch("/_keygate/v1/keys", {
      method: "POST",
      headers: { authorization: "Bearer ", "content-type": "application/json" },
      body: JSON.stringify({ name: "x", environment: "live" }),
    });
    assert.equal(res.status, 503);
    assert.equal((await errorOf(res)).code, "admin_disabled");
  } finally {
    await closed.dispose();
  }
});
