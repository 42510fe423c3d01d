// The served OpenAPI document matches the running Worker: every documented
// operation is exercised, and every response's status and body must be
// documented for that operation and validate against its schema.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Ajv2020 from "ajv/dist/2020.js";
import { ADMIN_TOKEN, admin, bearer, issue, startOrigin, startWorker } from "./harness.mjs";

let origin;
let worker;
let doc;
let ajv;

before(async () => {
  origin = await startOrigin();
  worker = await startWorker({ vars: { ORIGIN_LIVE: origin.url } });
  const res = await worker.fetch("/_keygate/openapi.json");
  assert.equal(res.status, 200);
  doc = await res.json();
  ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema({ $id: "doc", ...doc });
});
after(async () => {
  await worker?.dispose();
  await origin?.close();
});

/** Sends a request for `operationId` and checks the answer against the document. */
async function check(operationId, { path, method, body, headers = admin(), expect }) {
  const [docPath, op] = Object.entries(doc.paths)
    .flatMap(([p, item]) => Object.entries(item).filter(([m]) => m !== "parameters").map(([m, o]) => [p, { ...o, method: m }]))
    .find(([, o]) => o.operationId === operationId) ?? [];
  assert.ok(op, `${operationId} is not documented`);
  assert.equal(op.method, method.toLowerCase(), `${operationId} documented with another method`);
  const concrete = new RegExp("^" + docPath.replace(/\{[^}]+\}/g, "[^/]+") + "(\\?.*)?$");
  assert.match(path, concrete, `${path} does not fit documented ${docPath}`);
  const res = await worker.fetch(`/_keygate${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, expect, `${operationId}: ${text}`);
  const documented = op.responses[String(res.status)];
  assert.ok(documented, `${operationId} answered ${res.status}, which is not documented`);
  const schema = documented.content?.["application/json"]?.schema;
  if (schema) {
    const pointer = `doc#/paths/${docPath.replaceAll("~", "~0").replaceAll("/", "~1")}/${op.method}/responses/${res.status}/content/application~1json/schema`;
    const validate = ajv.getSchema(pointer);
    const value = JSON.parse(text);
    assert.ok(validate(value), `${operationId} ${res.status} body does not match the document: ${ajv.errorsText(validate.errors)}\n${text}`);
    if (op.requestBody && body !== undefined && typeof body !== "string" && expect < 300) {
      const reqPointer = `doc#/paths/${docPath.replaceAll("/", "~1")}/${op.method}/requestBody/content/application~1json/schema`;
      const validateReq = ajv.getSchema(reqPointer);
      assert.ok(validateReq(body), `${operationId}: the example request is not valid per the document: ${ajv.errorsText(validateReq.errors)}`);
    }
    return value;
  }
  return null;
}

