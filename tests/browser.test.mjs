// A real browser (Debian's Chromium, driven by playwright-core) calling
// the API through keygate with a publishable key: a page on a listed origin
// reads a 200's rate-limit headers and a 429's `retry_after` and
// `Retry-After`; a page on any other origin reads nothing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import { awayFromMinuteEdge, issue, startOrigin, startWorker } from "./harness.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let origin;
let worker;
let browser;
const pages = [];

/** Serves one empty HTML page on 127.0.0.1: each server is its own web origin. */
async function site() {
  const server = http.createServer((_, res) => {
    res.setHeader("content-type", "text/html");
    res.end("<!doctype html><title>app</title>");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  pages.push(server);
  return `http://127.0.0.1:${server.address().port}`;
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: \`make test\` installs Debian's chromium`);
  origin = await startOrigin();
  worker = await startWorker({ vars: { ORIGIN_LIVE: origin.url } });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});
after(async () => {
  await browser?.close();
  await worker?.dispose();
  await origin?.close();
  for (const s of pages) s.close();
});

/** Runs two fetches with the key from a page at `at`; returns what the page could read. */
async function fromPage(at, api, key) {
  const page = await browser.newPage();
  try {
    await page.goto(at);
    return await page.evaluate(
      async ({ api, key }) => {
        const read = async () => {
          try {
            const res = await fetch(`${api}/v1/data`, { headers: { "X-API-Key": key } });
            return {
              status: res.status,
              remaining: res.headers.get("X-RateLimit-Remaining"),
              retryAfter: res.headers.get("Retry-After"),
              body: await res.json(),
            };
          } catch (e) {
            return { blocked: String(e) };
          }
        };
        return [await read(), await read()];
      },
      { api, key },
    );
  } finally {
    await page.close();
  }
}

test("a page on a listed origin reads the rate-limit headers and a 429's retry_after; another origin reads nothing", async () => {
  const app = await site();
  const elsewhere = await site();
  const api = String(worker.url).replace(/\/$/, "");
  const listed = await issue(worker, { type: "publishable", allowed_origins: [app], rate_limits: { per_minute: 1 } });
  await awayFromMinuteEdge(10_000);
  const [ok, limited] = await fromPage(app, api, listed.key);
  assert.equal(ok.status, 200, JSON.stringify(ok));
  assert.equal(ok.remaining, "0");
  assert.equal(limited.status, 429, JSON.stringify(limited));
  assert.equal(limited.body.error.code, "rate_limited");
  assert.ok(limited.body.error.retry_after >= 1);
  assert.ok(Number(limited.retryAfter) >= 1, "Retry-After is readable");

  const other = await issue(worker, { type: "publishable", allowed_origins: [app] });
  const [first, second] = await fromPage(elsewhere, api, other.key);
  assert.ok(first.blocked && second.blocked, `another origin read something: ${JSON.stringify([first, second])}`);
});
