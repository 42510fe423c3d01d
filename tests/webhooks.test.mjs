// Webhooks end to end: a real receiver on 127.0.0.1 checks every delivery
// with the npm `standardwebhooks` library (not keygate's code). Every event
// type arrives once with a valid signature; a receiver that fails three
// times gets the event on the 4th attempt; one that is down for the whole
// test leaves a dead letter; expiry notices come from the scheduled
// handler; bad endpoints are refused naming the field, storing nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { Webhook } from "standardwebhooks";
import { ADMIN_TOKEN, admin, bearer, errorOf, issue, startOrigin, startWorker } from "./harness.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A webhook receiver: answers each request with `answer(n)` (n from 1), recording every request. */
async function startReceiver(answer = () => 200) {
  const received = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.statusCode = answer(received.length);
      res.end("ok");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}/hooks`;
  return { url, received, close: () => new Promise((r) => server.close(r)) };
}

/** Every request `secret` verifies, as parsed payloads; throws on any bad signature. */
function verified(receiver, secret) {
  const wh = new Webhook(secret);
  return receiver.received.map((r) => ({ ...wh.verify(r.body, r.headers), id: r.headers["webhook-id"] }));
}

async function until(what, check, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    const got = await check();
    if (got) return got;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function createWebhook(worker, body) {
  const res = await worker.fetch("/_keygate/v1/webhooks", { method: "POST", headers: admin(), body: JSON.stringify(body) });
  const json = await res.json();
  assert.equal(res.status, 201, JSON.stringify(json));
  return json.data;
}

async function deliveries(worker, id) {
  const res = await worker.fetch(`/_keygate/v1/webhooks/${id}/deliveries`, { headers: admin() });
  assert.equal(res.status, 200);
  return (await res.json()).data;
}

test("every event type arrives once, signed, and a test event on demand", async () => {
  const origin = await startOrigin();
  const receiver = await startReceiver();
  // Exact admission: every decision is the key object's, so the alerts
  // below come from known requests.
  const worker = await startWorker({ vars: { ORIGIN_LIVE: origin.url, ADMISSION: "exact" } });
  try {
    const hook = await createWebhook(worker, { url: receiver.url, description: "all events" });
    assert.match(hook.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.equal(hook.url, receiver.url);
    assert.deepEqual(hook.events, [], "no filter: every type");

    const api = (path, init = {}) => worker.fetch(`/_keygate/v1${path}`, { headers: admin(), ...init });
    const key = await issue(worker, { name: "watched", owner_id: "acme", rate_limits: { per_minute: 100, per_day: 5 } });
    assert.equal((await api(`/keys/${key.id}`, { method: "PATCH", body: JSON.stringify({ name: "watched, renamed" }) })).status, 200);
    // Day limit 5: the 4th request is 80%, the 5th 100%, the 6th and 7th refused (one alert).
    const statuses = [];
    for (let i = 0; i < 7; i++) {
      const res = await worker.fetch("/v1/orders", { headers: bearer(key.key) });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
    const rotated = await api(`/keys/${key.id}/rotate`, { method: "POST", body: JSON.stringify({ expire_previous_in_seconds: 0 }) });
    assert.equal(rotated.status, 200);
    const leaked = (await rotated.json()).data.key;
    const revoked = await issue(worker, { name: "to revoke" });
    assert.equal((await api(`/keys/${revoked.id}`, { method: "DELETE" })).status, 200);
    // Revoking again changes nothing, and tells nothing.
    assert.equal((await api(`/keys/${revoked.id}`, { method: "DELETE" })).status, 200);
    const leak = await api("/keys/revoke-leaked", { method: "POST", body: JSON.stringify({ key: leaked, source: "https://paste.example/1" }) });
    assert.equal((await leak.json()).data.revoked.length, 1);
    // Expiry: one key expiring in 6 days, one that just expired.
    const sixDays = new Date(Date.now() + 6 * 86_400_000).toISOString().replace(/\.\d+Z$/, "Z");
    const expiring = await issue(worker, { name: "expiring", expires_at: sixDays });
    const soon = new Date(Date.now() + 2_000).toISOString().replace(/\.\d+Z$/, "Z");
    const expired = await issue(worker, { name: "expired", expires_at: soon });
    await sleep(Date.parse(soon) - Date.now() + 500);
    await worker.scheduled();
    const test = await api(`/webhooks/${hook.id}/test`, { method: "POST" });
    assert.equal(test.status, 202);
    const testEvent = (await test.json()).data;

    const expected = {
      "key.created": 4,
      "key.updated": 1,
      "key.usage_threshold": 2,
      "key.rate_limited": 1,
      "key.rotated": 1,
      "key.revoked": 1,
      "key.leaked": 1,
      "key.expiring": 1,
      "key.expired": 1,
      "webhook.test": 1,
    };
    const total = Object.values(expected).reduce((a, b) => a + b);
    await until(`${total} deliveries`, () => receiver.received.length >= total);
    await sleep(1_500); // anything extra would arrive now
    const events = verified(receiver, hook.secret);
    const counts = {};
    for (const e of events) counts[e.type] = (counts[e.type] ?? 0) + 1;
    assert.deepEqual(counts, expected);
    assert.equal(new Set(events.map((e) => e.id)).size, total, "one webhook-id per event");

    const of = (type) => events.filter((e) => e.type === type).map((e) => e.data);
    assert.deepEqual(of("key.usage_threshold").map((d) => [d.key.id, d.limit, d.percent, d.used, d.of]), [
      [key.id, "day", 80, 4, 5],
      [key.id, "day", 100, 5, 5],
    ]);
    assert.deepEqual(of("key.rate_limited").map((d) => [d.key.id, d.limit]), [[key.id, "day"]]);
    assert.deepEqual(of("key.updated")[0].key, { id: key.id, name: "watched, renamed", display: key.display, owner_id: "acme", environment: "live" });
    assert.equal(of("key.leaked")[0].where, "https://paste.example/1");
    assert.equal(of("key.revoked")[0].key.id, revoked.id);
    assert.deepEqual(of("key.expiring").map((d) => [d.key.id, d.days, d.expires_at]), [[expiring.id, 7, sixDays]]);
    assert.deepEqual(of("key.expired").map((d) => d.key.id), [expired.id]);
    assert.equal(events.find((e) => e.type === "webhook.test").id, testEvent.event_id);
    // Payloads name keys, never their secrets or hashes.
    const bodies = receiver.received.map((r) => r.body).join("\n");
    for (const secret of [key.key, leaked, revoked.key, expiring.key]) assert.ok(!bodies.includes(secret));
    assert.ok(!/"hash"|"secrets"/.test(bodies));

    // A second sweep sends nothing new; the delivery log shows each one delivered.
    await worker.scheduled();
    await sleep(1_000);
    assert.equal(receiver.received.length, total);
    const log = await deliveries(worker, hook.id);
    assert.equal(log.length, total);
    assert.ok(log.every((d) => d.state === "delivered" && d.attempts.length === 1 && d.attempts[0].status === 200), JSON.stringify(log[0]));

    // The secret is shown once: never in reads, lists or logs.
    const listed = await (await api("/webhooks")).text();
    const read = await (await api(`/webhooks/${hook.id}`)).text();
    const hex = Buffer.from(hook.secret.slice(6), "base64").toString("hex");
    for (const text of [listed, read, worker.logs.join("")]) {
      assert.ok(!text.includes(hook.secret.slice(6)) && !text.includes(hex), "secret leaked");
    }
    assert.equal(JSON.parse(listed).data[0].id, hook.id);
  } finally {
    await worker.dispose();
    await receiver.close();
    await origin.close();
  }
});

test("a receiver failing three times gets the event on the 4th attempt; one that is down leaves a dead letter", async () => {
  const flaky = await startReceiver((n) => (n <= 3 ? 500 : 200));
  const down = await startReceiver();
  await down.close(); // nothing listens on its port for the whole test
  const worker = await startWorker({ vars: { WEBHOOK_RETRY_SCHEDULE: "1,1,1,1" } });
  try {
    const hook = await createWebhook(worker, { url: flaky.url, events: ["key.created"] });
    const gone = await createWebhook(worker, { url: down.url, events: ["key.created"] });
    const key = await issue(worker, { name: "retried" });

    await until("the 4th attempt", () => flaky.received.length >= 4);
    const attempts = verified(flaky, hook.secret);
    assert.equal(new Set(attempts.map((a) => a.id)).size, 1, "every attempt carries the same webhook-id");
    assert.equal(attempts[0].data.key.id, key.id);
    const [delivered] = await until("the delivered state", async () => {
      const log = await deliveries(worker, hook.id);
      return log[0]?.state === "delivered" && log;
    });
    assert.deepEqual(delivered.attempts.map((a) => a.status), [500, 500, 500, 200]);
    assert.deepEqual(delivered.attempts.map((a) => a.error), ["http_500", "http_500", "http_500", null]);

    // 1 + 4 retries, then a dead letter.
    const [dead] = await until("the dead letter", async () => {
      const log = await deliveries(worker, gone.id);
      return log[0]?.state === "dead_letter" && log;
    });
    assert.equal(dead.attempts.length, 5);
    assert.ok(dead.attempts.every((a) => a.status === null && a.error === "network_error"), JSON.stringify(dead.attempts));
    assert.equal(dead.next_attempt_at, null);
    await sleep(2_000);
    assert.equal(flaky.received.length, 4, "nothing after the delivery");
    assert.equal((await deliveries(worker, gone.id))[0].attempts.length, 5, "nothing after the dead letter");
  } finally {
    await worker.dispose();
    await flaky.close();
  }
});

test("bad endpoints are refused naming the field and nothing is stored; only the admin token manages webhooks", async () => {
  const worker = await startWorker();
  try {
    const post = (body) => worker.fetch("/_keygate/v1/webhooks", { method: "POST", headers: admin(), body: typeof body === "string" ? body : JSON.stringify(body) });
    const cases = [
      [{ url: "not a url" }, "url"],
      [{ url: "hooks.example.com/x" }, "url"],
      [{ url: "http://hooks.example.com/x" }, "url"],
      [{ url: "ftp://hooks.example.com/x" }, "url"],
      [{ url: `https://hooks.example.com/${"a".repeat(2100)}` }, "url"],
      [{ url: "https://user:pass@hooks.example.com/x" }, "url"],
      [{ url: 42 }, "url"],
      [{}, "url"],
      [{ url: "https://hooks.example.com/x", events: ["key.created", "key.exploded"] }, "events[1]"],
      [{ url: "https://hooks.example.com/x", events: [] }, "events"],
      [{ url: "https://hooks.example.com/x", events: null }, "events"],
      [{ url: "https://hooks.example.com/x", description: "d".repeat(201) }, "description"],
      [{ url: "https://hooks.example.com/x", secret: "whsec_mine" }, "secret"],
    ];
    for (const [body, field] of cases) {
      const res = await post(body);
      const error = await errorOf(res);
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.equal(error.code, "invalid_request");
      assert.equal(error.field, field, JSON.stringify(body));
    }
    assert.equal((await post("{not json")).status, 400);
    const listed = await (await worker.fetch("/_keygate/v1/webhooks", { headers: admin() })).json();
    assert.deepEqual(listed.data, [], "nothing stored");

    const missing = await worker.fetch("/_keygate/v1/webhooks/wh_0000000000000000/deliveries", { headers: admin() });
    assert.equal(missing.status, 404);
    assert.equal((await worker.fetch("/_keygate/v1/webhooks/wh_0000000000000000", { method: "DELETE", headers: admin() })).status, 404);

    // An admin key reaches some keys, not every key's events.
    const strong = await issue(worker, { name: "admin key", scopes: ["admin", "*"] });
    const asKey = await worker.fetch("/_keygate/v1/webhooks", { headers: { authorization: `Bearer ${strong.key}` } });
    assert.equal(asKey.status, 403);
    const created = await worker.fetch("/_keygate/v1/webhooks", {
      method: "POST",
      headers: { authorization: `Bearer ${strong.key}`, "content-type": "application/json" },
      body: JSON.stringify({ url: "https://hooks.example.com/x" }),
    });
    assert.equal(created.status, 403);
    assert.equal((await worker.fetch("/_keygate/v1/webhooks", { headers: { authorization: "Bearer wrong-token-000000000000000" } })).status, 401);

    // Create, read, delete.
    const hook = await (await post({ url: "https://hooks.example.com/x", events: ["key.revoked"] })).json();
    const id = hook.data.id;
    const read = await (await worker.fetch(`/_keygate/v1/webhooks/${id}`, { headers: admin() })).json();
    assert.deepEqual(read.data, { id, url: "https://hooks.example.com/x", events: ["key.revoked"], description: null, created_at: hook.data.created_at });
    const deleted = await worker.fetch(`/_keygate/v1/webhooks/${id}`, { method: "DELETE", headers: admin() });
    assert.deepEqual((await deleted.json()).data, { id, deleted: true });
    assert.equal((await worker.fetch(`/_keygate/v1/webhooks/${id}`, { headers: admin() })).status, 404);
    assert.ok(ADMIN_TOKEN);
  } finally {
    await worker.dispose();
  }
});
