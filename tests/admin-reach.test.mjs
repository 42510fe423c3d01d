// An admin key's reach, attacked on the real built Worker (issue 9's findings):
// a weak admin key trying to take over, read, cut down or cross into keys outside
// its reach; the admin API without a token; ambiguous paths; spoofed
// identity headers; verify's method and environment.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { admin, bearer, errorOf, issue, startOrigin, startWorker, stateDir } from "./harness.mjs";
import { signedByKeygate } from "../examples/verify-origin.mjs";

const ORIGIN_SECRET = "origin-shared-secret-for-tests";
const ROUTES = readFileSync("examples/routes-rest.json", "utf8");

let origin;
let worker;

before(async () => {
  origin = await startOrigin();
  worker = await startWorker({ vars: { ORIGIN_LIVE: origin.url, ROUTES, ORIGIN_SECRET } });
});
after(async () => {
  await worker?.dispose();
  await origin?.close();
});

const as = (key) => ({ authorization: `Bearer ${key}`, "content-type": "application/json" });
const send = (path, method, headers, body) =>
  worker.fetch(`/_keygate/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });

async function expectStatus(res, status, code) {
  const text = await res.text();
  assert.equal(res.status, status, text);
  if (code) assert.equal(JSON.parse(text).error.code, code, text);
  return text ? JSON.parse(text) : null;
}

/** What the admin token sees of a key: the ground truth after each attack. */
async function truth(id) {
  return (await expectStatus(await send(`/keys/${id}`, "GET", admin()), 200)).data;
}

test("a weak admin key cannot take over a stronger admin key by rotating it", async () => {
  const strong = await issue(worker, { name: "root bot", scopes: ["admin", "*"] });
  const weak = await issue(worker, { name: "orders bot", type: "restricted", scopes: ["admin", "orders:read"] });
  const before = await truth(strong.id);
  await expectStatus(await send(`/keys/${strong.id}/rotate`, "POST", as(weak.key), { expire_previous_in_seconds: 0 }), 403, "insufficient_permissions");
  const after = await truth(strong.id);
  assert.equal(after.display, before.display, "the stronger key's secret is unchanged");
  assert.deepEqual(after.previous_secrets, []);
  // The owner still holds full admin power.
  await expectStatus(await send("/keys", "GET", as(strong.key)), 200);
});

test("a weak admin key cannot read, edit, revoke, audit or verify keys outside its reach", async () => {
  const strong = await issue(worker, { name: "root bot", scopes: ["admin", "*"] });
  const wider = await issue(worker, { name: "writer", type: "restricted", scopes: ["orders:write"] });
  const weak = await issue(worker, { name: "orders bot", type: "restricted", scopes: ["admin", "orders:read"] });
  for (const target of [strong, wider]) {
    await expectStatus(await send(`/keys/${target.id}`, "GET", as(weak.key)), 403, "insufficient_permissions");
    await expectStatus(await send(`/keys/${target.id}/audit`, "GET", as(weak.key)), 403, "insufficient_permissions");
    await expectStatus(await send(`/keys/${target.id}`, "PATCH", as(weak.key), { scopes: ["orders:read"] }), 403, "insufficient_permissions");
    await expectStatus(await send(`/keys/${target.id}`, "DELETE", as(weak.key)), 403, "insufficient_permissions");
    await expectStatus(await send(`/keys/${target.id}/rotate`, "POST", as(weak.key)), 403, "insufficient_permissions");
    const leaked = await expectStatus(await send("/keys/revoke-leaked", "POST", as(weak.key), { key: target.key }), 200);
    assert.deepEqual(leaked.data.revoked, []);
    assert.deepEqual(leaked.data.failed.map((f) => [f.index, f.code]), [[0, "insufficient_permissions"]]);
    const before = (await (await worker.fetch("/_keygate/v1/whoami", { headers: bearer(target.key) })).json()).data.ratelimit;
    const verified = await expectStatus(await send("/verify", "POST", as(weak.key), { key: target.key }), 200);
    assert.equal(verified.data.valid, false);
    assert.equal(verified.data.code, "insufficient_permissions");
    const after = (await (await worker.fetch("/_keygate/v1/whoami", { headers: bearer(target.key) })).json()).data.ratelimit;
    assert.equal(after.remaining, before.remaining, "a refused verify consumes nothing");
    const now = await truth(target.id);
    assert.equal(now.status, "active");
    assert.deepEqual(now.scopes, target.scopes, "nothing was edited");
  }
  // An admin key without an owner cannot mint or claim a tenant's keys.
  await expectStatus(await send("/keys", "POST", as(weak.key), { name: "n", environment: "live", type: "restricted", scopes: ["orders:read"], owner_id: "cus_victim" }), 403, "insufficient_permissions");
  // An admin key never acts on itself either: it holds `admin`.
  await expectStatus(await send(`/keys/${weak.id}`, "DELETE", as(weak.key)), 403, "insufficient_permissions");
});

test("a weak admin key fully manages the keys within its reach, and lists only those", async () => {
  const weak = await issue(worker, { name: "orders bot", type: "restricted", scopes: ["admin", "orders:*"] });
  await issue(worker, { name: "someone else's", scopes: ["read:assets"] });
  const child = (await expectStatus(await send("/keys", "POST", as(weak.key), { name: "child", environment: "live", type: "restricted", scopes: ["orders:read"] }), 201)).data;
  await expectStatus(await send(`/keys/${child.id}`, "GET", as(weak.key)), 200);
  await expectStatus(await send(`/keys/${child.id}`, "PATCH", as(weak.key), { scopes: ["orders:write"] }), 200);
  await expectStatus(await send(`/keys/${child.id}/audit`, "GET", as(weak.key)), 200);
  const rotated = (await expectStatus(await send(`/keys/${child.id}/rotate`, "POST", as(weak.key)), 200)).data;
  const verified = await expectStatus(await send("/verify", "POST", as(weak.key), { key: rotated.key }), 200);
  assert.equal(verified.data.valid, true);
  const listed = await expectStatus(await send("/keys?per_page=100", "GET", as(weak.key)), 200);
  assert.ok(listed.data.length >= 1);
  for (const k of listed.data) {
    assert.ok(!k.scopes.includes("admin"), `listed an admin key: ${k.id}`);
    assert.ok(k.scopes.length > 0 && k.scopes.every((s) => s.startsWith("orders:")), `listed a key outside reach: ${k.id} ${k.scopes}`);
  }
  assert.equal(listed.meta.next_cursor, null, "one page holds every visible key");
  const everything = await expectStatus(await send("/keys?per_page=100", "GET", admin()), 200);
  assert.ok(everything.data.length > listed.data.length, "the admin token sees more");
  await expectStatus(await send(`/keys/${child.id}`, "DELETE", as(weak.key)), 200);
});

test("a tenant's admin key is bound to its owner, environment, limits, expiry and IPs", async () => {
  const tenant = await issue(worker, {
    name: "acme admin",
    type: "restricted",
    scopes: ["admin", "orders:*"],
    owner_id: "acme",
    rate_limits: { per_minute: 50, per_day: 500 },
    expires_at: "2031-01-01T00:00:00Z",
    allowed_ips: ["198.51.100.0/24"],
  });
  const from = { ...as(tenant.key), "cf-connecting-ip": "198.51.100.7" };
  const base = { name: "k", environment: "live", type: "restricted", scopes: ["orders:read"] };
  const made = (await expectStatus(await send("/keys", "POST", from, base), 201)).data;
  assert.equal(made.owner_id, "acme", "owner forced to the actor's");
  assert.deepEqual(made.rate_limits, { per_minute: 50, per_day: 500 }, "defaults capped at the actor's");
  assert.equal(made.expires_at, "2031-01-01T00:00:00Z", "expiry inherited");
  assert.deepEqual(made.allowed_ips, ["198.51.100.0/24"], "IP allowlist inherited");
  const refused = [
    { ...base, owner_id: "globex" },
    { ...base, environment: "test" },
    { ...base, rate_limits: { per_minute: 51 } },
    { ...base, tier: "enterprise" },
    { ...base, expires_at: "2032-01-01T00:00:00Z" },
    { ...base, allowed_ips: ["0.0.0.0/0"] },
  ];
  for (const body of refused) await expectStatus(await send("/keys", "POST", from, body), 403, "insufficient_permissions");
  for (const patch of [{ owner_id: "globex" }, { owner_id: null }, { expires_at: null }, { allowed_ips: [] }, { rate_limits: { per_day: 501 } }]) {
    await expectStatus(await send(`/keys/${made.id}`, "PATCH", from, patch), 403, "insufficient_permissions");
  }
  const after = await truth(made.id);
  assert.equal(after.owner_id, "acme");
  assert.equal(after.expires_at, "2031-01-01T00:00:00Z");
  assert.deepEqual(after.allowed_ips, ["198.51.100.0/24"]);
  // Another tenant's key is out of reach, even with the same grants.
  const globex = await issue(worker, { ...base, owner_id: "globex", rate_limits: { per_minute: 5, per_day: 5 }, expires_at: "2030-01-01T00:00:00Z", allowed_ips: ["198.51.100.1"] });
  await expectStatus(await send(`/keys/${globex.id}`, "GET", from), 403, "insufficient_permissions");
  // Tightening is always allowed.
  await expectStatus(await send(`/keys/${made.id}`, "PATCH", from, { expires_at: "2030-06-01T00:00:00Z", allowed_ips: ["198.51.100.9"] }), 200);
});

test("a metered, rolling admin key with named limits cannot mint or edit keys free of them", async () => {
  const tenant = await issue(worker, {
    name: "metered admin",
    type: "restricted",
    scopes: ["admin", "orders:*"],
    owner_id: "metered",
    window: "rolling",
    limits: [{ name: "search", limit: 20, window_seconds: 60 }],
    credits: { remaining: 100, refill: { amount: 100, interval: "daily" } },
  });
  const from = as(tenant.key);
  const base = { name: "k", environment: "live", type: "restricted", scopes: ["orders:read"] };
  const metered = { ...base, credits: { remaining: 10, refill: { amount: 10, interval: "daily" } } };
  const made = (await expectStatus(await send("/keys", "POST", from, metered), 201)).data;
  assert.equal(made.window, "rolling", "window inherited");
  assert.deepEqual(made.limits, [{ name: "search", limit: 20, window_seconds: 60 }], "named limits inherited");
  for (const body of [
    base,
    { ...metered, credits: { remaining: 1_000_000 } },
    { ...metered, credits: { remaining: 1, refill: { amount: 1000, interval: "daily" } } },
    { ...metered, window: "fixed" },
    { ...metered, limits: [] },
    { ...metered, limits: [{ name: "search", limit: 21, window_seconds: 60 }] },
  ]) {
    await expectStatus(await send("/keys", "POST", from, body), 403, "insufficient_permissions");
  }
  for (const patch of [{ credits: null }, { window: "fixed" }, { limits: [] }, { credits: { remaining: 5000 } }]) {
    await expectStatus(await send(`/keys/${made.id}`, "PATCH", from, patch), 403, "insufficient_permissions");
  }
  const topUp = (amount) => send(`/keys/${made.id}/credits`, "POST", from, { op: "increment", amount });
  await expectStatus(await topUp(1_000_000), 403, "insufficient_permissions");
  await expectStatus(await topUp(5), 200);
  const after = await truth(made.id);
  assert.equal(after.window, "rolling");
  assert.equal(after.credits.remaining, 15);
});

test("the admin token can still grant admin and rotate admin keys", async () => {
  const strong = await issue(worker, { scopes: ["admin", "*"] });
  const rotated = await expectStatus(await send(`/keys/${strong.id}/rotate`, "POST", admin()), 200);
  assert.match(rotated.data.key, /^sk_live_/);
});

test("restricted keys cannot hold full access under another name", async () => {
  for (const [body, field] of [
    [{ scopes: ["orders:read", "*:*"] }, "scopes[1]"],
    [{ scopes: ["*:*:*"] }, "scopes[0]"],
    [{ permissions: { "*": { "*": { "*": ["*"] } } } }, "permissions.*.*.*"],
  ]) {
    const res = await send("/keys", "POST", admin(), { name: "r", environment: "live", type: "restricted", ...body });
    assert.equal((await expectStatus(res, 422, "invalid_request")).error.field, field);
  }
});

test("without ADMIN_TOKEN, admin keys are shut out too unless ADMIN_KEYS_WITHOUT_TOKEN=true", async () => {
  const dir = stateDir();
  const first = await startWorker({ vars: { ORIGIN_LIVE: origin.url }, persist: dir });
  let boss;
  try {
    boss = await issue(first, { scopes: ["admin", "orders:*"] });
  } finally {
    await first.dispose();
  }
  const closed = await startWorker({ vars: { ADMIN_TOKEN: undefined, ORIGIN_LIVE: origin.url }, persist: dir });
  try {
    const res = await closed.fetch("/_keygate/v1/keys", { headers: bearer(boss.key) });
    await expectStatus(res, 503, "admin_disabled");
    // The API itself keeps working.
    await expectStatus(await closed.fetch("/v1/anything", { headers: bearer(boss.key) }), 200);
  } finally {
    await closed.dispose();
  }
  const opened = await startWorker({ vars: { ADMIN_TOKEN: undefined, ADMIN_KEYS_WITHOUT_TOKEN: "true", ORIGIN_LIVE: origin.url }, persist: dir });
  try {
    await expectStatus(await opened.fetch("/_keygate/v1/keys", { headers: bearer(boss.key) }), 200);
    // There is still no token to present.
    await expectStatus(await opened.fetch("/_keygate/v1/keys", { headers: { authorization: "Bearer guess" } }), 503, "admin_disabled");
  } finally {
    await opened.dispose();
  }
});

test("ambiguous paths are refused before anything else; the origin gets exactly the judged path", async () => {
  const assets = await issue(worker, { type: "restricted", scopes: ["read:assets"] });
  const seen = origin.requests.length;
  for (const path of [
    "/v1/assets/..;/orders/42",
    "/v1/assets/logo.png;jsessionid=x",
    "/v1/assets/%2F..%2F..%2Fv1%2Forders%2F42",
    "/v1/assets/..%5C..%5Cv1%5Corders%5C42",
    "/v1/assets/%252e%252e/orders",
    "/v1/assets/%00",
  ]) {
    const res = await worker.fetch(path, { headers: bearer(assets.key) });
    const body = await res.text();
    if (path.includes("%252e")) {
      // A double-encoded dot is just a literal "%2e" segment to everyone: judged and forwarded as is.
      assert.equal(res.status, 200, body);
      continue;
    }
    assert.equal(res.status, 400, `${path}: ${body}`);
    assert.equal(JSON.parse(body).error.code, "invalid_path");
  }
  assert.equal(origin.requests.length, seen + 1, "only the unambiguous request reached the origin");
  assert.equal(origin.requests.at(-1).url, "/v1/assets/%252e%252e/orders");
  const ok = await worker.fetch("/v1/%61ssets//./logo.png?size=2", { headers: bearer(assets.key) });
  assert.equal(ok.status, 200, await ok.text());
  assert.equal(origin.requests.at(-1).url, "/v1/assets/logo.png?size=2", "the canonical path, query untouched");
  // Case matters: /V1/ORDERS matches no route, and unmatched routes are denied.
  await expectStatus(await worker.fetch("/V1/ORDERS/42", { headers: bearer(assets.key) }), 403, "route_not_allowed");
  await expectStatus(await worker.fetch("/v1/orders/42", { headers: bearer(assets.key) }), 403, "insufficient_permissions");
});

test("the origin can trust X-Keygate-* headers: client copies are dropped, and the request is signed", async () => {
  const k = await issue(worker, { owner_id: "acme", scopes: ["orders:read"] });
  const res = await worker.fetch("/v1/orders/1?expand=lines", {
    headers: {
      ...bearer(k.key),
      "x-keygate-key-id": "key_forged",
      "X-Keygate-Owner-Id": "globex",
      "x-keygate-admin": "true",
      "x-keygate-signature": "t=1,v1=" + "0".repeat(64),
      "X-HTTP-Method-Override": "DELETE",
      "x-method-override": "DELETE",
    },
  });
  assert.equal(res.status, 200, await res.text());
  const got = origin.requests.at(-1);
  assert.equal(got.headers["x-keygate-key-id"], k.id);
  assert.equal(got.headers["x-keygate-owner-id"], "acme");
  assert.equal(got.headers["x-keygate-environment"], "live");
  assert.equal(got.headers["x-keygate-admin"], undefined, "every client X-Keygate-* header is dropped");
  assert.equal(got.headers["x-http-method-override"], undefined, "method overrides never reach the origin");
  assert.equal(got.headers["x-method-override"], undefined);
  assert.ok(signedByKeygate(got, ORIGIN_SECRET), "the README's origin check accepts keygate's signature");
  assert.ok(!signedByKeygate(got, "another secret"));
  assert.ok(!signedByKeygate({ ...got, headers: { ...got.headers, "x-keygate-owner-id": "globex" } }, ORIGIN_SECRET), "a changed identity fails");
  assert.ok(!signedByKeygate({ ...got, url: "/v1/orders/2" }, ORIGIN_SECRET), "the signature is for this path only");
  assert.ok(!signedByKeygate({ ...got, method: "DELETE" }, ORIGIN_SECRET), "and this method only");
  assert.ok(!signedByKeygate(got, ORIGIN_SECRET, -1), "an old signature fails");
  // A request that bypasses keygate carries no valid signature.
  assert.ok(!signedByKeygate({ method: "GET", url: "/v1/orders/1", headers: { "x-keygate-key-id": k.id, "x-keygate-environment": "live" } }, ORIGIN_SECRET));
});

test("verify judges the method it is told and the key's environment, like the proxy", async () => {
  const pk = await issue(worker, { type: "publishable" });
  const verify = async (body) => (await expectStatus(await send("/verify", "POST", admin(), body), 200)).data;
  assert.equal((await verify({ key: pk.key })).valid, true);
  assert.equal((await verify({ key: pk.key, method: "HEAD" })).valid, true);
  const write = await verify({ key: pk.key, method: "POST" });
  assert.equal(write.valid, false);
  assert.equal(write.code, "insufficient_permissions");
  await expectStatus(await send("/verify", "POST", admin(), { key: pk.key, method: "MOVE" }), 422, "invalid_request");
  const testKey = await issue(worker, { environment: "test" });
  const elsewhere = await verify({ key: testKey.key });
  assert.equal(elsewhere.valid, false);
  assert.equal(elsewhere.code, "invalid_api_key");
  assert.match(elsewhere.message, /test key cannot be used here/);
});
