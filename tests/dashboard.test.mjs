// The admin dashboard (dashboard/, built into build/assets/ui/ by
// `node dashboard/build.mjs`) in a real browser (Debian's Chromium through
// playwright-core) against the real built Worker: sign-in and its refusal,
// the key journey (create → use → search → edit → rotate → revoke → sign
// out), an admin key's view, accessibility (axe-core on every page, a
// 390 px screen, the keyboard), and the page's security (CSP and friends,
// the session cookie, cross-site writes, forged and expired sessions, no
// token in any URL). SCREENSHOTS=<dir> also saves the README's screenshots.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { ADMIN_TOKEN, admin, errorOf, issue, startOrigin, startWorker } from "./harness.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const AXE = readFileSync("node_modules/axe-core/axe.min.js", "utf8");
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const TWELVE_HOURS = 12 * 3600;

let browser;
const running = [];
/** Every URL a page requested, and every CSP violation a page reported (all contexts but the deliberate one). */
const requested = [];
const violations = [];

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: \`make test\` installs Debian's chromium`);
  assert.ok(existsSync("build/assets/ui/app.js"), "the dashboard is not built: run `node dashboard/build.mjs`");
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});
after(async () => {
  await browser?.close();
  for (const stop of running.reverse()) await stop();
});

/**
 * A fresh Worker (empty registry) in front of a stub origin; `base` is the
 * address Miniflare listens on, as `localhost` (a Secure cookie over plain
 * http is kept for localhost only).
 */
async function fresh(vars = {}) {
  const origin = await startOrigin();
  const worker = await startWorker({ vars: { ORIGIN_LIVE: origin.url, ...vars } });
  running.push(() => origin.close(), () => worker.dispose());
  const url = new URL(String(worker.url));
  url.hostname = "localhost";
  const base = url.origin;
  return { origin, worker, base, page: `${base}/_keygate/` };
}

/** A browser context and page that record requests, CSP violations, CSP console errors and page errors. */
async function open(viewport = DESKTOP, { record = true } = {}) {
  const context = await browser.newContext({ viewport });
  const seen = { violations: [], console: [], errors: [] };
  await context.exposeBinding("__kgViolation", (_, v) => (record ? violations : seen.violations).push(v));
  await context.addInitScript(() =>
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__kgViolation({ directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile, sample: e.sample }),
    ),
  );
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  page.on("request", (r) => requested.push(r.url()));
  page.on("console", (m) => {
    if (/content security policy/i.test(m.text())) seen.console.push(m.text());
  });
  page.on("pageerror", (e) => seen.errors.push(String(e)));
  return { context, page, seen };
}

/** Asserts a page saw no CSP refusal and no uncaught error. */
function clean(seen) {
  assert.deepEqual(seen.console, [], "CSP errors in the console");
  assert.deepEqual(seen.errors, [], "uncaught errors in the page");
  assert.deepEqual(violations, [], "securitypolicyviolation events");
}

const tokenLabel = "Admin token or admin API key";

/** Signs in through the form with `token`. */
async function signIn(page, site, token = ADMIN_TOKEN) {
  await page.goto(site.page);
  await page.getByLabel(tokenLabel).fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { level: 1, name: "Keys" }).waitFor();
}

/** Goes to a dashboard hash and waits for the page's h1 (`heading`). */
async function go(page, hash, heading) {
  await page.evaluate((h) => (location.hash = h), hash);
  await page.getByRole("heading", { level: 1, name: heading }).waitFor();
}

/** Runs axe-core on the page; fails on any serious or critical violation. */
async function axe(page, what) {
  // page.evaluate is not subject to the page's CSP (an added <script> would be).
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  assert.deepEqual(bad, [], `axe on ${what}`);
  return result;
}

/** The page's width when it is wider than the screen, else 0. */
const overflow = (page) =>
  page.evaluate(() => (document.documentElement.scrollWidth > window.innerWidth ? document.documentElement.scrollWidth : 0));

/** An API call through keygate with `key`: status and error code. */
async function use(worker, key, p = "/v1/anything") {
  const res = await worker.fetch(p, { headers: { "x-api-key": key } });
  const body = await res.json();
  return { status: res.status, code: body.error?.code };
}

