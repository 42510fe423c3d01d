// The floor: the best a careful person could hand-write in JavaScript for
// the same I/O keygate does on an admitted request — hash the key, one KV
// get, one Durable Object call that counts minute and day windows in
// SQLite storage, then proxy to the origin with the key header removed.
// No checksum, no permissions, no caching: less work than keygate.
// Binding OBJECT_DELAY_MS (default 0): the Counter waits that long before
// answering, like bench/keygate-wrapper.mjs does for keygate's key object.

const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");

export default {
  async fetch(req, env) {
    const auth = req.headers.get("authorization") ?? "";
    const key = auth.startsWith("Bearer ") ? auth.slice(7) : req.headers.get("x-api-key");
    if (!key) return Response.json({ error: { code: "missing_api_key" } }, { status: 401 });
    const hash = hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
    const record = await env.KEYS.get(hash, "json");
    if (!record) return Response.json({ error: { code: "invalid_api_key" } }, { status: 401 });
    const counter = env.COUNTERS.get(env.COUNTERS.idFromName(record.id));
    const verdict = await (await counter.fetch("https://counter/", { method: "POST" })).json();
    if (!verdict.ok) return Response.json({ error: { code: "rate_limited" } }, { status: 429 });
    const url = new URL(req.url);
    const headers = new Headers(req.headers);
    headers.delete("authorization");
    headers.delete("x-api-key");
    headers.set("x-keygate-key-id", record.id);
    const upstream = await fetch(env.ORIGIN + url.pathname + url.search, {
      method: req.method,
      headers,
      body: req.body,
      redirect: "manual",
    });
    const resp = new Response(upstream.body, upstream);
    resp.headers.set("x-ratelimit-limit", String(verdict.limit));
    resp.headers.set("x-ratelimit-remaining", String(verdict.remaining));
    resp.headers.set("x-ratelimit-reset", String(verdict.reset));
    return resp;
  },
};

const MINUTE = 60_000;
const DAY = 86_400_000;

export class Counter {
  constructor(state, env) {
    this.sql = state.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS c (w TEXT PRIMARY KEY, start INTEGER, n INTEGER)");
    this.delay = Number(env?.OBJECT_DELAY_MS ?? 0) || 0;
  }

  fetch() {
    if (this.delay > 0) return new Promise((resolve) => setTimeout(resolve, this.delay)).then(() => this.count());
    return this.count();
  }

  count() {
    const now = Date.now();
    const limits = { m: [MINUTE, 10_000_000], d: [DAY, 10_000_000] };
    const rows = Object.fromEntries(this.sql.exec("SELECT w, start, n FROM c").toArray().map((r) => [r.w, r]));
    const used = {};
    for (const [w, [len]] of Object.entries(limits)) {
      const start = now - (now % len);
      used[w] = rows[w]?.start === start ? rows[w].n : 0;
    }
    const ok = Object.entries(limits).every(([w, [, limit]]) => used[w] < limit);
    if (ok) {
      for (const [w, [len]] of Object.entries(limits)) {
        this.sql.exec("INSERT OR REPLACE INTO c (w, start, n) VALUES (?, ?, ?)", w, now - (now % len), used[w] + 1);
      }
    }
    const remaining = limits.m[1] - used.m - (ok ? 1 : 0);
    return Response.json({ ok, limit: limits.m[1], remaining, reset: Math.ceil((now - (now % MINUTE) + MINUTE) / 1000) });
  }
}
