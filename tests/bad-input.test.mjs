// Bad input on the real built Worker (issue 10's findings): values that could
// brick a key, methods the runtime does not know, GET with a body, browser
// pages reading refusals, 405 with Allow, strict nulls, impossible costs,
// a slow origin.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFileSync } from "node:fs";
import { admin, awayFromMinuteEdge, bearer, chunkedUpload, issue, startOrigin, startWorker } from "./harness.mjs";

const ROUTES = readFileSync("examples/routes-rest.json", "utf8");

let origin;
let worker; // the REST route table
let open; // no route table: every path open to any valid key

before(async () => {
  origin = await startOrigin({ headers: { "access-control-allow-origin": "*" } });
  worker = await startWorker({ vars: { ORIGIN_LIVE: origin.url, ROUTES } });
  open = await startWorker({ vars: { ORIGIN_LIVE: origin.url } });
});
after(async () => {
  await worker?.dispose();
  await open?.dispose();
  await origin?.close();
});

async function expectStatus(res, status, code) {
  const text = await res.text();
  assert.equal(res.status, status, text);
  if (code) assert.equal(JSON.parse(text).error.code, code, text);
  return text ? JSON.parse(text) : null;
}

const adminCall = (w, path, method = "GET", body) =>
  w.fetch(`/_keygate/v1${path}`, { method, headers: admin(), body: body === undefined ? undefined : JSON.stringify(body) });

async function remaining(w, key) {
  return (await (await w.fetch("/_keygate/v1/whoami", { headers: bearer(key) })).json()).data.ratelimit.remaining;
}

test("no accepted value can brick a key: huge grace periods and far expiries are 422, and every route keeps answering", async () => {
  const k = await issue(worker);
  const before = await expectStatus(await adminCall(worker, `/keys/${k.id}`), 200);
  const bad = await expectStatus(await adminCall(worker, `/keys/${k.id}/rotate`, "POST", { expire_previous_in_seconds: 300000000000 }), 422, "invalid_request");
  assert.equal(bad.error.field, "expire_previous_in_seconds");
  for (const expires_at of ["9999-12-31T23:59:59-23:59", "10000-01-01T00:00:00Z"]) {
    const res = await expectStatus(await adminCall(worker, `/keys/${k.id}`, "PATCH", { expires_at }), 422, "invalid_request");
    assert.equal(res.error.field, "expires_at");
  }
  // The longest accepted values still read back everywhere.
  await expectStatus(await adminCall(worker, `/keys/${k.id}`, "PATCH", { expires_at: "9999-12-31T23:59:59Z", rate_limits: { per_minute: 4294967295, per_day: 4294967295 } }), 200);
  await expectStatus(await adminCall(worker, `/keys/${k.id}/rotate`, "POST", { expire_previous_in_seconds: 31536000 }), 200);
  const after = await expectStatus(await adminCall(worker, `/keys/${k.id}`), 200);
  assert.equal(after.data.id, before.data.id);
  assert.equal(after.data.previous_secrets.length, 1);
  await expectStatus(await adminCall(worker, `/keys/${k.id}`, "PATCH", { name: "still editable" }), 200);
  await expectStatus(await adminCall(worker, `/keys/${k.id}/audit`), 200);
  await expectStatus(await worker.fetch("/health", { headers: bearer(k.key) }), 200);
  await expectStatus(await adminCall(worker, `/keys/${k.id}`, "DELETE"), 200);
  await expectStatus(await worker.fetch("/health", { headers: bearer(k.key) }), 401, "key_revoked");
  const listed = await expectStatus(await adminCall(worker, `/keys?status=revoked&q=${k.id}`), 200);
  assert.deepEqual(listed.data.map((v) => [v.id, v.status]), [[k.id, "revoked"]]);
});

