// The `keygate` command-line tool (cli/), run as a built binary against the
// real Worker on workerd: every command end to end, its exit codes, its
// error output, and --json output checked against the OpenAPI document.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import { ADMIN_TOKEN, bearer, startOrigin, startWorker } from "./harness.mjs";

const BIN = process.env.KEYGATE_CLI ?? "target/debug/keygate";
let worker, origin, url, ajv;
const home = mkdtempSync(path.join(tmpdir(), "keygate-cli-"));

before(async () => {
  assert.ok(existsSync(BIN), `${BIN} is missing: make test builds it (cargo build -p keygate-cli)`);
  origin = await startOrigin();
  worker = await startWorker({ vars: { ORIGIN_LIVE: origin.url, ORIGIN_TEST: origin.url } });
  url = String(worker.url).replace(/\/$/, "");
  const doc = JSON.parse(readFileSync("openapi.json", "utf8"));
  ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema({ $id: "doc", ...doc });
});

after(async () => {
  await worker?.dispose();
  await origin?.close();
});

/**
 * Runs the CLI with `args`; `input` goes to stdin. The environment holds no
 * KEYGATE_* setting unless `env` gives it, and the config directory is a
 * fresh one per test file.
 */
function cli(args, { input = "", env = {}, token = true } = {}) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("KEYGATE_")));
  const fullEnv = { ...base, KEYGATE_CONFIG_DIR: path.join(home, "config"), ...(token ? { KEYGATE_URL: url, KEYGATE_ADMIN_TOKEN: ADMIN_TOKEN } : {}), ...env };
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { env: fullEnv });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    // A command that never reads stdin may exit before it is written.
    child.stdin.on("error", () => {});
    child.stdin.end(input);
  });
}