/** The admin token's view of a key. */
async function read(worker, id) {
  const res = await worker.fetch(`/_keygate/v1/keys/${id}`, { headers: admin() });
  assert.equal(res.status, 200);
  return (await res.json()).data;
}

/** How many keys the registry lists (fewer than a page, in these tests). */
async function total(worker) {
  const res = await worker.fetch("/_keygate/v1/keys?per_page=100", { headers: admin() });
  return (await res.json()).data.length;
}

/** The secret shown in the open dialog, after checking the dialog says it is shown once. */
async function secretFromDialog(page) {
  const dialog = page.locator("dialog[open]");
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /Copy it now: you will not see it again/);
  const secret = await dialog.getByLabel("Secret key").inputValue();
  assert.match(secret, /^sk_live_[0-9A-Za-z]{38}$/);
  assert.equal(await dialog.getByLabel("Secret key").isEditable(), false, "read-only");
  return { dialog, secret };
}

/** No URL any page requested holds the admin token or `also` (secrets). */
function noSecretsInUrls(...also) {
  for (const url of requested) {
    for (const secret of [ADMIN_TOKEN, ...also]) {
      assert.ok(!url.includes(secret) && !decodeURIComponent(url).includes(secret), `a secret in a URL: ${url}`);
    }
  }
}

test("a wrong token gets the API's error and no data", async () => {
  const site = await fresh();
  await issue(site.worker, { name: "project-nightingale" });
  const { context, page, seen } = await open();
  try {
    await page.goto(site.page);
    await page.getByLabel(tokenLabel).fill("not-the-admin-token-at-all-000000");
    await page.getByRole("button", { name: "Sign in" }).click();
    const alert = page.getByRole("alert");
    await alert.waitFor();
    assert.match(await alert.innerText(), /A valid admin token is required/);
    assert.equal(await page.getByLabel(tokenLabel).inputValue(), "", "the field is cleared");
    assert.equal(await page.locator("table, tbody tr").count(), 0, "no table");
    assert.ok(!(await page.content()).includes("project-nightingale"), "no key name on the page");
    assert.equal(await page.getByRole("heading", { level: 1, name: "Keys" }).count(), 0);
    assert.deepEqual((await context.cookies()).filter((c) => c.name === "keygate_session"), [], "no session");
    clean(seen);
    noSecretsInUrls("not-the-admin-token-at-all-000000");
  } finally {
    await context.close();
  }
});

test("the key list pages by cursor: Older goes on, Newer and Back come back, a link opens the same page", async () => {
  const site = await fresh();
  const names = [];
  for (let i = 0; i < 12; i++) names.push((await issue(site.worker, { name: `paged ${String(i).padStart(2, "0")}`, owner_id: "cus_pager" })).name);
  const { context, page, seen } = await open();
  try {
    await signIn(page, site);
    const shown = async () => page.locator("table.keys tbody th").allInnerTexts();
    await go(page, "#/keys?owner_id=cus_pager&per_page=10", "Keys");
    await page.getByText("Page 1: 10 keys, more after").waitFor();
    assert.deepEqual(await shown(), names.slice(2).reverse(), "newest first");
    await page.getByRole("link", { name: "Older →" }).click();
    await page.getByText("Page 2: 2 keys").waitFor();
    assert.deepEqual(await shown(), names.slice(0, 2).reverse());
    assert.equal(await page.getByRole("link", { name: "Older →" }).count(), 0, "no page after the last");
    const second = page.url();
    await page.getByRole("link", { name: "← Newer" }).click();
    await page.getByText("Page 1: 10 keys, more after").waitFor();
    await page.goBack();
    await page.getByText("Page 2: 2 keys").waitFor();
    await page.goto(second);
    await page.getByText("Page 2: 2 keys").waitFor();
    clean(seen);
  } finally {
    await context.close();
  }
});

