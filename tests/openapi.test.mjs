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
  await run("editKey", { path: `/v1/keys/${id}`, method: "PATCH", body: { description: "edited", expires_at: null }, expect: 200 });
  await run("editKey", { path: `/v1/keys/${id}`, method: "PATCH", body: { scopes: "nope" }, expect: 422 });
  await run("whoami", { path: "/v1/whoami", method: "GET", headers: bearer(key), expect: 200 });
  await run("whoami", { path: "/v1/whoami", method: "GET", headers: {}, expect: 401 });
  await run("verifyKey", { path: "/v1/verify", method: "POST", body: { key, permission: "orders:read" }, expect: 200 });
  await run("verifyKey", { path: "/v1/verify", method: "POST", body: { key: "nope" }, expect: 200 });
  await run("verifyKey", { path: "/v1/verify", method: "POST", body: { key, cost: "x" }, expect: 422 });
  const rotated = await run("rotateKey", { path: `/v1/keys/${id}/rotate`, method: "POST", body: { expire_previous_in_seconds: 60 }, expect: 200 });
  await run("rotateKey", { path: "/v1/keys/key_0000000000000000/rotate", method: "POST", body: {}, expect: 404 });
  await run("revokeLeaked", { path: "/v1/keys/revoke-leaked", method: "POST", body: [{ token: rotated.data.key, type: "keygate", url: "https://example.com/leak", source: "content" }], expect: 200 });
  await run("revokeLeaked", { path: "/v1/keys/revoke-leaked", method: "POST", body: { nope: 1 }, expect: 422 });
  await run("revokeKey", { path: `/v1/keys/${id}`, method: "DELETE", expect: 200 });
  await run("keyAudit", { path: `/v1/keys/${id}/audit`, method: "GET", expect: 200 });
  await run("keyAudit", { path: "/v1/keys/key_0000000000000000/audit", method: "GET", expect: 404 });
  await run("revokeKey", { path: "/v1/keys/key_0000000000000000", method: "DELETE", expect: 404 });

  const documented = Object.values(doc.paths).flatMap((item) => Object.entries(item).filter(([m]) => m !== "parameters").map(([, o]) => o.operationId));
  assert.deepEqual([...exercised].sort(), [...documented].sort(), "some documented operation was not exercised");
});

test("routes outside the document do not exist", async () => {
  for (const [method, path] of [["PUT", "/v1/keys"], ["GET", "/v1/verify"], ["POST", "/v1/whoami"], ["GET", "/v2/keys"]]) {
    const res = await worker.fetch(`/_keygate${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.ok([404, 405].includes(res.status), `${method} ${path} answered ${res.status}`);
    await res.arrayBuffer();
  }
});
