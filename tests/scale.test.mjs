// Scale: 20,000 keys over the production default of registry shards, 5,000
// of them used within a minute, every Durable Object call counted by class,
// object and command (the bench wrapper counts by request path, and the
// registry client names the shard and the command in it).
//
// What it proves, by call counts rather than timings:
// - reports do not grow with active keys: the registry calls while 5,000
//   keys are used and their counts arrive are ≤ 0.05 per active key per
//   minute, and no shard takes more than 1/⌈shards/2⌉ of the reports;
// - a listing page costs one call per shard, at 20,000 keys as at 1;
// - an owner with 3,000 keys gets its usage in ≤ 10 subrequests, exactly;
// - key creation spreads over the shards, and the hub takes the other
//   shards' events in hand-overs gathered per second, not one per key;
// - all of it across a restart, on the state the keys were issued into.
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { admin, bearer, issue, objectPaths, pathsSince, pool, startOrigin, startWorker, stateDir } from "./harness.mjs";

const KEYS = 20_000;
const OWNED = 3_000;
const ACTIVE = 5_000;
// The production default (REGISTRY_SHARDS unset).
const SHARDS = 8;

/**
 * The registry calls in `paths` (see objectPaths): in all, by command, and
 * for each command by shard object (`byShard.report["registry-3"]`).
 */
function registryTally(paths) {
  const byCommand = {};
  const byShard = {};
  let total = 0;
  for (const [path, n] of Object.entries(paths)) {
    const m = /^RegistryObject \/([^/]+)\/(\w+)$/.exec(path);
    if (!m) continue;
    const [, object, command] = m;
    byCommand[command] = (byCommand[command] ?? 0) + n;
    byShard[command] ??= {};
    byShard[command][object] = (byShard[command][object] ?? 0) + n;
    total += n;
  }
  return { total, byCommand, byShard };
}

const sum = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);