test("a key's whole life in the dashboard: create, use, search, edit, rotate, revoke, sign out", async () => {
  const site = await fresh();
  const { worker } = site;
  await issue(worker, { name: "decoy key" });
  const { context, page, seen } = await open();
  try {
    await signIn(page, site);
    assert.match(await page.locator("header").innerText(), /Signed in as\s+admin token/);

    // Create, through every kind of control; the secret is shown once.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Create key" }).click();
    await page.getByRole("heading", { level: 1, name: "Create key" }).waitFor();
    const name = "checkout service";
    await page.getByRole("textbox", { name: "Name", exact: true }).fill(name);
    await page.getByLabel("Description").fill("made by the dashboard test");
    await page.getByLabel("Owner id").fill("cus_dash");
    await page.getByLabel("Requests per minute").fill("100");
    await page.getByLabel("Admission").selectOption("exact");
    await page.getByLabel("Scopes").fill("orders:read\norders:write");
    await page.getByLabel("Metadata (JSON object)").fill('{"team": "payments"}');
    await page.getByRole("button", { name: "Create key" }).click();
    const { dialog, secret } = await secretFromDialog(page);
    await dialog.getByRole("button", { name: "Copy" }).click();
    await dialog.getByText(/Copied to the clipboard|The key is selected/).waitFor();
    assert.deepEqual(await use(worker, secret), { status: 200, code: undefined });

    // Closing goes to the key's page.
    await dialog.getByRole("button", { name: "Done" }).click();
    await page.getByRole("heading", { level: 1, name }).waitFor();
    const id = decodeURIComponent(new URL(page.url()).hash.replace("#/keys/", ""));
    assert.match(id, /^key_[0-9A-Za-z]{18}$/);
    const created = await read(worker, id);
    assert.equal(created.owner_id, "cus_dash");
    assert.equal(created.admission, "exact");
    assert.deepEqual(created.scopes, ["orders:read", "orders:write"]);
    assert.deepEqual(created.metadata, { team: "payments" });
    assert.equal(created.rate_limits.per_minute, 100);

    // Search finds it, and only it.
    await go(page, "#/keys", "Keys");
    await page.getByRole("searchbox", { name: "Search" }).fill("checkout");
    await page.getByRole("searchbox", { name: "Search" }).press("Enter");
    await page.waitForURL(/#\/keys\?q=checkout/);
    await page.getByText("Page 1: 1 key").waitFor();
    const rows = page.locator("table.keys tbody tr");
    assert.equal(await rows.count(), 1);
    assert.match(await rows.first().innerText(), /checkout service/);
    assert.match(await rows.first().innerText(), new RegExp(created.display.replace("…", ".")));
    await rows.first().getByRole("link", { name }).click();
    await page.getByRole("heading", { level: 1, name }).waitFor();

    // A refused edit names its field next to the control; a good one lands.
    const edit = page.locator("form", { has: page.getByRole("button", { name: "Save changes" }) });
    await edit.getByLabel("Requests per day").fill("0");
    await edit.getByRole("button", { name: "Save changes" }).click();
    const perDayError = page.locator("#edit-rate-limits-per-day-error");
    await perDayError.waitFor();
    assert.equal(await edit.getByLabel("Requests per day").getAttribute("aria-invalid"), "true");
    assert.equal((await read(worker, id)).rate_limits.per_day, created.rate_limits.per_day, "nothing changed");
    await edit.getByRole("button", { name: "Undo changes" }).click();
    await edit.getByLabel("Requests per minute").fill("7");
    await edit.getByRole("button", { name: "Save changes" }).click();
    await page.getByText(`Saved the changes to “${name}”.`).waitFor();
    const edited = await read(worker, id);
    assert.equal(edited.rate_limits.per_minute, 7);
    assert.equal(edited.rate_limits.per_day, created.rate_limits.per_day);
    assert.equal(await edit.getByLabel("Requests per minute").inputValue(), "7");

    // Rotate with an hour's grace: both secrets work meanwhile.
    await page.getByLabel("Keep the current secret working for").selectOption("3600");
    const rotatedAt = Date.now();
    await page.getByRole("button", { name: "Rotate secret" }).click();
    const rotated = await secretFromDialog(page);
    assert.notEqual(rotated.secret, secret);
    assert.match(await rotated.dialog.innerText(), /previous secret .* keeps working until/);
    await rotated.dialog.getByRole("button", { name: "Done" }).click();
    await page.getByText(`Rotated the secret of “${name}”.`).waitFor();
    assert.deepEqual(await use(worker, secret), { status: 200, code: undefined }, "the old secret, in its grace");
    assert.deepEqual(await use(worker, rotated.secret), { status: 200, code: undefined }, "the new secret");
    const afterRotation = await read(worker, id);
    const previous = afterRotation.previous_secrets;
    assert.equal(previous.length, 1);
    const graceEnds = Date.parse(previous[0].expires_at);
    assert.ok(Math.abs(graceEnds - (rotatedAt + 3600_000)) < 60_000, `grace ends ${previous[0].expires_at}`);

    // Revoke: the dialog names the key; then the key is refused.
    await page.getByRole("button", { name: "Revoke this key…" }).click();
    const confirm = page.locator("dialog[open]");
    await confirm.getByRole("heading", { name: `Revoke “${name}”?` }).waitFor();
    assert.match(await confirm.innerText(), new RegExp(`${name} \\(${afterRotation.display.replace("…", ".")}`));
    await confirm.getByRole("button", { name: `Revoke “${name}”` }).click();
    await page.getByText(`Revoked “${name}”.`).waitFor();
    await page.locator(".page-head .status-revoked").waitFor();
    assert.deepEqual(await use(worker, rotated.secret), { status: 401, code: "key_revoked" });
    assert.equal((await read(worker, id)).status, "revoked");
    assert.equal(await page.getByRole("button", { name: "Rotate secret" }).count(), 0, "a revoked key offers no rotate");

    // The audit trail shows what the dashboard did.
    await page.reload();
    const audit = page.locator("table", { has: page.locator("caption", { hasText: "Admin actions" }) });
    await audit.waitFor();
    const actions = await audit.locator("tbody tr td:nth-child(2)").allInnerTexts();
    assert.deepEqual(actions, ["revoke", "rotate", "edit", "create"]);

    // Sign out: the cookie is gone and the pages refuse; a copy of the
    // cookie taken before is refused too (the session itself has ended).
    const [copied] = (await context.cookies()).filter((c) => c.name === "keygate_session");
    const withCopy = { headers: { cookie: `keygate_session=${copied.value}` } };
    assert.equal((await worker.fetch("/_keygate/v1/keys", withCopy)).status, 200);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel(tokenLabel).waitFor();
    assert.deepEqual((await context.cookies()).filter((c) => c.name === "keygate_session"), []);
    const afterSignOut = await worker.fetch("/_keygate/v1/keys", withCopy);
    assert.equal(afterSignOut.status, 401);
    assert.equal((await errorOf(afterSignOut)).code, "unauthorized");
    await page.goto(`${site.page}#/keys`);
    await page.getByLabel(tokenLabel).waitFor();
    assert.equal(await page.locator("table").count(), 0);
    const status = await page.evaluate(() => fetch("/_keygate/v1/keys", { credentials: "same-origin" }).then((r) => r.status));
    assert.equal(status, 401);

    clean(seen);
    noSecretsInUrls(secret, rotated.secret);
  } finally {
    await context.close();
  }
});

test("an admin key signs in, manages its keys, and is told the overview needs the admin token", async () => {
  const site = await fresh();
  const bot = await issue(site.worker, { name: "ops bot", scopes: ["admin", "*"] });
  await issue(site.worker, { name: "managed key" });
  const { context, page, seen } = await open();
  try {
    await signIn(page, site, bot.key);
    assert.match(await page.locator("header").innerText(), new RegExp(`Signed in as\\s+${bot.id}`));
    await page.locator("table.keys").getByRole("link", { name: "managed key" }).waitFor();
    await go(page, "#/overview", "Overview");
    const alert = page.getByRole("alert");
    await alert.waitFor();
    assert.match(await alert.innerText(), /The overview needs the admin token/);
    assert.match(await alert.innerText(), /insufficient_permissions|forbidden/);
    await axe(page, "overview refused to an admin key");

    // Rotating the key away ends the sessions its old secret opened: the
    // page goes back to sign-in at its next call.
    const rotated = await site.worker.fetch(`/_keygate/v1/keys/${bot.id}/rotate`, {
      method: "POST",
      headers: admin(),
      body: JSON.stringify({ expire_previous_in_seconds: 0 }),
    });
    assert.equal(rotated.status, 200, await rotated.clone().text());
    const { data: fresh } = await rotated.json();
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Keys" }).click();
    await page.getByLabel(tokenLabel).waitFor();
    await signIn(page, site, fresh.key);
    assert.match(await page.locator("header").innerText(), new RegExp(`Signed in as\\s+${bot.id}`));
    clean(seen);
    noSecretsInUrls(bot.key, fresh.key);
  } finally {
    await context.close();
  }
});

test("every page passes axe-core (no serious or critical issue), fits 390 px, and works from the keyboard", async () => {
  const site = await fresh();
  const { worker } = site;
  const { context, page, seen } = await open();
  try {
    await page.goto(site.page);
    await page.getByLabel(tokenLabel).waitFor();
    await axe(page, "sign-in");
    assert.equal(await page.evaluate(() => document.documentElement.lang), "en");

    // Sign in with the keyboard only: the field has focus on load.
    await page.keyboard.type(ADMIN_TOKEN);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { level: 1, name: "Keys" }).waitFor();
    await page.getByRole("heading", { name: "No keys yet" }).waitFor();
    await axe(page, "keys, empty");
    assert.equal(await page.locator("main").count(), 1);
    assert.equal(await page.getByRole("navigation", { name: "Main" }).count(), 1);

    // Tab reaches the navigation, focus is visible, Enter follows a link.
    let found = false;
    for (let i = 0; i < 10 && !found; i++) {
      await page.keyboard.press("Tab");
      found = await page.evaluate(() => document.activeElement?.textContent === "Overview");
    }
    assert.ok(found, "Tab reaches the Overview link");
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, "none", "focus is visible");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();

    // Create: the form, a refusal shown at its field, the dialog.
    await go(page, "#/keys/new", "Create key");
    await axe(page, "create");
    await page.getByRole("textbox", { name: "Name", exact: true }).fill("a11y key");
    await page.getByLabel("Environment").fill("Nope!");
    await page.getByRole("button", { name: "Create key" }).click();
    await page.locator("#create-environment-error").waitFor();
    // Focus moves to the field the API named (after the render that shows its message).
    await page.waitForFunction(() => document.activeElement?.id === "create-environment", null, { timeout: 2000 });
    await axe(page, "create, with a field error");
    await page.getByLabel("Environment").fill("live");
    await page.getByRole("button", { name: "Create key" }).click();
    const { dialog, secret } = await secretFromDialog(page);
    await axe(page, "create, secret dialog open");
    await dialog.getByRole("button", { name: "Done" }).click();
    await page.getByRole("heading", { level: 1, name: "a11y key" }).waitFor();

    // Usage, then the detail page with its charts.
    for (let i = 0; i < 3; i++) assert.equal((await use(worker, secret)).status, 200);
    await use(worker, "sk_live_not-a-real-key");
    const refusedAt = Date.now();
    await page.reload();
    await page.locator(".chart-box canvas").first().waitFor();
    await axe(page, "detail");
    await page.getByRole("button", { name: "Revoke this key…" }).click();
    await page.locator("dialog[open]").waitFor();
    await axe(page, "detail, revoke dialog open");
    await page.keyboard.press("Escape");
    await page.locator("dialog[open]").waitFor({ state: "detached" });

    // An isolate reports refusals made before any key (here, the invalid
    // key) at most every 5 s, with a later request: make one, then look.
    await new Promise((r) => setTimeout(r, Math.max(0, refusedAt + 5200 - Date.now())));
    await use(worker, "sk_live_not-a-real-key-either");
    await go(page, "#/overview", "Overview");
    const invalidRow = page.getByRole("table", { name: "Totals by outcome" }).getByRole("row", { name: /Invalid API key/ });
    await invalidRow.waitFor();
    assert.equal(await invalidRow.locator("td").first().innerText(), "1", "the invalid key is counted");
    await axe(page, "overview");

    for (let i = 0; i < 3; i++) await issue(worker, { name: `listed key ${i}`, owner_id: "cus_a11y" });
    await go(page, "#/keys", "Keys");
    await page.locator("table.keys tbody tr").nth(3).waitFor();
    assert.equal(await page.locator("table.keys tbody tr td.num").first().innerText(), "0", "requests today, for a new key");
    await axe(page, "keys");

    // A phone: nothing wider than the screen.
    const phone = await open(PHONE);
    try {
      await signIn(phone.page, site);
      await phone.page.locator("table.keys tbody tr").first().waitFor();
      assert.equal(await overflow(phone.page), 0, "keys at 390 px");
      await axe(phone.page, "keys at 390 px");
      await phone.page.locator("table.keys").getByRole("link", { name: "a11y key" }).click();
      await phone.page.getByRole("heading", { level: 1, name: "a11y key" }).waitFor();
      await phone.page.locator(".chart-box canvas").first().waitFor();
      assert.equal(await overflow(phone.page), 0, "detail at 390 px");
      await axe(phone.page, "detail at 390 px");
      await go(phone.page, "#/keys/new", "Create key");
      assert.equal(await overflow(phone.page), 0, "create at 390 px");
      clean(phone.seen);
    } finally {
      await phone.context.close();
    }
    clean(seen);
    noSecretsInUrls(secret);
  } finally {
    await context.close();
  }
});