test("methods the runtime does not know are judged as themselves and forwarded unchanged", async () => {
  // Admin API: 405 with Allow, never the GET answer.
  const query = await adminCall(worker, "/keys", "QUERY");
  await expectStatus(query, 405, "method_not_allowed");
  assert.equal(query.headers.get("allow"), "GET, POST");
  // Route table: MOVE is not GET, so an orders:read key is not let through.
  const reader = await issue(worker, { type: "restricted", scopes: ["orders:read"] });
  await awayFromMinuteEdge(5_000);
  const left = await remaining(worker, reader.key);
  for (const method of ["MOVE", "PURGE", "MKCOL", "PROPFIND", "LOCK", "SEARCH"]) {
    await expectStatus(await worker.fetch("/v1/orders/1", { method, headers: bearer(reader.key) }), 403, "route_not_allowed");
  }
  assert.equal(await remaining(worker, reader.key), left, "refused methods spent nothing");
  // A publishable key only reads, whatever the method is called.
  const pk = await issue(open, { type: "publishable" });
  for (const method of ["PURGE", "PROPFIND", "SEARCH"]) {
    await expectStatus(await open.fetch("/x", { method, headers: bearer(pk.key) }), 403, "insufficient_permissions");
  }
  // A secret key's PROPFIND reaches the origin as PROPFIND.
  const sk = await issue(open);
  const seen = origin.requests.length;
  await expectStatus(await open.fetch("/dav/x", { method: "PROPFIND", headers: bearer(sk.key), body: "<propfind/>" }), 200);
  assert.equal(origin.requests.length, seen + 1);
  assert.equal(origin.requests.at(-1).method, "PROPFIND");
  assert.equal(origin.requests.at(-1).body, "<propfind/>");
});

/** A raw HTTP request to the Worker (for what fetch() refuses to send). */
function raw(w, { method, path, headers = {}, body }) {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, w.url), { method, headers }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

test("a GET with a body is refused with 400 before anything is counted", async () => {
  const k = await issue(open);
  await awayFromMinuteEdge(5_000);
  const left = await remaining(open, k.key);
  const seen = origin.requests.length;
  const res = await raw(open, { method: "GET", path: "/x", headers: { ...bearer(k.key), "content-type": "application/json", "content-length": "7" }, body: '{"q":1}' });
  assert.equal(res.status, 400, res.text);
  assert.equal(JSON.parse(res.text).error.code, "body_not_allowed");
  assert.equal(await remaining(open, k.key), left);
  assert.equal(origin.requests.length, seen);
});

test("a browser page on a listed origin can read refusals; other pages read nothing", async () => {
  const app = "https://app.example.com";
  const pk = await issue(open, { type: "publishable", allowed_origins: [app], rate_limits: { per_minute: 1 } });
  await awayFromMinuteEdge(5_000);
  const ok = await open.fetch("/x", { headers: { ...bearer(pk.key), origin: app } });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("access-control-allow-origin"), app, "the origin's own `*` is replaced by keygate's decision");
  await ok.arrayBuffer();
  const limited = await open.fetch("/x", { headers: { ...bearer(pk.key), origin: app } });
  const body = await expectStatus(limited, 429, "rate_limited");
  assert.ok(body.error.retry_after >= 1);
  assert.equal(limited.headers.get("access-control-allow-origin"), app);
  assert.match(limited.headers.get("access-control-expose-headers"), /Retry-After/);
  assert.ok(Number(limited.headers.get("retry-after")) >= 1);
  const write = await open.fetch("/x", { method: "POST", headers: { ...bearer(pk.key), origin: app } });
  await expectStatus(write, 403, "insufficient_permissions");
  assert.equal(write.headers.get("access-control-allow-origin"), app);
  const elsewhere = await open.fetch("/x", { headers: { ...bearer(pk.key), origin: "https://evil.example" } });
  await expectStatus(elsewhere, 429);
  assert.equal(elsewhere.headers.get("access-control-allow-origin"), null);
  const unknown = await open.fetch("/x", { headers: { ...bearer("pk_live_" + "A".repeat(38)), origin: app } });
  await expectStatus(unknown, 401);
  assert.equal(unknown.headers.get("access-control-allow-origin"), null, "nothing for a key that is not identified");
  await expectStatus(await adminCall(open, `/keys/${pk.id}`, "DELETE"), 200);
  const revoked = await open.fetch("/x", { headers: { ...bearer(pk.key), origin: app } });
  await expectStatus(revoked, 401, "key_revoked");
  assert.equal(revoked.headers.get("access-control-allow-origin"), app);
});

test("every 405 says what is allowed", async () => {
  for (const [method, path, allow] of [
    ["PUT", "/keys", "GET, POST"],
    ["GET", "/verify", "POST"],
    ["DELETE", "/whoami", "GET"],
    ["GET", "/keys/revoke-leaked", "POST"],
    ["POST", "/keys/key_AAAAAAAAAAAAAAAA", "GET, PATCH, DELETE"],
    ["GET", "/keys/key_AAAAAAAAAAAAAAAA/rotate", "POST"],
    ["POST", "/keys/key_AAAAAAAAAAAAAAAA/audit", "GET"],
  ]) {
    const res = await adminCall(worker, path, method);
    await expectStatus(res, 405, "method_not_allowed");
    assert.equal(res.headers.get("allow"), allow, `${method} ${path}`);
  }
});