test("every documented operation answers as documented", async () => {
  const exercised = new Set();
  const run = async (id, spec) => {
    exercised.add(id);
    return check(id, spec);
  };

  await run("openapi", { path: "/openapi.json", method: "GET", headers: {}, expect: 200 });
  const created = await run("createKey", {
    path: "/v1/keys",
    method: "POST",
    body: { name: "doc key", environment: "live", type: "restricted", scopes: ["orders:read"], owner_id: "cus_doc", metadata: { a: 1 }, tier: "standard", allowed_ips: ["0.0.0.0/0", "::/0"] },
    expect: 201,
  });
  const { id, key } = created.data;
  await run("createKey", { path: "/v1/keys", method: "POST", body: "{", expect: 400 });
  await run("createKey", { path: "/v1/keys", method: "POST", body: { name: "x" }, expect: 422 });
  await run("createKey", { path: "/v1/keys", method: "POST", body: { name: "x", environment: "live" }, headers: { authorization: "Bearer wrong" }, expect: 401 });
  await run("createKey", { path: "/v1/keys", method: "POST", body: { name: "x", environment: "live" }, headers: bearer(key), expect: 403 });
  await run("listKeys", { path: "/v1/keys?owner_id=cus_doc&per_page=5", method: "GET", expect: 200 });
  await run("listKeys", { path: "/v1/keys?per_page=0", method: "GET", expect: 422 });
  await run("getKey", { path: `/v1/keys/${id}`, method: "GET", expect: 200 });
  await run("getKey", { path: "/v1/keys/key_0000000000000000", method: "GET", expect: 404 });
  await run("getKey", { path: "/v1/keys/a;b", method: "GET", expect: 400 });
  await run("editKey", { path: `/v1/keys/${id}`, method: "PATCH", body: { description: "edited", expires_at: null }, expect: 200 });
  await run("editKey", { path: `/v1/keys/${id}`, method: "PATCH", body: { scopes: "nope" }, expect: 422 });
  await run("whoami", { path: "/v1/whoami", method: "GET", headers: bearer(key), expect: 200 });
  await run("whoami", { path: "/v1/whoami", method: "GET", headers: {}, expect: 401 });
  await run("verifyKey", { path: "/v1/verify", method: "POST", body: { key, permission: "orders:read" }, expect: 200 });
  await run("verifyKey", { path: "/v1/verify", method: "POST", body: { key: "nope" }, expect: 200 });
  await run("verifyKey", { path: "/v1/verify", method: "POST", body: { key, cost: "x" }, expect: 422 });
  await run("editKey", { path: `/v1/keys/${id}`, method: "PATCH", body: { credits: { remaining: 10, refill: { amount: 10, interval: "monthly", day_of_month: 31 } } }, expect: 200 });
  await run("changeCredits", { path: `/v1/keys/${id}/credits`, method: "POST", body: { op: "increment", amount: 5 }, headers: admin({ "idempotency-key": "doc-1" }), expect: 200 });
  await run("changeCredits", { path: `/v1/keys/${id}/credits`, method: "POST", body: { op: "decrement", amount: 99 }, expect: 422 });
  await run("changeCredits", { path: "/v1/keys/key_0000000000000000/credits", method: "POST", body: { op: "set", amount: 1 }, expect: 404 });
  await run("whoami", { path: "/v1/whoami", method: "GET", headers: bearer(key), expect: 200 });
  const rotated = await run("rotateKey", { path: `/v1/keys/${id}/rotate`, method: "POST", body: { expire_previous_in_seconds: 60 }, expect: 200 });
  await run("rotateKey", { path: "/v1/keys/key_0000000000000000/rotate", method: "POST", body: {}, expect: 404 });
  await run("revokeLeaked", { path: "/v1/keys/revoke-leaked", method: "POST", body: [{ token: rotated.data.key, type: "keygate", url: "https://example.com/leak", source: "content" }], expect: 200 });
  await run("revokeLeaked", { path: "/v1/keys/revoke-leaked", method: "POST", body: { nope: 1 }, expect: 422 });
  await run("revokeKey", { path: `/v1/keys/${id}`, method: "DELETE", expect: 200 });
  await run("keyAudit", { path: `/v1/keys/${id}/audit`, method: "GET", expect: 200 });
  await run("keyAudit", { path: "/v1/keys/key_0000000000000000/audit", method: "GET", expect: 404 });
  await run("keyUsage", { path: `/v1/keys/${id}/usage?granularity=minute`, method: "GET", expect: 200 });
  await run("keyUsage", { path: `/v1/keys/${id}/usage?granularity=week`, method: "GET", expect: 422 });
  await run("keyUsage", { path: "/v1/keys/key_0000000000000000/usage", method: "GET", expect: 404 });
  await run("revokeKey", { path: "/v1/keys/key_0000000000000000", method: "DELETE", expect: 404 });
  await run("getOwner", { path: "/v1/owners/cus_doc", method: "GET", expect: 404 });
  await run("putOwner", { path: "/v1/owners/cus_doc", method: "PUT", body: doc.components.schemas.OwnerLimits.example, expect: 200 });
  await run("putOwner", { path: "/v1/owners/cus_doc", method: "PUT", body: {}, expect: 422 });
  await run("putOwner", { path: "/v1/owners/cus_doc", method: "PUT", body: "{", expect: 400 });
  await run("putOwner", { path: "/v1/owners/cus_doc", method: "PUT", body: { credits: { remaining: 1 } }, headers: bearer(key), expect: 401 });
  await run("getOwner", { path: "/v1/owners/cus_doc", method: "GET", expect: 200 });
  await run("getOwner", { path: `/v1/owners/${"x".repeat(129)}`, method: "GET", expect: 422 });
  await run("ownerUsage", { path: "/v1/owners/cus_doc/usage?granularity=day", method: "GET", expect: 200 });
  await run("ownerUsage", { path: "/v1/owners/cus_doc/usage?from=soon", method: "GET", expect: 422 });
  await run("overallUsage", { path: "/v1/usage?granularity=minute", method: "GET", expect: 200 });
  await run("overallUsage", { path: "/v1/usage?to=2026-01-01T00:00:00Z&from=2026-02-01T00:00:00Z", method: "GET", expect: 422 });
  const hook = await run("createWebhook", { path: "/v1/webhooks", method: "POST", body: { url: `${origin.url}/hooks`, events: ["key.revoked"], description: "doc" }, expect: 201 });
  await run("createWebhook", { path: "/v1/webhooks", method: "POST", body: { url: "http://hooks.example.com/x" }, expect: 422 });
  await run("createWebhook", { path: "/v1/webhooks", method: "POST", body: "{", expect: 400 });
  await run("createWebhook", { path: "/v1/webhooks", method: "POST", body: { url: "https://hooks.example.com/x" }, headers: bearer(key), expect: 401 });
  await run("listWebhooks", { path: "/v1/webhooks", method: "GET", expect: 200 });
  await run("getWebhook", { path: `/v1/webhooks/${hook.data.id}`, method: "GET", expect: 200 });
  await run("getWebhook", { path: "/v1/webhooks/wh_0000000000000000", method: "GET", expect: 404 });
  await run("testWebhook", { path: `/v1/webhooks/${hook.data.id}/test`, method: "POST", expect: 202 });
  await run("testWebhook", { path: "/v1/webhooks/wh_0000000000000000/test", method: "POST", expect: 404 });
  await run("webhookDeliveries", { path: `/v1/webhooks/${hook.data.id}/deliveries`, method: "GET", expect: 200 });
  await run("webhookDeliveries", { path: "/v1/webhooks/wh_0000000000000000/deliveries", method: "GET", expect: 404 });
  await run("deleteWebhook", { path: `/v1/webhooks/${hook.data.id}`, method: "DELETE", expect: 200 });
  await run("deleteWebhook", { path: `/v1/webhooks/${hook.data.id}`, method: "DELETE", expect: 404 });
  await run("deleteOwner", { path: "/v1/owners/cus_doc", method: "DELETE", expect: 200 });
  await run("deleteOwner", { path: "/v1/owners/cus_doc", method: "DELETE", expect: 404 });

  // The dashboard's session and pages.
  const own = { origin: "http://keygate.test", "content-type": "application/json" };
  await run("signIn", { path: "/session", method: "POST", body: { token: "wrong-token-of-some-length-000" }, headers: own, expect: 401 });
  await run("signIn", { path: "/session", method: "POST", body: { token: ADMIN_TOKEN }, headers: { ...own, origin: "http://evil.example" }, expect: 403 });
  await run("signIn", { path: "/session", method: "POST", body: {}, headers: own, expect: 422 });
  await run("signIn", { path: "/session", method: "POST", body: "{", headers: own, expect: 400 });
  const signIn = await worker.fetch("/_keygate/session", { method: "POST", headers: own, body: JSON.stringify({ token: ADMIN_TOKEN }) });
  await signIn.arrayBuffer();
  const session = { cookie: signIn.headers.get("set-cookie").split(";")[0] };
  await run("signIn", { path: "/session", method: "POST", body: { token: ADMIN_TOKEN }, headers: own, expect: 200 });
  await run("getSession", { path: "/session", method: "GET", headers: session, expect: 200 });
  await run("listKeys", { path: "/v1/keys", method: "GET", headers: session, expect: 200 });
  await run("signOut", { path: "/session", method: "DELETE", headers: { ...session, origin: "http://evil.example" }, expect: 403 });
  await run("getSession", { path: "/session", method: "GET", headers: session, expect: 200 });
  await run("signOut", { path: "/session", method: "DELETE", headers: { ...session, origin: own.origin }, expect: 204 });
  await run("getSession", { path: "/session", method: "GET", headers: session, expect: 401 });
  await run("dashboard", { path: "/", method: "GET", headers: {}, expect: 200 });
  await run("dashboardFile", { path: "/ui/app.js", method: "GET", headers: {}, expect: 200 });
  await run("dashboardFile", { path: "/ui/nothing-here.js", method: "GET", headers: {}, expect: 404 });

  const documented = Object.values(doc.paths).flatMap((item) => Object.entries(item).filter(([m]) => m !== "parameters").map(([, o]) => o.operationId));
  assert.deepEqual([...exercised].sort(), [...documented].sort(), "some documented operation was not exercised");
});

