// Access policy on the real built Worker: scopes and hierarchical grants
// through the example route tables, key types that cannot escalate,
// admin keys, IP allowlists, environments, expiry, CORS, cost.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { admin, awayFromMinuteEdge, bearer, errorOf, issue, startOrigin, startWorker } from "./harness.mjs";

const rest = JSON.parse(readFileSync("examples/routes-rest.json", "utf8"));
const odata = JSON.parse(readFileSync("examples/routes-odata.json", "utf8"));
const ROUTES = JSON.stringify({ unmatched: "deny", routes: [...rest.routes, ...odata.routes] });

let origin;
let worker;

before(async () => {
  origin = await startOrigin();
  worker = await startWorker({
    vars: { ORIGIN_LIVE: origin.url, ORIGIN_DEV: origin.url, ENVIRONMENTS: "live,test,dev", ROUTES },
  });
});
after(async () => {
  await worker?.dispose();
  await origin?.close();
});

const call = (key, method, path, headers = {}) =>
  worker.fetch(path, { method, headers: { ...bearer(key), ...headers }, body: method === "GET" || method === "HEAD" ? undefined : "{}" });

async function expectStatus(res, status, code) {
  const text = await res.text();
  assert.equal(res.status, status, text);
  if (code) assert.equal(JSON.parse(text).error.code, code);
  return text ? JSON.parse(text) : null;
}

async function remaining(key) {
  const res = await worker.fetch("/_keygate/v1/whoami", { headers: bearer(key) });
  return (await res.json()).data.ratelimit.remaining;
}

async function create(body, headers = admin()) {
  return worker.fetch("/_keygate/v1/keys", {
    method: "POST",
    headers,
    body: JSON.stringify({ name: "k", environment: "live", ...body }),
  });
}

test("flat scopes through the REST route table, and denials cost nothing", async () => {
  const k = await issue(worker, { type: "restricted", scopes: ["orders:read"] });
  assert.match(k.key, /^rk_live_/);
  assert.deepEqual(k.scopes, ["orders:read"]);
  await expectStatus(await call(k.key, "GET", "/v1/orders"), 200);
  await expectStatus(await call(k.key, "GET", "/v1/orders/42"), 200);
  await awayFromMinuteEdge(3_000);
  const before = await remaining(k.key);
  const denied = await expectStatus(await call(k.key, "POST", "/v1/orders"), 403, "insufficient_permissions");
  assert.equal(denied.error.required, "orders:write");
  await expectStatus(await call(k.key, "GET", "/v1/assets/logo.png"), 403, "insufficient_permissions");
  await expectStatus(await call(k.key, "GET", "/v2/not-in-table"), 403, "route_not_allowed");
  assert.equal(await remaining(k.key), before, "denied requests consumed quota");
  await expectStatus(await call(k.key, "GET", "/health"), 200);
});

test("wildcard scopes", async () => {
  const k = await issue(worker, { scopes: ["read:*", "orders:*"] });
  await expectStatus(await call(k.key, "GET", "/v1/assets/a/b"), 200);
  await expectStatus(await call(k.key, "GET", "/v1/scans/1"), 200);
  await expectStatus(await call(k.key, "DELETE", "/v1/orders/1"), 200);
  await expectStatus(await call(k.key, "POST", "/v1/scans"), 403, "insufficient_permissions");
  const full = await issue(worker); // a secret key with no scopes: full access
  await expectStatus(await call(full.key, "POST", "/v1/scans"), 200);
  await expectStatus(await call(full.key, "GET", "/v2/nope"), 403, "route_not_allowed");
});

test("hierarchical permissions through the OData route table", async () => {
  const permissions = {
    production: { API_SALES_ORDER_SRV: { A_SalesOrder: ["list", "get"] } },
    sandbox: { "*": { "*": ["*"] } },
  };
  const k = await issue(worker, { type: "restricted", permissions });
  assert.deepEqual(k.permissions, permissions, "permissions are returned as given");
  const base = "/odata/production/API_SALES_ORDER_SRV/A_SalesOrder";
  await expectStatus(await call(k.key, "GET", base), 200);
  await expectStatus(await call(k.key, "GET", `${base}/1001`), 200);
  const denied = await expectStatus(await call(k.key, "PATCH", `${base}/1001`), 403, "insufficient_permissions");
  assert.equal(denied.error.required, "production/API_SALES_ORDER_SRV/A_SalesOrder:update");
  await expectStatus(await call(k.key, "GET", "/odata/production/OTHER_SRV/A_SalesOrder"), 403, "insufficient_permissions");
  await expectStatus(await call(k.key, "DELETE", "/odata/sandbox/ANY_SRV/Thing/1"), 200);
  await expectStatus(await call(k.key, "POST", "/odata/sandbox/ANY_SRV/Thing"), 200);
  await expectStatus(await call(k.key, "GET", "/odata/*/API_SALES_ORDER_SRV/A_SalesOrder"), 403, "insufficient_permissions");
});

