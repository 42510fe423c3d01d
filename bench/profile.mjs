// A CPU profile of one request path, from workerd's inspector: where an
// isolate's time goes (self and inclusive, by function), for finding what
// to make faster. Not part of `make bench`.
//
//   node bench/profile.mjs [leased|exact|malformed|bare|rust]   (default: leased; malformed: a garbage key, refused 401;
//   rust: bench/wasm-floor, built by make bench)
//   PROFILE_OUT=file.cpuprofile also saves the raw profile (Chrome DevTools opens it).
//
// wasm functions show by name only in a build that keeps its name section:
// `make profile PROFILE=<mode>` builds one (target/profile/build, as
// `make build` optimizes it but with names) and runs this against it
// (PROFILE_ROOT: the directory whose build/ to run; default: this checkout).
import { Miniflare } from "miniflare";
import autocannon from "autocannon";
import WebSocket from "ws";
import { spawn } from "node:child_process";
import { bareOptions, keygateOptions, wasmFloorOptions } from "./workers.mjs";

const mode = process.argv[2] ?? "leased";
const ORIGIN = "http://127.0.0.1:8797";
const TOKEN = "bench-admin-token-0123456789";
const INSPECTOR = 9333;

const origin = spawn(process.execPath, ["dev/echo-origin.mjs", "8797"], { stdio: "ignore" });
await new Promise((r) => setTimeout(r, 300));
const options =
  mode === "bare"
    ? bareOptions({ origin: ORIGIN })
    : mode === "rust"
    ? wasmFloorOptions({ origin: ORIGIN })
    : keygateOptions({ origin: ORIGIN, token: TOKEN, root: process.env.PROFILE_ROOT ?? ".", bindings: mode === "exact" ? { ADMISSION: "exact" } : {} });
const mf = new Miniflare({ ...options, inspectorPort: INSPECTOR });
const url = (await mf.ready).href.replace(/\/$/, "");
let headers = {};
if (mode !== "bare" && mode !== "rust") {
  const res = await fetch(url + "/_keygate/v1/keys", {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "profile", environment: "live", rate_limits: { per_minute: 10_000_000, per_day: 10_000_000 } }),
  });
  headers = { authorization: `Bearer ${(await res.json()).data.key}` };
  if (mode === "malformed") headers = { authorization: "Bearer sk_live_garbage" };
}

// The user Worker's isolate.
const targets = await (await fetch(`http://127.0.0.1:${INSPECTOR}/json`)).json();
const target = targets.find((t) => /core:user/.test(t.title)) ?? targets[0];
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((r) => ws.on("open", r));
let id = 0;
const pending = new Map();
ws.on("message", (m) => {
  const d = JSON.parse(m);
  if (pending.has(d.id)) pending.get(d.id)(d.result), pending.delete(d.id);
});
const send = (method, params = {}) => new Promise((r) => (pending.set(++id, r), ws.send(JSON.stringify({ id, method, params }))));

// As Cloudflare's edge sends them with IP Geolocation on (see EDGE_HEADERS in run.mjs).
const run = (duration) => autocannon({ url: url + "/v1/profile", headers: { "cf-ipcountry": "NL", ...headers }, connections: 16, duration });
await run(2);
await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 100 });
await send("Profiler.start");
const r = await run(5);
const { profile } = await send("Profiler.stop");
console.log(`${mode}: ${Math.round(r.requests.average)} req/s while profiling`);
if (process.env.PROFILE_OUT) (await import("node:fs")).writeFileSync(process.env.PROFILE_OUT, JSON.stringify(profile));

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const hits = new Map();
for (const s of profile.samples) hits.set(s, (hits.get(s) ?? 0) + 1);
const total = profile.samples.length;
const self = new Map();
const inclusive = new Map();
for (const [node, n] of hits) {
  const name = byId.get(node).callFrame.functionName || "(anonymous)";
  self.set(name, (self.get(name) ?? 0) + n);
  const seen = new Set();
  for (let x = node; x; x = parent.get(x)) {
    const f = byId.get(x).callFrame.functionName;
    if (f && !seen.has(f)) seen.add(f), inclusive.set(f, (inclusive.get(f) ?? 0) + n);
  }
}
const show = (title, m) => {
  console.log(`--- ${title}, % of samples`);
  for (const [f, n] of [...m].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log((100 * n / total).toFixed(1).padStart(5), f.slice(0, 130));
};
show("self", self);
show("inclusive", inclusive);
ws.close();
await mf.dispose();
origin.kill();