test("20,000 keys, 5,000 used in a minute: registry calls by the batch, pages by the shard, an owner's usage in a few calls", { timeout: 900_000 }, async () => {
  const origin = await startOrigin();
  // Persisted (in memory where it can be) so that 20,000 objects' storage
  // is not paced by the disk.
  const persist = stateDir();
  const options = { vars: { ORIGIN_LIVE: origin.url, REGISTRY_SHARDS: undefined }, wrapped: true, persist };
  let worker = await startWorker(options);
  try {
    // Issue the keys: the first OWNED belong to one owner.
    const keys = new Array(KEYS);
    const created = await objectPaths(worker);
    const started = Date.now();
    await pool(KEYS, 32, async (i) => {
      const body = i < OWNED ? { name: `k${i}`, owner_id: "cus_big" } : { name: `k${i}` };
      keys[i] = await issue(worker, body);
    });
    const index = registryTally(pathsSince(created, await objectPaths(worker)));
    const seconds = Math.ceil((Date.now() - started) / 1000);
    console.log(`# issued ${KEYS} keys in ${seconds} s; registry calls ${JSON.stringify(index.byCommand)}`);
    // Every shard holds some; none holds more than its share of a fair spread by far.
    const inserts = index.byShard.insert ?? {};
    assert.equal(Object.keys(inserts).length, SHARDS, `every shard takes inserts: ${JSON.stringify(inserts)}`);
    assert.equal(sum(inserts), KEYS);
    for (const [object, n] of Object.entries(inserts)) {
      assert.ok(n < (KEYS / SHARDS) * 1.2, `${object} took ${n} of ${KEYS} inserts`);
    }
    // The hub takes the other shards' key.created events gathered for a
    // second: at most one hand-over per other shard per second, however
    // fast keys are issued, not one per key.
    const emits = index.byCommand.emit ?? 0;
    console.log(`# hub hand-overs of other shards' events: ${emits} for ${KEYS} keys in ${seconds} s`);
    assert.ok(emits > 0 && emits <= (SHARDS - 1) * (seconds + 1), `emit calls: ${emits}`);

    // A restart, as a deploy would: local workerd keeps every object it
    // woke open (20,000 SQLite databases run it out of memory), Cloudflare
    // evicts idle ones.
    await worker.dispose();
    worker = await startWorker(options);

    // Use ACTIVE keys once each, within a minute.
    const before = await objectPaths(worker);
    const usedFrom = Date.now();
    const statuses = new Map();
    await pool(ACTIVE, 50, async (i) => {
      const res = await worker.fetch("/v1/orders", { headers: bearer(keys[i].key), cf: { country: "NL" } });
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    });
    const usedFor = Date.now() - usedFrom;
    assert.deepEqual([...statuses], [[200, ACTIVE]]);
    console.log(`# ${ACTIVE} keys used once each in ${(usedFor / 1000).toFixed(1)} s`);
    // Their counts arrive: the owner's rollup, the overall series, each key's last_used.
    let overall;
    for (let tries = 0; tries < 120; tries++) {
      const res = await worker.fetch("/_keygate/v1/usage?granularity=day", { headers: admin() });
      overall = (await res.json()).data;
      if ((overall.totals.valid?.count ?? 0) >= ACTIVE) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(overall.totals.valid?.count, ACTIVE, "every decision is counted once");
    const using = pathsSince(before, await objectPaths(worker));
    const calls = registryTally(using);
    // The overall-usage reads above are the test's, not the traffic's.
    const traffic = calls.total - (calls.byCommand.usage ?? 0);
    const minutes = Math.max(1, Math.ceil(usedFor / 60_000));
    const perKeyMinute = traffic / ACTIVE / minutes;
    const reported = calls.byShard.report ?? {};
    const most = Math.max(...Object.values(reported));
    console.log(
      `# registry calls for ${ACTIVE} active keys: ${traffic} (${perKeyMinute.toFixed(4)} per active key per minute); ` +
        `reports by shard ${JSON.stringify(reported)}; key-object calls ${using["KeyObject /"] ?? 0}`,
    );
    assert.ok(perKeyMinute <= 0.05, `registry calls per active key per minute: ${perKeyMinute}`);
    assert.ok(sum(reported) > 0, "the counts came as reports");
    assert.ok(most <= sum(reported) / Math.ceil(SHARDS / 2), `one shard took ${most} of ${sum(reported)} reports`);

    // A page costs one call per shard, for the admin token and for an
    // admin key bound to the big owner alike.
    const opsKey = await issue(worker, { name: "ops", owner_id: "cus_big", scopes: ["admin", "*"] });
    for (const [who, headers] of [["admin token", admin()], ["owner's admin key", bearer(opsKey.key)]]) {
      const mark = await objectPaths(worker);
      const res = await worker.fetch("/_keygate/v1/keys?per_page=20", { headers });
      assert.equal(res.status, 200);
      const page = await res.json();
      assert.equal(page.data.length, 20, who);
      assert.ok(page.meta.next_cursor, who);
      const listed = registryTally(pathsSince(mark, await objectPaths(worker)));
      assert.deepEqual(listed.byCommand, { list: SHARDS }, `${who}: ${JSON.stringify(listed.byCommand)}`);
    }

    // The big owner's usage, with how many subrequests of any kind.
    const mark = await objectPaths(worker);
    const res = await worker.fetch("/_keygate/v1/owners/cus_big/usage?granularity=day", { headers: admin() });
    assert.equal(res.status, 200);
    const owner = (await res.json()).data;
    const subrequests = sum(pathsSince(mark, await objectPaths(worker)));
    console.log(`# owner with ${OWNED + 1} keys: usage in ${subrequests} subrequests`);
    assert.equal(owner.keys, OWNED + 1);
    assert.equal(owner.totals.valid?.count, OWNED, "each of its used keys counted once");
    assert.ok(subrequests <= 10, `owner usage subrequests: ${subrequests}`);
  } finally {
    await worker.dispose();
    await origin.close();
    rmSync(persist, { recursive: true, force: true });
  }
});