test("invalid grant shapes are 422 naming the entry", async () => {
  const cases = [
    [{ scopes: ["has space"] }, "scopes[0]"],
    [{ permissions: { p: { s: ["get"] } } }, "permissions.p.s"],
    [{ permissions: { p: { s: { e: ["fly"] } } } }, "permissions.p.s.e[0]"],
    [{ type: "restricted" }, "scopes"],
    [{ type: "restricted", scopes: ["orders:read", "*"] }, "scopes[1]"],
    [{ type: "publishable", scopes: ["orders:write"] }, "scopes[0]"],
    [{ type: "publishable", permissions: { p: { s: { e: ["list", "delete"] } } } }, "permissions.p.s.e"],
    [{ allowed_ips: ["10.0.0.0/8", "not-an-ip"] }, "allowed_ips[1]"],
    [{ allowed_origins: ["*"] }, "allowed_origins[0]"],
  ];
  for (const [body, field] of cases) {
    const res = await create(body);
    const err = await expectStatus(res, 422, "invalid_request");
    assert.equal(err.error.field, field, JSON.stringify(body));
  }
});

test("restricted keys can never be edited into full access", async () => {
  const k = await issue(worker, { type: "restricted", scopes: ["orders:read"] });
  const patch = (body) =>
    worker.fetch(`/_keygate/v1/keys/${k.id}`, { method: "PATCH", headers: admin(), body: JSON.stringify(body) });
  await expectStatus(await patch({ scopes: ["*"] }), 422, "invalid_request");
  await expectStatus(await patch({ scopes: [], permissions: {} }), 422, "invalid_request");
  await expectStatus(await call(k.key, "POST", "/v1/orders"), 403, "insufficient_permissions");
  const got = await (await worker.fetch(`/_keygate/v1/keys/${k.id}`, { headers: admin() })).json();
  assert.deepEqual(got.data.scopes, ["orders:read"], "a refused edit changed the key");
});

test("edits apply to the very next request", async () => {
  const k = await issue(worker, { type: "restricted", scopes: ["orders:read"] });
  await expectStatus(await call(k.key, "POST", "/v1/orders"), 403, "insufficient_permissions");
  const patch = (body) =>
    worker.fetch(`/_keygate/v1/keys/${k.id}`, { method: "PATCH", headers: admin(), body: JSON.stringify(body) });
  const edited = await expectStatus(await patch({ scopes: ["orders:*"], name: "renamed" }), 200);
  assert.equal(edited.data.name, "renamed");
  assert.equal(edited.data.display, k.display, "an edit must not regenerate the key");
  await expectStatus(await call(k.key, "POST", "/v1/orders"), 200);
  await expectStatus(await patch({ allowed_ips: ["203.0.113.0/24"] }), 200);
  await expectStatus(await call(k.key, "GET", "/v1/orders", { "cf-connecting-ip": "198.51.100.1" }), 403, "ip_not_allowed");
  await expectStatus(await patch({ rate_limits: { per_minute: 50 }, allowed_ips: [] }), 200);
  const res = await call(k.key, "GET", "/v1/orders");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-ratelimit-limit"), "50");
  await res.arrayBuffer();
});

