// The forwarding step of src/api/proxy.rs, in one call: copying and
// editing headers, the origin fetch with its timeout, and the answer's
// headers, each done header by header from wasm, crossed into JavaScript
// some twenty times per request. Nothing is decided here: what to change
// comes from Rust as text (`HeaderEdits::text` in core/src/request/edits.rs,
// applied in the same order as `apply` in src/runtime/http.rs). An admitted request's log line (built in Rust
// when its record was finished, see src/api/request_record.rs) is
// finished here with the status the client gets and the latency, and
// written once, whatever becomes of the fetch.

/** What a failure is handed to the failure handler as when the origin does not answer in time. */
const TIMEOUT = "origin timeout";

/**
 * Rust's answer to an origin failure (`(error, keyId, timeoutMs) =>
 * Response`, see `proxy.rs`), registered once per isolate: a failed fetch
 * still resolves, with keygate's JSON error, so the promise can go back to
 * the runtime as it is.
 */
let failure = null;

/**
 * Rust's report of an origin failure to the key's object (`(keyId, env) =>
 * Promise`, see `proxy.rs`), for its usage counts; kept alive with
 * `ctx.waitUntil`, off the response's path.
 */
let report = null;

/** Registers the failure handler and the failure reporter. */
export function setFailure(handler, reporter) {
  failure = handler;
  report = reporter;
}

/** Applies `edits` (`HeaderEdits::text`: one edit per line, in order) to `headers`. */
function apply(headers, edits) {
  if (edits === "") return;
  for (const line of edits.split("\n")) {
    const tab = line.indexOf("\t");
    const name = line.slice(1, tab < 0 ? undefined : tab);
    switch (line[0]) {
      case "-":
        headers.delete(name);
        break;
      case "*":
        for (const present of [...headers.keys()]) {
          if (present.startsWith(name)) headers.delete(present);
        }
        break;
      case "+":
        headers.append(name, line.slice(tab + 1));
        break;
      case "=":
        headers.set(name, line.slice(tab + 1));
        break;
      default:
        throw new Error(`unknown header edit: ${line}`);
    }
  }
}

/** Reports an origin failure for `keyId`'s usage, off the response's path. */
function originFailed(keyId, env, ctx) {
  try {
    ctx.waitUntil(report(keyId, env));
  } catch {
    // A lost report loses one count, never the answer.
  }
}

/**
 * Records a request's `line` (see src/log.rs): to the log when `logged`,
 * and as one data point of the Analytics Engine dataset bound as `USAGE`,
 * when there is one (the layout the README documents for SQL queries).
 */
export function record(line, env, logged) {
  if (logged) console.log(JSON.stringify(line));
  const usage = env?.USAGE;
  if (usage === undefined) return;
  try {
    usage.writeDataPoint({
      indexes: [line.key_id ?? ""],
      blobs: [line.key_id ?? "", line.owner_id ?? "", line.outcome, `${line.method} ${line.path}`, line.country ?? ""],
      doubles: [line.cost, line.latency_ms ?? 0, line.status ?? 0, line.object_called ? 1 : 0],
    });
  } catch {
    // A lost data point loses one count, never the answer.
  }
}

/** {@link record}, for a line written whole by Rust as JSON `text`. */
export function recordText(text, env, logged) {
  record(JSON.parse(text), env, logged);
}

/**
 * Finishes an admitted request's `line` (JSON text, without `status` and
 * `latency_ms`; arrived at `started`, `Date.now()` milliseconds) with them,
 * and records it (to the log when `logged`): spliced as text, so the hot
 * path parses nothing unless Analytics Engine is bound.
 */
function written(line, logged, started, status, env) {
  if (line === undefined || line === null) return;
  const done = `${line.slice(0, -1)},"status":${status},"latency_ms":${Date.now() - started}}`;
  if (logged) console.log(done);
  if (env?.USAGE !== undefined) record(JSON.parse(done), env, false);
}

/**
 * Fetches `url` with `method`, the client's `headers` edited by
 * `requestEdits` and `body` (a stream or null), aborted by `signal` (or
 * null); resolves with the origin's answer, its headers edited by
 * `responseEdits`, or with the failure handler's answer when the origin
 * fails or gives none in `timeoutMs` (TIMEOUT); writes the request's
 * `line` (see {@link written}) once.
 */
export function forward(url, method, headers, body, signal, timeoutMs, requestEdits, responseEdits, line, logged, started, keyId, env, ctx) {
  // Every failure, thrown here or later, settles the promise: none may leave
  // it unsettled (the client would hang) or throw across into wasm.
  return new Promise((resolve) => {
    // Written once: an origin that answers after the timeout is not logged again.
    let done = false;
    const finish = (status) => {
      if (done) return;
      done = true;
      try {
        written(line, logged, started, status, env);
      } catch {
        // A lost line loses one record, never the answer.
      }
    };
    const reject = (error) => {
      try {
        const answer = failure(error, keyId, timeoutMs);
        // A body cut at the cap (keygate aborted the upload) is answered 413 by Rust.
        finish(signal?.aborted ? 413 : answer.status);
        resolve(answer);
      } catch {
        // The failure handler could not answer: keygate's own 500, still
        // JSON, so the promise resolves like every other answer (a body cut
        // at the cap is answered 413 by Rust all the same).
        finish(signal?.aborted ? 413 : 500);
        resolve(internalError());
      }
    };
    const init = { method, redirect: "manual" };
    try {
      init.headers = new Headers(headers);
      apply(init.headers, requestEdits);
    } catch (error) {
      reject(error);
      return;
    }
    if (body !== null) init.body = body;
    if (signal !== null) init.signal = signal;
    // Counted once: a fetch that answers after the timeout is not counted again.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      originFailed(keyId, env, ctx);
      reject(TIMEOUT);
    }, timeoutMs);
    fetch(url, init).then(
      (resp) => {
        clearTimeout(timer);
        if (resp.status >= 500 && !timedOut) originFailed(keyId, env, ctx);
        try {
          // A Response as the init copies status and headers (mutable now)
          // in one step, with no Headers object built separately.
          const out = new Response(resp.body, resp);
          apply(out.headers, responseEdits);
          finish(out.status);
          resolve(out);
        } catch (error) {
          reject(error);
        }
      },
      (error) => {
        clearTimeout(timer);
        // Not an origin failure when the client's body went over the cap
        // (keygate aborted the upload: 413).
        // (`signal` is undefined, not null, when wasm passes none.)
        if (!timedOut && !signal?.aborted) originFailed(keyId, env, ctx);
        reject(error);
      },
    );
  });
}

/** keygate's `internal_error` answer, for when Rust's failure handler cannot build one. */
function internalError() {
  const body = JSON.stringify({ error: { code: "internal_error", message: "Internal error." } });
  return new Response(body, { status: 500, headers: { "content-type": "application/json" } });
}

/** Whether `error` is forward's timeout. */
export function isTimeout(error) {
  return error === TIMEOUT;
}
