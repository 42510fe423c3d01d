// The forwarding step of src/edge/proxy.rs, in one call: copying and
// editing headers, the origin fetch with its timeout, and the answer's
// headers, each done header by header from wasm, crossed into JavaScript
// some twenty times per request. Nothing is decided here: what to change
// comes from Rust as JSON (`HeaderEdits` in http.rs, applied in the same
// order as its `apply`).

/** What a failure is handed to the failure handler as when the origin does not answer in time. */
const TIMEOUT = "origin timeout";

/**
 * Rust's answer to an origin failure (`(error, keyId, timeoutMs) =>
 * Response`, see `proxy.rs`), registered once per isolate: a failed fetch
 * still resolves, with keygate's JSON error, so the promise can go back to
 * the runtime as it is.
 */
let failure = null;

/** Registers the failure handler. */
export function setFailure(handler) {
  failure = handler;
}

function apply(headers, edits) {
  for (const name of edits.delete) headers.delete(name);
  if (edits.strip_prefix !== null) {
    for (const name of [...headers.keys()]) {
      if (name.startsWith(edits.strip_prefix)) headers.delete(name);
    }
  }
  for (const [name, value] of edits.append) headers.append(name, value);
  for (const [name, value] of edits.set) headers.set(name, value);
}

/**
 * Fetches `url` with `method`, the client's `headers` edited by
 * `plan.request` and `body` (a stream or null), aborted by `signal` (or
 * null); resolves with the origin's answer, its headers edited by
 * `plan.response`, or with the failure handler's answer when the origin
 * fails or gives none in `timeoutMs` (TIMEOUT).
 */
export function forward(url, method, headers, body, signal, timeoutMs, planJson, keyId) {
  // Every failure, thrown here or later, settles the promise: none may leave
  // it unsettled (the client would hang) or throw across into wasm.
  return new Promise((resolve, fail) => {
    const reject = (error) => {
      try {
        resolve(failure(error, keyId, timeoutMs));
      } catch (thrown) {
        fail(thrown);
      }
    };
    let plan;
    const init = { method, redirect: "manual" };
    try {
      plan = JSON.parse(planJson);
      init.headers = new Headers(headers);
      apply(init.headers, plan.request);
    } catch (error) {
      reject(error);
      return;
    }
    if (body !== null) init.body = body;
    if (signal !== null) init.signal = signal;
    const timer = setTimeout(() => reject(TIMEOUT), timeoutMs);
    fetch(url, init).then(
      (resp) => {
        clearTimeout(timer);
        try {
          // A Response as the init copies status and headers (mutable now)
          // in one step, with no Headers object built separately.
          const out = new Response(resp.body, resp);
          apply(out.headers, plan.response);
          resolve(out);
        } catch (error) {
          reject(error);
        }
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Whether `error` is forward's timeout. */
export function isTimeout(error) {
  return error === TIMEOUT;
}
