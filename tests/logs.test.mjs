// Structured logs (src/log.rs): one JSON line per API request with a key —
// admitted (finished by the forwarding step with the origin's status) or
// refused by the key — one line of counts per isolate batch for requests
// refused before any key (a flood makes few lines), and one per admin
// action; never a key, hash or token; LOGS=off silences request lines,
// not admin ones.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ADMIN_TOKEN, admin, awayFromMinuteEdge, bearer, chunkedUpload, issue, logLines, startOrigin, startWorker } from "./harness.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const FLUSH_MS = 5_000;

test("every request and admin action is one JSON line with its outcome, status, key and latency", async () => {
  const origin = await startOrigin();
  const worker = await startWorker({ vars: { ORIGIN_LIVE: origin.url, ADMISSION: "exact" } });
  try {
    const key = await issue(worker, { owner_id: "cus_log", allowed_ips: ["198.51.100.0/24"] });
    const call = (headers, ray) =>
      worker.fetch("/v1/orders?secret=q", { headers: { ...headers, "cf-ray": ray }, cf: { country: "NL" } }).then((r) => r.status);
    const statuses = [
      await call({ ...bearer(key.key), "cf-connecting-ip": "198.51.100.7" }, "ray-ok"),
      await call({ ...bearer(key.key), "cf-connecting-ip": "203.0.113.9" }, "ray-ip"),
      await call(bearer("sk_live_garbage"), "ray-bad"),
      await call({}, "ray-none"),
    ];
    assert.deepEqual(statuses, [200, 403, 401, 401]);
    const denied = await worker.fetch("/_keygate/v1/keys", { headers: { authorization: "Bearer wrong-token-000000000000" } });
    assert.equal(denied.status, 401);
    // Refusals before any key are logged as counts when the isolate's batch goes out.
    await sleep(FLUSH_MS + 1_000);
    const lines = logLines(worker);
    const byRay = Object.fromEntries(lines.filter((l) => l.log === "request").map((l) => [l.request_id, l]));
    const ok = byRay["ray-ok"];
    assert.equal(ok.outcome, "valid");
    assert.equal(ok.status, 200);
    assert.equal(ok.key_id, key.id);
    assert.equal(ok.owner_id, "cus_log");
    assert.equal(ok.cost, 1);
    assert.equal(ok.object_called, true, "exact admission: the key's object decided");
    assert.equal(ok.method, "GET");
    assert.equal(ok.path, "/v1/orders", "the query is left out");
    assert.equal(ok.country, "NL");
    assert.ok(Number.isInteger(ok.latency_ms) && ok.latency_ms >= 0, JSON.stringify(ok));
    assert.match(ok.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(
      [byRay["ray-ip"].outcome, byRay["ray-ip"].status, byRay["ray-ip"].key_id, byRay["ray-ip"].cost, byRay["ray-ip"].object_called],
      ["ip_not_allowed", 403, key.id, 0, true],
    );
    assert.equal(byRay["ray-bad"], undefined, "no line per garbage key");
    assert.equal(byRay["ray-none"], undefined);
    const counted = lines.filter((l) => l.log === "refused_before_key");
    assert.equal(counted.length, 1, JSON.stringify(counted));
    assert.deepEqual(counted[0].counts, { invalid_api_key: 1, missing_api_key: 1 });
    const adminLines = lines.filter((l) => l.log === "admin");
    const created = adminLines.find((l) => l.action === "createKey" && l.outcome === "ok");
    assert.deepEqual([created.actor, created.status], ["admin_token", 201]);
    const refused = adminLines.find((l) => l.action === "listKeys");
    assert.deepEqual([refused.actor, refused.outcome, refused.status], [null, "unauthorized", 401]);
    const text = worker.logs.join("");
    for (const secret of [key.key, ADMIN_TOKEN, "secret=q"]) assert.ok(!text.includes(secret), `leaked: ${secret.slice(0, 10)}`);
  } finally {
    await worker.dispose();
    await origin.close();
  }
});

test("a hot key's leased requests are logged with no object call; LOGS=off keeps only admin lines", async () => {
  const origin = await startOrigin();
  let worker = await startWorker({ vars: { ORIGIN_LIVE: origin.url } });
  try {
    const key = await issue(worker, { rate_limits: { per_minute: 1000 } });
    for (let i = 0; i < 40; i++) assert.equal((await worker.fetch("/v1/orders", { headers: bearer(key.key) })).status, 200);
    await sleep(200);
    const requests = logLines(worker).filter((l) => l.log === "request");
    assert.equal(requests.length, 40);
    assert.ok(requests.every((l) => l.outcome === "valid" && l.status === 200 && l.key_id === key.id));
    const local = requests.filter((l) => !l.object_called).length;
    assert.ok(local > 20, `leased requests logged as decided here: ${local} of 40`);
    await worker.dispose();

    worker = await startWorker({ vars: { ORIGIN_LIVE: origin.url, LOGS: "off" } });
    const quiet = await issue(worker);
    assert.equal((await worker.fetch("/v1/orders", { headers: bearer(quiet.key) })).status, 200);
    assert.equal((await worker.fetch("/v1/orders", { headers: bearer("sk_live_garbage") })).status, 401);
    await sleep(FLUSH_MS + 1_000);
    const kinds = logLines(worker).map((l) => l.log);
    assert.ok(kinds.includes("admin"), "admin actions are always logged");
    assert.ok(!kinds.includes("request") && !kinds.includes("refused_before_key"), `LOGS=off: ${kinds}`);
  } finally {
    await worker.dispose();
    await origin.close();
  }
});

test("an origin that answers after the timeout is logged once, with the 504 the client got", async () => {
  const origin = await startOrigin({ delayMs: 1_500 });
  const worker = await startWorker({ vars: { ORIGIN_LIVE: origin.url, ORIGIN_TIMEOUT_MS: "500" } });
  try {
    const key = await issue(worker);
    const res = await worker.fetch("/v1/orders", { headers: { ...bearer(key.key), "cf-ray": "ray-slow" } });
    assert.equal(res.status, 504);
    // The origin's late answer arrives while the invocation is still alive.
    await sleep(2_000);
    const lines = logLines(worker).filter((l) => l.request_id === "ray-slow");
    assert.equal(lines.length, 1, JSON.stringify(lines));
    assert.deepEqual([lines[0].outcome, lines[0].status], ["valid", 504]);
  } finally {
    await worker.dispose();
    await origin.close();
  }
});

test("whatever answers a request, it is finished once: one line, counted in one place", async () => {
  const origin = await startOrigin();
  // Nothing listens on port 9: the test environment's origin fails (502).
  const vars = { ORIGIN_LIVE: origin.url, ORIGIN_TEST: "http://127.0.0.1:9", MAX_BODY_BYTES: "65536" };
  const worker = await startWorker({ vars });
  try {
    const send = (ray, headers = {}, init = {}) =>
      worker.fetch("/v1/orders", { ...init, headers: { ...headers, "cf-ray": ray } }).then((r) => r.status);
    const leased = await issue(worker, { rate_limits: { per_minute: 2 } });
    const gone = await issue(worker);
    assert.equal((await worker.fetch(`/_keygate/v1/keys/${gone.id}`, { method: "DELETE", headers: admin() })).status, 200);
    const failing = await issue(worker, { environment: "test" });
    await awayFromMinuteEdge();
    const statuses = {
      "ray-l1": await send("ray-l1", bearer(leased.key)),
      "ray-l2": await send("ray-l2", bearer(leased.key)),
      "ray-l3": await send("ray-l3", bearer(leased.key)),
      "ray-revoked": await send("ray-revoked", bearer(gone.key)),
      "ray-502": await send("ray-502", bearer(failing.key)),
      "ray-preflight": await send("ray-preflight", { origin: "https://app.example.com", "access-control-request-method": "GET" }, { method: "OPTIONS" }),
      "ray-garbage": await send("ray-garbage", bearer("sk_live_garbage")),
    };
    assert.deepEqual(statuses, {
      "ray-l1": 200,
      "ray-l2": 200,
      "ray-l3": 429,
      "ray-revoked": 401,
      "ray-502": 502,
      "ray-preflight": 204,
      "ray-garbage": 401,
    });
    await sleep(FLUSH_MS + 1_000);
    const lines = logLines(worker).filter((l) => l.log === "request");
    const byRay = {};
    for (const line of lines) (byRay[line.request_id] ??= []).push(line);
    for (const ray of ["ray-l1", "ray-l2", "ray-l3", "ray-revoked", "ray-502"]) {
      assert.equal(byRay[ray]?.length, 1, `${ray}: ${JSON.stringify(byRay[ray])}`);
      assert.equal(byRay[ray][0].status, statuses[ray], ray);
    }
    assert.deepEqual([byRay["ray-l3"][0].outcome, byRay["ray-l3"][0].key_id], ["rate_limited", leased.id]);
    const revoked = byRay["ray-revoked"][0];
    assert.deepEqual([revoked.outcome, revoked.key_id, revoked.object_called], ["key_revoked", gone.id, false], "KV's entry refused it");
    assert.deepEqual([byRay["ray-502"][0].outcome, byRay["ray-502"][0].key_id], ["valid", failing.id]);
    assert.equal(byRay["ray-preflight"], undefined, "a preflight grants nothing and is not logged");
    assert.equal(byRay["ray-garbage"], undefined, "counted with the batch, not a line");
    const usage = await (await worker.fetch("/_keygate/v1/usage?granularity=minute", { headers: admin() })).json();
    const totals = Object.fromEntries(Object.entries(usage.data.totals).map(([o, t]) => [o, t.count]));
    assert.equal(totals.key_revoked, 1, JSON.stringify(totals));
    assert.equal(totals.invalid_api_key, 1, JSON.stringify(totals));
  } finally {
    await worker.dispose();
    await origin.close();
  }
});

test("a streamed body cut at MAX_BODY_BYTES is the key's one line (413), not also a refusal before any key", async () => {
  const origin = await startOrigin();
  const worker = await startWorker({ vars: { ORIGIN_LIVE: origin.url, MAX_BODY_BYTES: "65536" } });
  try {
    const key = await issue(worker);
    const cut = await chunkedUpload(worker, { headers: { ...bearer(key.key), "cf-ray": "ray-cut" }, bytes: 512 * 1024 });
    assert.equal(cut.status, 413, cut.text);
    await sleep(FLUSH_MS + 1_000);
    const lines = logLines(worker).filter((l) => l.request_id === "ray-cut");
    assert.equal(lines.length, 1, JSON.stringify(lines));
    assert.deepEqual([lines[0].key_id, lines[0].status], [key.id, 413]);
    assert.ok(!logLines(worker).some((l) => l.log === "refused_before_key"), "not counted again before any key");
    const usage = await (await worker.fetch("/_keygate/v1/usage?granularity=minute", { headers: admin() })).json();
    assert.equal(usage.data.totals.request_too_large, undefined, JSON.stringify(usage.data.totals));
  } finally {
    await worker.dispose();
    await origin.close();
  }
});

test("LOGS accepts json or off", async () => {
  const worker = await startWorker({ vars: { LOGS: "verbose" } });
  try {
    const res = await worker.fetch("/v1/orders", { headers: bearer("sk_live_garbage") });
    assert.equal(res.status, 500);
    assert.equal((await res.json()).error.code, "misconfigured");
  } finally {
    await worker.dispose();
  }
});

test("with an Analytics Engine dataset bound, every decision is one data point, also with LOGS=off", async () => {
  const origin = await startOrigin();
  const worker = await startWorker({ vars: { ORIGIN_LIVE: origin.url, LOGS: "off", ADMISSION: "exact" }, wrapped: true, analytics: true });
  try {
    const key = await issue(worker, { owner_id: "cus_ae" });
    const statuses = [
      (await worker.fetch("/v1/orders", { headers: bearer(key.key), cf: { country: "DE" } })).status,
      (await worker.fetch("/v1/orders", { headers: bearer("sk_live_garbage"), cf: { country: "FR" } })).status,
    ];
    assert.deepEqual(statuses, [200, 401]);
    await sleep(200);
    const points = await (await worker.fetch("/__bench/usage-points")).json();
    assert.equal(points.length, 2, JSON.stringify(points));
    const [admitted, refused] = points;
    assert.deepEqual(admitted.indexes, [key.id]);
    assert.deepEqual(admitted.blobs, [key.id, "cus_ae", "valid", "GET /v1/orders", "DE"]);
    assert.deepEqual([admitted.doubles[0], admitted.doubles[2], admitted.doubles[3]], [1, 200, 1], "cost, status, object called");
    assert.ok(admitted.doubles[1] >= 0, "latency");
    assert.deepEqual(refused.blobs, ["", "", "invalid_api_key", "GET /v1/orders", "FR"]);
    assert.deepEqual([refused.doubles[0], refused.doubles[2], refused.doubles[3]], [0, 401, 0]);
    assert.ok(!logLines(worker).some((l) => l.log === "request"), "LOGS=off still holds");
  } finally {
    await worker.dispose();
    await origin.close();
  }
});