test("routes outside the document do not exist", async () => {
  for (const [method, path] of [["PUT", "/v1/keys"], ["GET", "/v1/verify"], ["POST", "/v1/whoami"], ["GET", "/v2/keys"], ["PUT", "/session"], ["POST", "/"], ["DELETE", "/ui/app.js"]]) {
    const res = await worker.fetch(`/_keygate${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.ok([404, 405].includes(res.status), `${method} ${path} answered ${res.status}`);
    await res.arrayBuffer();
  }
});

/**
 * Values just inside and just outside each constraint a schema states,
 * plus probes for patterns and types. Each is judged by the document (ajv)
 * and by the server; they must agree.
 */
function probes(schema) {
  if (schema.$ref) return probes(doc.components.schemas[schema.$ref.split("/").pop()]);
  if (schema.oneOf) return schema.oneOf.flatMap(probes);
  const out = [];
  const types = [schema.type].flat().filter(Boolean);
  // An object with an example: the example, each property replaced by its
  // own probes, each required property left out, and one unknown property.
  if (types.includes("object") && schema.example) {
    out.push(schema.example, {}, { ...schema.example, unknown: 1 });
    for (const name of schema.required ?? []) {
      const { [name]: _, ...rest } = schema.example;
      out.push(rest);
    }
    for (const [name, s] of Object.entries(schema.properties ?? {})) {
      for (const v of probes(s)) out.push({ ...schema.example, [name]: v });
    }
  }
  if (schema.not?.enum) out.push(...schema.not.enum);
  if (types.includes("string")) {
    const min = schema.minLength ?? 0;
    for (const n of [min - 1, min, schema.maxLength, (schema.maxLength ?? -2) + 1]) if (n >= 0) out.push("x".repeat(n));
    out.push("", " ", "a", "x y", "é", "*", "a*b", "a:b", "a:b:c:d:e:f:g", "https://app.example.com", "https://app.example.com/path", "1", "live", "LIVE", "y".repeat(129));
  }
  if (types.includes("integer")) {
    for (const n of [schema.minimum, schema.maximum]) if (n !== undefined) out.push(n - 1, n, n + 1);
    out.push(0, 1, -1, 1.5, "7");
  }
  if (types.includes("array")) {
    const item = probes(schema.items ?? {});
    out.push([], ...item.slice(0, schema.items?.$ref ? 80 : 12).map((v) => [v]));
    if (schema.maxItems) out.push(Array.from({ length: schema.maxItems + 1 }, (_, i) => `v${i}`));
  }
  if (schema.enum) out.push(...schema.enum, "nope");
  if (types.includes("null")) out.push(null);
  return out;
}

test("the document states every constraint the server enforces: boundary values agree", async () => {
  const schemaAt = (pointer) => ajv.getSchema(pointer);
  const create = "doc#/paths/~1v1~1keys/post/requestBody/content/application~1json/schema";
  const edit = "doc#/paths/~1v1~1keys~1{id}/patch/requestBody/content/application~1json/schema";
  const verify = "doc#/paths/~1v1~1verify/post/requestBody/content/application~1json/schema";
  const credits = "doc#/paths/~1v1~1keys~1{id}~1credits/post/requestBody/content/application~1json/schema";
  const owner = "doc#/paths/~1v1~1owners~1{owner_id}/put/requestBody/content/application~1json/schema";
  const webhook = "doc#/paths/~1v1~1webhooks/post/requestBody/content/application~1json/schema";
  const ownerBase = { rate_limits: { per_minute: 100, per_day: 1000 }, credits: { remaining: 5 } };
  const base = { name: "bounds", environment: "live", type: "restricted", scopes: ["orders:read"] };
  const target = await issue(worker, { type: "restricted", scopes: ["orders:read"] });
  // Edits are probed on a secret key: a type's rules (stated on create) bind the result of an edit too.
  const editable = await issue(worker);
  const metered = await issue(worker, { credits: { remaining: 1_000_000 } });
  // Rules the document can only describe (configured environments and
  // tiers, 4 KiB of metadata, expiry in the future) are not probed here;
  // their descriptions say so.
  const skip = new Set(["tier", "metadata", "expires_at", "allowed_ips", "permissions"]);
  const cases = [];
  for (const [pointer, path, method, baseBody, props] of [
    [create, "/v1/keys", "POST", base, doc.paths["/v1/keys"].post.requestBody.content["application/json"].schema.properties],
    [edit, `/v1/keys/${editable.id}`, "PATCH", {}, doc.paths["/v1/keys/{id}"].patch.requestBody.content["application/json"].schema.properties],
    [verify, "/v1/verify", "POST", { key: target.key }, doc.paths["/v1/verify"].post.requestBody.content["application/json"].schema.properties],
    [credits, `/v1/keys/${metered.id}/credits`, "POST", { op: "set", amount: 1 }, doc.paths["/v1/keys/{id}/credits"].post.requestBody.content["application/json"].schema.properties],
    [owner, "/v1/owners/cus_probe", "PUT", ownerBase, doc.components.schemas.OwnerLimits.properties],
    [webhook, "/v1/webhooks", "POST", doc.components.schemas.NewWebhook.example, doc.components.schemas.NewWebhook.properties],
  ]) {
    for (const [field, schema] of Object.entries(props)) {
      if (skip.has(field) || field === "key") continue;
      const nested = schema.type === "object" && schema.properties ? Object.entries(schema.properties).map(([f, s]) => [`${field}.${f}`, s, (v) => ({ [field]: { [f]: v } })]) : [[field, schema, (v) => ({ [field]: v })]];
      for (const [name, s, wrap] of nested) {
        for (const value of probes(s)) cases.push({ pointer, path, method, body: { ...baseBody, ...wrap(value) }, name, value });
      }
    }
  }
  // The revoke-leaked shapes, the list's query parameters and the usage granularity.
  const leaked = "doc#/paths/~1v1~1keys~1revoke-leaked/post/requestBody/content/application~1json/schema";
  for (const body of [[], {}, { keys: [] }, { key: "x" }, { keys: ["x"] }, [{ token: "x" }], { keys: Array(101).fill("x") }]) {
    cases.push({ pointer: leaked, path: "/v1/keys/revoke-leaked", method: "POST", body, name: Array.isArray(body) ? "." : Object.keys(body)[0] ?? ".", value: body });
  }
  for (const param of doc.paths["/v1/keys"].get.parameters) {
    for (const value of probes(param.schema)) {
      if (typeof value !== "string" && typeof value !== "number") continue;
      if (param.name === "environment" && /^[a-z0-9]{1,16}$/.test(String(value)) && value !== "live") continue;
      const judged = param.schema.type === "integer" ? (String(value).match(/^-?\d+$/) ? Number(value) : String(value)) : String(value);
      cases.push({ query: true, schema: param.schema, path: `/v1/keys?${param.name}=${encodeURIComponent(String(value))}`, method: "GET", name: param.name, value: judged });
    }
  }
  const usageParam = doc.paths["/v1/keys/{id}/usage"].get.parameters.find((p) => p.name === "granularity");
  for (const value of probes(usageParam.schema)) {
    if (typeof value !== "string") continue;
    cases.push({ query: true, schema: usageParam.schema, path: `/v1/keys/${target.id}/usage?granularity=${encodeURIComponent(value)}`, method: "GET", name: "granularity", value });
  }
  assert.ok(cases.length > 150, `only ${cases.length} probes`);
  // Fields described by reference (named limits and their items) are probed too.
  for (const [field, least] of [["limits", 40], ["window", 6], ["credits", 20], ["op", 4], ["amount", 6], ["url", 15], ["events", 10]]) {
    const n = cases.filter((c) => c.name === field).length;
    assert.ok(n >= least, `only ${n} probes of ${field}`);
  }
  const ownerProbes = cases.filter((c) => c.path.startsWith("/v1/owners/")).length;
  assert.ok(ownerProbes >= 60, `only ${ownerProbes} probes of the owner body`);
  const disagreements = [];
  for (const c of cases) {
    // Environments other than the configured ones are described, not enumerated.
    if (c.name === "environment" && typeof c.value === "string" && /^[a-z0-9]{1,16}$/.test(c.value) && c.value !== "live") continue;
    const documented = c.query ? ajv.compile(c.schema)(c.value) : schemaAt(c.pointer)(c.body);
    const res = await worker.fetch(`/_keygate${c.path}`, { method: c.method, headers: admin(), body: c.query ? undefined : JSON.stringify(c.body) });
    const text = await res.text();
    const accepted = res.status < 300;
    // An accepted endpoint is removed again: a deployment holds at most 20.
    if (accepted && c.path === "/v1/webhooks") {
      await (await worker.fetch(`/_keygate/v1/webhooks/${JSON.parse(text).data.id}`, { method: "DELETE", headers: admin() })).arrayBuffer();
    }
    if (accepted !== documented) disagreements.push(`${c.method} ${c.path} ${c.name}=${JSON.stringify(c.value)}: document says ${documented ? "valid" : "invalid"}, server ${res.status} ${text.slice(0, 120)}`);
    else if (!accepted) {
      const err = JSON.parse(text).error;
      if (res.status !== 422 || !(err.field ?? "").startsWith(c.name === "." ? "" : c.name.split(".")[0])) disagreements.push(`${c.name}=${JSON.stringify(c.value)}: refused without naming the field: ${res.status} ${text.slice(0, 120)}`);
    }
  }
  assert.deepEqual(disagreements, []);
});