test("security: page headers, no inline script, the session cookie, cross-site writes, forged and expired sessions", async () => {
  const site = await fresh();
  const { worker, base } = site;

  // Every page and file carries the policy.
  for (const p of ["/_keygate/", "/_keygate/ui/app.js", "/_keygate/ui/app.css"]) {
    const res = await fetch(base + p);
    assert.equal(res.status, 200, p);
    assert.equal(res.headers.get("content-security-policy"), CSP, p);
    assert.equal(res.headers.get("x-frame-options"), "DENY", p);
    assert.equal(res.headers.get("referrer-policy"), "no-referrer", p);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", p);
    await res.arrayBuffer();
  }

  const { context, page, seen } = await open();
  try {
    const startedAt = Date.now() / 1000;
    await signIn(page, site);

    // The cookie: HttpOnly, Secure, SameSite=Strict, 12 hours, not readable by the page.
    const cookies = (await context.cookies()).filter((c) => c.name === "keygate_session");
    assert.equal(cookies.length, 1);
    const [cookie] = cookies;
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.secure, true);
    assert.equal(cookie.sameSite, "Strict");
    assert.equal(cookie.path, "/_keygate");
    assert.ok(cookie.expires > startedAt + TWELVE_HOURS - 60 && cookie.expires <= Date.now() / 1000 + TWELVE_HOURS + 5, `expires ${cookie.expires}`);
    assert.ok(!(await page.evaluate(() => document.cookie)).includes("keygate_session"));
    for (const store of ["localStorage", "sessionStorage"]) {
      assert.equal(await page.evaluate((s) => window[s].length, store), 0, `${store} is unused`);
    }

    // An inline script added to the page does not run, and CSP says why.
    await page.evaluate(() => {
      const s = document.createElement("script");
      s.textContent = "window.__pwned = 1";
      document.body.append(s);
    });
    await page.waitForTimeout(100);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    const blocked = violations.splice(0);
    assert.ok(blocked.some((v) => /^script-src/.test(v.directive) && v.blocked === "inline"), JSON.stringify(blocked));
    seen.console.splice(0);

    // A write with the cookie from another site is refused; nothing is created.
    const before = await total(worker);
    const crossSite = await worker.fetch("/_keygate/v1/keys", {
      method: "POST",
      headers: { cookie: `keygate_session=${cookie.value}`, origin: "http://evil.example", "content-type": "application/json" },
      body: JSON.stringify({ name: "planted", environment: "live" }),
    });
    assert.equal(crossSite.status, 403);
    assert.equal((await crossSite.json()).error.code, "cross_site_request");
    const noOrigin = await worker.fetch("/_keygate/v1/keys", {
      method: "POST",
      headers: { cookie: `keygate_session=${cookie.value}`, "sec-fetch-site": "cross-site", "content-type": "application/json" },
      body: JSON.stringify({ name: "planted", environment: "live" }),
    });
    assert.equal(noOrigin.status, 403);
    assert.equal((await noOrigin.json()).error.code, "cross_site_request");
    assert.equal(await total(worker), before, "nothing created");

    // The genuine cookie reads; a forged one (one signature character flipped) does not.
    const genuine = await worker.fetch("/_keygate/v1/keys", { headers: { cookie: `keygate_session=${cookie.value}` } });
    assert.equal(genuine.status, 200);
    await genuine.arrayBuffer();
    const last = cookie.value.at(-1);
    const forged = cookie.value.slice(0, -1) + (last === "0" ? "1" : "0");
    const refused = await worker.fetch("/_keygate/v1/keys", { headers: { cookie: `keygate_session=${forged}` } });
    assert.equal(refused.status, 401);
    assert.equal((await refused.json()).error.code, "unauthorized");

    clean(seen);
    noSecretsInUrls();
  } finally {
    await context.close();
  }

  // A session past its time is refused as expired.
  const short = await fresh({ SESSION_TTL_SECONDS: "2" });
  const own = new URL(String(short.worker.url)).origin;
  const signedIn = await fetch(`${own}/_keygate/session`, {
    method: "POST",
    headers: { origin: own, "content-type": "application/json" },
    body: JSON.stringify({ token: ADMIN_TOKEN }),
  });
  assert.equal(signedIn.status, 200);
  await signedIn.arrayBuffer();
  const value = /keygate_session=([^;]+)/.exec(signedIn.headers.getSetCookie().join("\n"))?.[1];
  assert.ok(value, "a session cookie");
  const now = await fetch(`${own}/_keygate/session`, { headers: { cookie: `keygate_session=${value}` } });
  assert.equal(now.status, 200);
  await now.arrayBuffer();
  await new Promise((r) => setTimeout(r, 3000));
  const later = await fetch(`${own}/_keygate/session`, { headers: { cookie: `keygate_session=${value}` } });
  assert.equal(later.status, 401);
  assert.equal((await later.json()).error.code, "session_expired");
  const list = await fetch(`${own}/_keygate/v1/keys`, { headers: { cookie: `keygate_session=${value}` } });
  assert.equal(list.status, 401);
  assert.equal((await list.json()).error.code, "session_expired");

  // Failed sign-ins count toward the admin guard, as wrong bearer tokens
  // do: past 20 in a minute a client is throttled, and the right token
  // from the same client still signs in.
  const guarded = (token) =>
    fetch(`${own}/_keygate/session`, {
      method: "POST",
      headers: { origin: own, "content-type": "application/json", "cf-connecting-ip": "203.0.113.9" },
      body: JSON.stringify({ token }),
    }).then(async (r) => [r.status, (await r.json()).error?.code]);
  const guesses = [];
  for (let i = 0; i < 22; i++) guesses.push(await guarded(`a-wrong-guess-of-some-length-${i}`));
  assert.deepEqual(guesses.slice(0, 20).map(([status]) => status), Array(20).fill(401));
  assert.deepEqual(guesses.slice(20), [[429, "rate_limited"], [429, "rate_limited"]]);
  assert.equal((await guarded(ADMIN_TOKEN))[0], 200);
});