/** Runs the CLI, expecting success; returns stdout. */
async function ok(args, opts) {
  const r = await cli(args, opts);
  assert.equal(r.code, 0, `keygate ${args.join(" ")} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

/** Parses --json output and checks it against the document's schema at `pointer`. */
function jsonMatching(stdout, pointer) {
  const data = JSON.parse(stdout);
  const validate = ajv.getSchema(`doc#${pointer}`);
  assert.ok(validate, `no schema at ${pointer}`);
  assert.ok(validate(data), `output does not match ${pointer}: ${ajv.errorsText(validate.errors)}\n${stdout}`);
  return data;
}

const dataOf = (p, method, status = 200) => `/paths/${p.replaceAll("/", "~1")}/${method}/responses/${status}/content/application~1json/schema/properties/data`;
const KEY_VIEW = "/components/schemas/KeyView";
const KEY_WITH_SECRET = "/components/schemas/KeyWithSecret";

test("create → list → update → rotate → verify → revoke → whoami fails", async () => {
  // Table output: the key once, then its fields; --json: the API's data.
  const table = await ok(["keys", "create", "--name", "cli table", "--environment", "live"]);
  const shown = table.match(/^key: (sk_live_\S+)$/m);
  assert.ok(shown, `the new key is printed: ${table}`);
  assert.match(table, /display\s+sk_live_/);

  const created = jsonMatching(
    await ok(["keys", "create", "--json", "--name", "acme", "--environment", "live", "--type", "restricted", "--scope", "orders:read", "--per-minute", "100", "--owner-id", "cus_cli", "--expires-at", "2030-01-01T00:00:00Z", "--admission", "exact"]),
    KEY_WITH_SECRET,
  );
  assert.equal(created.type, "restricted");
  assert.deepEqual(created.scopes, ["orders:read"]);
  assert.equal(created.rate_limits.per_minute, 100);
  assert.equal(created.owner_id, "cus_cli");
  // Exact admission: the revocation below holds from the next request (a
  // leased key's would within LEASE_TTL_MS).
  assert.equal(created.admission, "exact");
  const res = await worker.fetch("/v1/orders", { headers: bearer(created.key) });
  assert.equal(res.status, 200, "the key the CLI printed works");

  // --quiet create prints only the key.
  const quiet = (await ok(["keys", "create", "-q", "--name", "quiet", "--environment", "test"])).trim();
  assert.match(quiet, /^sk_test_\S+$/);

  // List: table rows show the display form, never a key; JSON matches the list schema.
  const listed = await ok(["keys", "list", "--owner-id", "cus_cli"]);
  assert.match(listed, new RegExp(created.id));
  assert.match(listed, /ID\s+NAME\s+DISPLAY/);
  assert.ok(!listed.includes(created.key), "a list never prints a key");
  const listJson = jsonMatching(await ok(["keys", "list", "--json", "-s", "acme"]), dataOf("/v1/keys", "get"));
  assert.ok(listJson.some((k) => k.id === created.id));

  // Update: only the given field changes.
  const updated = jsonMatching(await ok(["keys", "update", created.id, "--per-minute", "500", "--json"]), dataOf("/v1/keys/{id}", "patch"));
  assert.equal(updated.rate_limits.per_minute, 500);
  assert.equal(updated.name, "acme");
  const got = jsonMatching(await ok(["keys", "get", created.id, "--json"]), dataOf("/v1/keys/{id}", "get"));
  assert.equal(got.rate_limits.per_minute, 500);
  assert.ok(Array.isArray(got.usage), "get shows the key's usage");
  assert.match(await ok(["keys", "get", created.id]), /usage now:/);

  // Rotate with a grace period: old and new both work.
  const rotated = jsonMatching(await ok(["keys", "rotate", created.id, "--grace-seconds", "3600", "--json"]), dataOf("/v1/keys/{id}/rotate", "post"));
  assert.notEqual(rotated.key, created.key);
  for (const key of [created.key, rotated.key]) {
    assert.equal((await worker.fetch("/v1/orders", { headers: bearer(key) })).status, 200);
  }

  // Verify, with the key on stdin (never on the command line).
  const verified = jsonMatching(await ok(["verify", "-", "--permission", "orders:read", "--json"], { input: rotated.key + "\n" }), dataOf("/v1/verify", "post"));
  assert.equal(verified.valid, true);
  const denied = await cli(["verify", "-", "--permission", "orders:write"], { input: rotated.key });
  assert.equal(denied.code, 1, "a key that may not do it exits 1");
  assert.match(denied.stderr, /insufficient_permissions/);

  // whoami as the key itself (no admin token needed).
  const who = jsonMatching(await ok(["whoami", "--json"], { env: { KEYGATE_API_KEY: rotated.key, KEYGATE_ADMIN_TOKEN: "" } }), dataOf("/v1/whoami", "get"));
  assert.equal(who.id, created.id);
  assert.equal((await ok(["whoami", "-", "-q"], { input: rotated.key })).trim(), created.id);

  // Revoke: refused without --yes off a terminal, done with it.
  const unconfirmed = await cli(["keys", "revoke", created.id]);
  assert.equal(unconfirmed.code, 2);
  assert.match(unconfirmed.stderr, /--yes/);
  assert.equal((await worker.fetch("/v1/orders", { headers: bearer(rotated.key) })).status, 200, "nothing was revoked");
  assert.equal((await ok(["keys", "revoke", created.id, "--yes", "-q"])).trim(), created.id);
  const after = await cli(["whoami"], { env: { KEYGATE_API_KEY: rotated.key } });
  assert.equal(after.code, 1);
  assert.match(after.stderr, /key_revoked \(HTTP 401\)/);
  const audit = jsonMatching(await ok(["keys", "audit", created.id, "--json"]), dataOf("/v1/keys/{id}/audit", "get"));
  assert.deepEqual(audit.map((e) => e.action).sort(), ["create", "edit", "revoke", "rotate"]);
  assert.match(await ok(["keys", "audit", created.id]), /AT\s+ACTOR\s+ACTION/);
  const used = jsonMatching(await ok(["keys", "usage", created.id, "--granularity", "day", "--json"]), dataOf("/v1/keys/{id}/usage", "get"));
  assert.ok(used.totals.valid.count >= 2, "the requests above were counted");
  assert.match(await ok(["keys", "usage", created.id]), /BUCKET\s+OUTCOME\s+COUNT\s+COST[\s\S]*total\s+valid/);
  const badRange = await cli(["keys", "usage", created.id, "--granularity", "minute", "--from", "2020-01-01T00:00:00Z"]);
  assert.equal(badRange.code, 1);
  assert.match(badRange.stderr, /HTTP 422.*\[field: from\]/);
});

test("every error path prints the API's code and exits with the documented status", async () => {
  const cases = [
    // [args, options, exit code, stderr pattern]
    [["keys", "list"], { env: { KEYGATE_ADMIN_TOKEN: "wrong-token-0123456789" } }, 1, /unauthorized \(HTTP 401\)/],
    [["keys", "create", "--name", "", "--environment", "live"], {}, 1, /invalid_request \(HTTP 422\).*\[field: name\]/],
    [["keys", "create", "--name", "x", "--environment", "staging"], {}, 1, /HTTP 422.*\[field: environment\]/],
    [["keys", "get", "key_0000000000000000"], {}, 1, /not_found \(HTTP 404\)/],
    [["keys", "update", "key_0000000000000000"], {}, 2, /nothing to change/],
    [["keys", "create", "--name", "x", "--type", "restrcted"], {}, 2, /restrcted/],
    [["keys", "create", "--name", "x", "--allowed-ip", "10.0.0.0/33"], {}, 2, /allowed-ip/],
    [["keys", "frobnicate"], {}, 2, /unrecognized subcommand/],
    [["keys", "list"], { token: false }, 2, /no URL/],
    [["keys", "list"], { token: false, env: { KEYGATE_URL: "http://127.0.0.1:9" } }, 2, /no admin token/],
    [["keys", "list"], { env: { KEYGATE_URL: "http://127.0.0.1:9" } }, 3, /could not connect to http:\/\/127\.0\.0\.1:9/],
    [["keys", "list"], { env: { KEYGATE_URL: origin.url } }, 1, /did not answer like keygate/],
    [["keys", "credits", "key_0000000000000000", "--add", "5", "--take", "1"], {}, 2, /cannot be used with/],
  ];
  for (const [args, opts, code, pattern] of cases) {
    const r = await cli(args, opts);
    assert.equal(r.code, code, `keygate ${args.join(" ")}: exit ${r.code}, stderr: ${r.stderr}`);
    assert.match(r.stderr, pattern, `keygate ${args.join(" ")}`);
    assert.equal(r.stdout, "", `keygate ${args.join(" ")} prints nothing on stdout when it fails`);
  }
  // A refused credits change leaves the balance as it was.
  const key = JSON.parse(await ok(["keys", "create", "--json", "--name", "metered", "--environment", "live", "--credits", "10"]));
  const r = await cli(["keys", "credits", key.id, "--take", "11"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /HTTP 422/);
  assert.equal(JSON.parse(await ok(["keys", "credits", key.id, "--add", "5", "--json"])).credits.remaining, 15);
});

test("a token file others can read is refused; a private one works", async () => {
  const file = path.join(home, "token");
  writeFileSync(file, ADMIN_TOKEN + "\n");
  chmodSync(file, 0o644);
  const r = await cli(["keys", "list", "--token-file", file], { token: false, env: { KEYGATE_URL: url } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /others can read it \(mode 644\); run: chmod 600/);
  chmodSync(file, 0o600);
  await ok(["keys", "list", "--token-file", file], { token: false, env: { KEYGATE_URL: url } });
});

test("login stores URL and token privately; logout forgets them", async () => {
  const env = { KEYGATE_CONFIG_DIR: path.join(home, "login") };
  const wrong = await cli(["login", "--url", url], { token: false, env, input: "not-the-token-0123456789\n" });
  assert.equal(wrong.code, 1, "a token the API refuses is not stored");
  assert.ok(!existsSync(path.join(home, "login", "config.json")));
  await ok(["login", "--url", url], { token: false, env, input: ADMIN_TOKEN + "\n" });
  const stored = path.join(home, "login", "config.json");
  assert.equal(statSync(stored).mode & 0o777, 0o600);
  await ok(["keys", "list"], { token: false, env });
  await ok(["logout"], { token: false, env });
  assert.ok(!existsSync(stored));
  assert.equal((await cli(["keys", "list"], { token: false, env })).code, 2);
});

test("list --all pages through everything the filters match", async () => {
  for (let i = 0; i < 5; i++) await ok(["keys", "create", "-q", "--name", `paged ${i}`, "--environment", "live", "--owner-id", "cus_paged"]);
  const page = JSON.parse(await ok(["keys", "list", "--owner-id", "cus_paged", "--per-page", "2", "--json"]));
  assert.equal(page.length, 2);
  const all = JSON.parse(await ok(["keys", "list", "--owner-id", "cus_paged", "--per-page", "2", "--all", "--json"]));
  assert.equal(all.length, 5);
  assert.equal(new Set(all.map((k) => k.id)).size, 5);
  const ids = (await ok(["keys", "list", "--owner-id", "cus_paged", "--all", "-q"])).trim().split("\n");
  assert.deepEqual(ids.sort(), all.map((k) => k.id).sort());
});

test("revoke-leaked reads keys from stdin and owners set/get/delete", async () => {
  const a = JSON.parse(await ok(["keys", "create", "--json", "--name", "leaky", "--environment", "live"]));
  const r = await ok(["keys", "revoke-leaked", "-", "--source", "https://example.com/paste", "--yes", "--json"], { input: `${a.key}\nsk_live_not-a-key\n` });
  const result = jsonMatching(r, dataOf("/v1/keys/revoke-leaked", "post"));
  assert.deepEqual(result.revoked.map((x) => x.key_id), [a.id]);
  assert.equal((await worker.fetch("/v1/orders", { headers: bearer(a.key) })).status, 401);

  const set = jsonMatching(await ok(["owners", "set", "cus_shared", "--per-minute", "600", "--per-day", "100000", "--json"]), dataOf("/v1/owners/{owner_id}", "put"));
  assert.equal(set.rate_limits.per_minute, 600);
  assert.match(await ok(["owners", "get", "cus_shared"]), /rate_limits/);
  const summed = jsonMatching(await ok(["owners", "usage", "cus_cli", "--granularity", "day", "--json"]), dataOf("/v1/owners/{owner_id}/usage", "get"));
  assert.equal(summed.owner_id, "cus_cli");
  const overall = jsonMatching(await ok(["usage", "--granularity", "minute", "--json"]), dataOf("/v1/usage", "get"));
  assert.equal(overall.granularity, "minute");
  assert.match(await ok(["usage"]), /BUCKET\s+OUTCOME\s+COUNT\s+COST/);
  await ok(["owners", "delete", "cus_shared", "--yes"]);
  const gone = await cli(["owners", "get", "cus_shared"]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /not_found/);
});

test("webhooks: create prints the secret once; list, test, deliveries and delete", async () => {
  const created = jsonMatching(
    await ok(["webhooks", "create", `${origin.url}/hooks`, "--event", "key.revoked", "--description", "cli", "--json"]),
    dataOf("/v1/webhooks", "post", 201),
  );
  assert.match(created.secret, /^whsec_/);
  const listed = jsonMatching(await ok(["webhooks", "list", "--json"]), dataOf("/v1/webhooks", "get"));
  assert.ok(listed.some((w) => w.id === created.id));
  const table = await ok(["webhooks", "list"]);
  assert.match(table, /ID\s+URL\s+EVENTS/);
  assert.ok(!table.includes(created.secret.slice(6)), "the secret is shown once");
  assert.match(await ok(["webhooks", "get", created.id]), /key\.revoked/);
  const queued = (await ok(["webhooks", "test", created.id, "--quiet"])).trim();
  assert.match(queued, /^msg_/);
  const deliveries = jsonMatching(await ok(["webhooks", "deliveries", created.id, "--json"]), dataOf("/v1/webhooks/{id}/deliveries", "get"));
  assert.equal(deliveries[0].event_id, queued);
  assert.match(await ok(["webhooks", "deliveries", created.id]), /EVENT_TYPE\s+STATE/);
  const bad = await cli(["webhooks", "create", "http://hooks.example.com/x"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /invalid_request/);
  assert.match(bad.stderr, /url/);
  await ok(["webhooks", "delete", created.id, "--yes"]);
  const gone = await cli(["webhooks", "get", created.id]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /not_found/);
});

test("completions and help: a script per shell, an example per command", async () => {
  for (const shell of ["bash", "zsh", "fish"]) assert.match(await ok(["completions", shell], { token: false }), /keygate/);
  const commands = [
    ["login"], ["logout"], ["verify"], ["whoami"], ["usage"], ["completions"],
    ...["create", "list", "get", "update", "rotate", "revoke", "audit", "usage", "revoke-leaked", "credits"].map((c) => ["keys", c]),
    ...["get", "set", "usage", "delete"].map((c) => ["owners", c]),
    ...["create", "list", "get", "delete", "test", "deliveries"].map((c) => ["webhooks", c]),
  ];
  for (const c of commands) assert.match(await ok([...c, "--help"], { token: false }), /Example:\n  keygate /, `keygate ${c.join(" ")} --help`);
});

test("the CLI adds nothing to the Worker's wasm", () => {
  const tree = execFileSync("cargo", ["tree", "--locked", "-p", "keygate", "--target", "wasm32-unknown-unknown", "-e", "normal", "--prefix", "none"], { encoding: "utf8" });
  for (const crate of ["clap", "ureq", "rustls", "ring", "comfy-table", "rpassword"]) {
    assert.ok(!new RegExp(`^${crate} `, "m").test(tree), `${crate} is in the Worker's dependency tree`);
  }
  assert.match(tree, /^worker /m, "the tree is the Worker's");
});
