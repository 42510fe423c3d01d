// Upgrading in place: the current build started on the state a release
// from before registry sharding wrote (tests/fixtures/registry-v1, made by
// make-registry-v1.mjs with that release's build) keeps every key, audit
// entry, webhook endpoint and usage count, serves its keys, and lists them
// beside keys issued after the upgrade in other shards.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cpSync, readFileSync } from "node:fs";
import path from "node:path";
import { admin, bearer, issue, startOrigin, startWorker, stateDir } from "./harness.mjs";

const FIXTURE = path.join(path.dirname(new URL(import.meta.url).pathname), "fixtures", "registry-v1");
const manifest = JSON.parse(readFileSync(path.join(FIXTURE, "manifest.json"), "utf8"));
let origin, worker;

before(async () => {
  origin = await startOrigin();
  const dir = stateDir();
  cpSync(path.join(FIXTURE, "state"), dir, { recursive: true });
  // The fixture's clock, ten minutes on: audit entries and usage stay
  // inside their retention however old the fixture gets.
  const written = Date.parse(manifest.keys.live.created_at);
  const offset = written + 600_000 - Date.now();
  worker = await startWorker({ persist: dir, vars: { ORIGIN_LIVE: origin.url, CLOCK_OFFSET_MS: String(offset), REGISTRY_SHARDS: "8" } });
});

after(async () => {
  await worker?.dispose();
  await origin?.close();
});

const api = async (p, init = {}) => {
  const res = await worker.fetch(`/_keygate${p}`, { headers: admin(), ...init });
  return { status: res.status, body: await res.json() };
};

/** Every key a cursor walk lists, page by page. */
async function walk(query) {
  const ids = [];
  let cursor = null;
  do {
    const { status, body } = await api(`/v1/keys?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    assert.equal(status, 200, JSON.stringify(body));
    ids.push(...body.data.map((k) => k.id));
    cursor = body.meta.next_cursor;
  } while (cursor);
  return ids;
}

test("keys, audit, webhooks and usage written before sharding are all there after the upgrade", async () => {
  const { live, edited, revoked, tenant_admin } = manifest.keys;
  const before = await walk("owner_id=cus_old&per_page=2");
  assert.deepEqual(new Set(before), new Set([live.id, edited.id, revoked.id, tenant_admin.id]));

  assert.equal((await api(`/v1/keys/${edited.id}`)).body.data.name, "after edit");
  const trail = (await api(`/v1/keys/${edited.id}/audit`)).body.data.map((e) => e.action);
  assert.deepEqual(trail, ["edit", "create"]);
  assert.equal((await api(`/v1/keys/${revoked.id}`)).body.data.status, "revoked");

  const served = await worker.fetch("/v1/orders", { headers: bearer(live.key) });
  assert.equal(served.status, 200, "a key issued before the upgrade is served");
  assert.equal(origin.requests.at(-1).headers["x-keygate-key-id"], live.id);

  const hooks = (await api("/v1/webhooks")).body.data.map((h) => h.id);
  assert.deepEqual(hooks, [manifest.webhook.id]);

  const usage = (await api("/v1/usage?granularity=day")).body.data;
  for (const [outcome, { count }] of Object.entries(manifest.usage_totals)) {
    assert.ok(usage.totals[outcome].count >= count, `${outcome}: ${usage.totals[outcome].count} < ${count}`);
  }
  const top = usage.top_keys.by_requests.map((k) => k.key_id);
  assert.ok(top.includes(live.id), "the old key's day totals feed the top keys");

  // A leaked old secret is found where it was stored.
  const leak = await api("/v1/keys/revoke-leaked", { method: "POST", body: JSON.stringify([{ token: live.key, source: "upgrade test" }]) });
  assert.deepEqual(leak.body.data.revoked.map((r) => r.key_id), [live.id]);
});

test("keys issued after the upgrade land across the shards and list beside the old ones, newest first", async () => {
  const fresh = [];
  for (let i = 0; i < 12; i++) fresh.push((await issue(worker, { name: `new ${i}`, owner_id: "cus_old" })).id);
  assert.ok(fresh.every((id) => id.length === 22), "new ids carry their shard");
  const shards = new Set(fresh.map((id) => id.slice(4, 6)));
  assert.ok(shards.size > 1, `12 keys in one shard of 8: ${[...shards]}`);
  const listed = await walk("owner_id=cus_old&per_page=3");
  assert.equal(listed.length, 16);
  assert.deepEqual(listed.slice(0, 12), [...fresh].reverse(), "newest first across shards");

  // The tenant's admin key (stored before the admin column existed) still
  // lists only what it reaches, and never itself or another admin key.
  const { tenant_admin } = manifest.keys;
  const res = await worker.fetch("/_keygate/v1/keys?per_page=100", { headers: bearer(tenant_admin.key) });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.ok(body.data.length >= 12);
  assert.ok(!body.data.some((k) => k.id === tenant_admin.id), "an admin key listed to a key actor");
});