test("screenshots for the README (with SCREENSHOTS=<dir>)", { skip: !process.env.SCREENSHOTS }, async () => {
  const dir = process.env.SCREENSHOTS;
  mkdirSync(dir, { recursive: true });
  const site = await fresh();
  const { worker } = site;
  const busy = await issue(worker, { name: "acme production", owner_id: "cus_acme", rate_limits: { per_minute: 5 } });
  await issue(worker, { name: "acme staging", environment: "test", owner_id: "cus_acme" });
  await issue(worker, { name: "mobile app (read-only)", type: "publishable", scopes: ["catalog:read"] });
  const old = await issue(worker, { name: "legacy integration", owner_id: "cus_globex" });
  await worker.fetch(`/_keygate/v1/keys/${old.id}`, { method: "DELETE", headers: admin() });
  for (let i = 0; i < 7; i++) await use(worker, busy.key);
  for (let i = 0; i < 3; i++) await use(worker, "sk_live_guessed0000000000000000000000000000000");

  const { context, page } = await open(DESKTOP);
  try {
    await signIn(page, site);
    await page.locator("table.keys tbody tr").nth(3).waitFor();
    await page.screenshot({ path: path.join(dir, "dashboard-keys.png") });

    await go(page, "#/keys/new", "Create key");
    await page.getByRole("textbox", { name: "Name", exact: true }).fill("billing worker");
    await page.getByLabel("Owner id").fill("cus_acme");
    await page.getByRole("button", { name: "Create key" }).click();
    await secretFromDialog(page);
    await page.screenshot({ path: path.join(dir, "dashboard-create.png") });
    await page.keyboard.press("Escape");

    await go(page, `#/keys/${busy.id}`, "acme production");
    await page.locator(".chart-box canvas").first().waitFor();
    await page.screenshot({ path: path.join(dir, "dashboard-detail.png") });
  } finally {
    await context.close();
  }
});