test("null is refused where the document does not allow it", async () => {
  const k = await issue(worker);
  const cases = [
    ["/keys", "POST", { name: "n", environment: "live", rate_limits: { per_minute: null } }, "rate_limits.per_minute"],
    ["/keys", "POST", { name: "n", environment: "live", owner_id: null }, "owner_id"],
    [`/keys/${k.id}`, "PATCH", { rate_limits: { per_day: null } }, "rate_limits.per_day"],
    [`/keys/${k.id}`, "PATCH", { scopes: null }, "scopes"],
    [`/keys/${k.id}/rotate`, "POST", { expire_previous_in_seconds: null }, "expire_previous_in_seconds"],
    ["/keys/revoke-leaked", "POST", { keys: [k.key], source: null }, "source"],
    ["/verify", "POST", { key: k.key, permission: null }, "permission"],
    ["/verify", "POST", { key: k.key, ip: null }, "ip"],
    ["/verify", "POST", { key: k.key, cost: null }, "cost"],
  ];
  for (const [path, method, body, field] of cases) {
    const res = await expectStatus(await adminCall(worker, path, method, body), 422, "invalid_request");
    assert.equal(res.error.field, field, `${method} ${path} ${JSON.stringify(body)}`);
  }
  assert.equal((await expectStatus(await adminCall(worker, `/keys/${k.id}`), 200)).data.status, "active");
});

test("integer fields take integer-valued numbers as JSON Schema does", async () => {
  const res = await worker.fetch("/_keygate/v1/keys", { method: "POST", headers: admin(), body: '{"name":"f","environment":"live","rate_limits":{"per_minute":2980.0}}' });
  const body = await expectStatus(res, 201);
  assert.equal(body.data.rate_limits.per_minute, 2980);
  const half = await worker.fetch("/_keygate/v1/keys", { method: "POST", headers: admin(), body: '{"name":"f","environment":"live","rate_limits":{"per_minute":2980.5}}' });
  assert.equal((await expectStatus(half, 422, "invalid_request")).error.field, "rate_limits.per_minute");
});

test("a route that costs more than the key's limit says it can never pass", async () => {
  const k = await issue(worker, { scopes: ["write:scans"], rate_limits: { per_minute: 3 } });
  const res = await expectStatus(await worker.fetch("/v1/scans", { method: "POST", headers: bearer(k.key), body: "{}" }), 403, "cost_exceeds_limit");
  assert.match(res.error.message, /costs 5 units/);
  assert.equal(res.error.retry_after, undefined);
});

test("a slow origin is answered 504 at ORIGIN_TIMEOUT_MS", async () => {
  const slow = await startOrigin({ delayMs: 3_000 });
  const w = await startWorker({ vars: { ORIGIN_LIVE: slow.url, ORIGIN_TIMEOUT_MS: "500" } });
  try {
    const k = await issue(w);
    const started = Date.now();
    await expectStatus(await w.fetch("/slow", { headers: bearer(k.key) }), 504, "gateway_timeout");
    assert.ok(Date.now() - started < 2_500, "answered at the timeout, not when the origin finally answered");
  } finally {
    await w.dispose();
    await slow.close();
  }
});

test("a 50 MiB chunked upload is cut at MAX_BODY_BYTES with 413; the origin never gets more", async () => {
  const sink = await startOrigin();
  const cap = 1 << 20;
  const w = await startWorker({ vars: { ORIGIN_LIVE: sink.url, MAX_BODY_BYTES: String(cap) } });
  try {
    const k = await issue(w);
    // 800 chunks of 64 KiB.
    const res = await chunkedUpload(w, { headers: bearer(k.key), bytes: 50 * (1 << 20) });
    assert.equal(res.status, 413, res.text);
    assert.equal(JSON.parse(res.text).error.code, "payload_too_large");
    assert.ok(sink.stats.bytesReceived <= cap, `origin got ${sink.stats.bytesReceived} bytes`);
    // The admin API reads at most 16 KiB of a chunked body.
    const big = await raw(w, {
      method: "POST",
      path: "/_keygate/v1/keys",
      headers: { ...admin(), "transfer-encoding": "chunked" },
      body: JSON.stringify({ name: "x".repeat(64 * 1024), environment: "live" }),
    });
    assert.equal(big.status, 413, big.text);
  } finally {
    await w.dispose();
    await sink.close();
  }
});
