// Starts `make dev` as a user would and sends requests through its first
// 90 seconds of serving: every answer must be keygate's own (no 503 from
// wrangler restarting the Worker), and the Worker must be built once.
// Run with `make dev-check` (uses PORT=8797 and a throwaway state dir).
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const PORT = process.env.PORT ?? "8797";
const SERVE_MS = Number(process.env.DEV_CHECK_MS ?? 90_000);
const state = mkdtempSync(path.join(tmpdir(), "keygate-dev-"));
const dev = spawn("make", ["--no-print-directory", "dev", `PORT=${PORT}`, `STATE_DIR=${state}`], {
  stdio: ["ignore", "pipe", "pipe"],
  detached: true,
});
let output = "";
dev.stdout.on("data", (d) => (output += d));
dev.stderr.on("data", (d) => (output += d));
const stop = () => {
  try {
    process.kill(-dev.pid, "SIGTERM");
  } catch {}
};

const base = `http://127.0.0.1:${PORT}`;
const deadline = Date.now() + 15 * 60_000;
while (!/Ready on/.test(output)) {
  if (Date.now() > deadline || dev.exitCode !== null) {
    stop();
    console.error(output);
    throw new Error("make dev did not start serving");
  }
  await new Promise((r) => setTimeout(r, 500));
}
const counts = {};
const end = Date.now() + SERVE_MS;
while (Date.now() < end) {
  for (const [what, url] of [
    ["openapi", `${base}/_keygate/openapi.json`],
    ["no key", `${base}/v1/hello`],
  ]) {
    const status = await fetch(url).then((r) => r.status, () => "refused");
    counts[`${what} ${status}`] = (counts[`${what} ${status}`] ?? 0) + 1;
  }
  await new Promise((r) => setTimeout(r, 250));
}
stop();
const builds = output.split("\n").filter((l) => l.includes("worker-build --release")).length;
const restarts = output.split("\n").filter((l) => /restarting|Your worker restarted/i.test(l)).length;
console.log(JSON.stringify({ counts, builds, restarts }));
const bad = Object.keys(counts).filter((k) => !/^openapi 200$|^no key 401$/.test(k));
if (bad.length || builds !== 1 || restarts !== 0) {
  console.error(output.slice(-4000));
  console.log("0 passed, 1 failed");
  process.exit(1);
}
console.log("1 passed, 0 failed");
process.exit(0);