test("publishable keys: read-only, and CORS only for listed origins", async () => {
  const k = await issue(worker, { type: "publishable", allowed_origins: ["https://app.example.com"] });
  assert.match(k.key, /^pk_live_/);
  await expectStatus(await call(k.key, "POST", "/v1/orders"), 403, "insufficient_permissions");
  await expectStatus(await call(k.key, "DELETE", "/v1/orders/1"), 403, "insufficient_permissions");

  const listed = await call(k.key, "GET", "/v1/orders", { origin: "https://app.example.com" });
  assert.equal(listed.status, 200);
  assert.equal(listed.headers.get("access-control-allow-origin"), "https://app.example.com");
  assert.match(listed.headers.get("access-control-expose-headers"), /X-RateLimit-Remaining/);
  await listed.arrayBuffer();
  const other = await call(k.key, "GET", "/v1/orders", { origin: "https://evil.example.com" });
  assert.equal(other.status, 200);
  assert.equal(other.headers.get("access-control-allow-origin"), null);
  await other.arrayBuffer();

  const pre = await worker.fetch("/v1/orders", {
    method: "OPTIONS",
    headers: {
      origin: "https://app.example.com",
      "access-control-request-method": "GET",
      "access-control-request-headers": "x-api-key",
    },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "https://app.example.com");
  assert.equal(pre.headers.get("access-control-allow-headers"), "x-api-key");
});

test("admin keys may only grant subsets of what they hold, never admin", async () => {
  const boss = await issue(worker, { name: "ops bot", scopes: ["admin", "orders:*"] });
  const as = { authorization: `Bearer ${boss.key}`, "content-type": "application/json" };
  const ok = await create({ type: "restricted", scopes: ["orders:read"] }, as);
  const child = (await expectStatus(ok, 201)).data;
  await expectStatus(await create({ scopes: ["users:read"] }, as), 403, "insufficient_permissions");
  await expectStatus(await create({ scopes: ["admin"] }, as), 403, "insufficient_permissions");
  await expectStatus(await create({}, as), 403, "insufficient_permissions"); // full access
  const patch = (id, body) =>
    worker.fetch(`/_keygate/v1/keys/${id}`, { method: "PATCH", headers: as, body: JSON.stringify(body) });
  await expectStatus(await patch(child.id, { scopes: ["users:read"] }), 403, "insufficient_permissions");
  await expectStatus(await patch(child.id, { scopes: ["orders:write"] }), 200);

  const plain = await issue(worker, { scopes: ["orders:*"] });
  const noAdmin = await create({ type: "restricted", scopes: ["orders:read"] }, { authorization: `Bearer ${plain.key}` });
  await expectStatus(noAdmin, 403, "insufficient_permissions");
  // The token may grant admin.
  await expectStatus(await create({ scopes: ["admin"] }), 201);
});

test("IP allowlists, IPv4 and IPv6", async () => {
  const k = await issue(worker, { allowed_ips: ["198.51.100.0/24", "203.0.113.7", "2001:db8::/32"] });
  assert.deepEqual(k.allowed_ips, ["198.51.100.0/24", "203.0.113.7", "2001:db8::/32"]);
  const from = (ip) => call(k.key, "GET", "/v1/orders", { "cf-connecting-ip": ip });
  await expectStatus(await from("198.51.100.42"), 200);
  await expectStatus(await from("203.0.113.7"), 200);
  await expectStatus(await from("2001:db8:abcd::1"), 200);
  await expectStatus(await from("203.0.113.8"), 403, "ip_not_allowed");
  await expectStatus(await from("2001:db9::1"), 403, "ip_not_allowed");
  await expectStatus(await from("garbage"), 403, "ip_not_allowed");
});

test("environments are configured, each with its origin", async () => {
  const dev = await issue(worker, { environment: "dev" });
  assert.match(dev.key, /^sk_dev_/);
  const seen = origin.requests.length;
  await expectStatus(await call(dev.key, "GET", "/v1/orders"), 200);
  assert.equal(origin.requests[seen].headers["x-keygate-environment"], "dev");
  const test = await issue(worker, { environment: "test" });
  const err = await expectStatus(await call(test.key, "GET", "/v1/orders"), 401, "invalid_api_key");
  assert.match(err.error.message, /test key/);
  await expectStatus(await create({ environment: "staging" }), 422, "invalid_request");
});

test("expiry: warning header within 7 days, then key_expired", async () => {
  const soon = new Date(Date.now() + 2500).toISOString();
  const k = await issue(worker, { expires_at: soon });
  const res = await call(k.key, "GET", "/v1/orders");
  assert.equal(res.status, 200);
  assert.ok(res.headers.get("x-keygate-key-expires"), "no expiry warning");
  await res.arrayBuffer();
  const later = await issue(worker, { expires_at: new Date(Date.now() + 30 * 86400e3).toISOString() });
  const quiet = await call(later.key, "GET", "/v1/orders");
  assert.equal(quiet.headers.get("x-keygate-key-expires"), null);
  await quiet.arrayBuffer();
  await new Promise((r) => setTimeout(r, 3000));
  await expectStatus(await call(k.key, "GET", "/v1/orders"), 401, "key_expired");
  const got = await (await worker.fetch(`/_keygate/v1/keys/${k.id}`, { headers: admin() })).json();
  assert.equal(got.data.status, "expired");
});

test("a route's cost is what the limiter consumes", async () => {
  const k = await issue(worker, { rate_limits: { per_minute: 12 } });
  await awayFromMinuteEdge(3_000);
  const res = await call(k.key, "POST", "/v1/scans");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-ratelimit-remaining"), "7");
  await res.arrayBuffer();
  await expectStatus(await call(k.key, "POST", "/v1/scans"), 200);
  await expectStatus(await call(k.key, "POST", "/v1/scans"), 429, "rate_limited");
  await expectStatus(await call(k.key, "GET", "/v1/orders"), 200);
});
