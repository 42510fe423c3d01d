// api.js — the dashboard's only way to the Worker: same-origin JSON calls
// that carry the session cookie (never a token), and one error shape for
// every failure ({status, code, message, field}). A 401 that means "this
// session is over" hands control back to the sign-in page.

/** The admin prefix: the page is served at `${PREFIX}/`, so everything before its last `/`. */
export const PREFIX = location.pathname.replace(/\/[^/]*$/, "");

/** A failed call, as the API described it. */
export class ApiError extends Error {
  constructor(status, { code = "error", message, field, ...rest } = {}) {
    super(message || `The request failed (HTTP ${status}).`);
    this.status = status;
    this.code = code;
    this.field = field;
    this.detail = rest;
  }
}

let signedOut = () => {};

/** `fn` runs when a call finds the session gone (expired, signed out elsewhere, forged). */
export function onSignedOut(fn) {
  signedOut = fn;
}

/** Codes that always mean the session (not the key a call is about) is not valid. */
const SESSION_GONE = new Set(["unauthorized", "session_expired", "missing_api_key"]);

/**
 * Calls `${PREFIX}${path}` with `method` and an optional JSON `body`.
 * Resolves to the parsed body (`null` for 204); rejects with an ApiError.
 * `session: true` marks the sign-in/out calls, whose 401 is the answer
 * itself rather than a lost session.
 */
export async function call(path, { method = "GET", body, session = false } = {}) {
  const init = { method, credentials: "same-origin", cache: "no-store", headers: { accept: "application/json" } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(PREFIX + path, init);
  } catch {
    throw new ApiError(0, { code: "network", message: "The Worker could not be reached. Check your connection and try again." });
  }
  if (res.status === 204) return null;
  let json = null;
  try {
    json = await res.json();
  } catch {
    // Not JSON: described below by status.
  }
  if (res.ok && json) return json;
  const error = new ApiError(res.status, json?.error ?? {});
  // A 401 on a call about one key (e.g. editing a revoked key) is about
  // that key; anywhere else, or with a session code, the session is over.
  // The key may be the signed-in admin key itself: then the session has
  // ended with it, which the session route tells.
  const aboutOneKey = /^\/v1\/keys\/key_/.test(path);
  if (!session && res.status === 401) {
    if (SESSION_GONE.has(error.code) || !aboutOneKey) signedOut(error);
    else getSession().catch((gone) => gone.status === 401 && signedOut(gone));
  }
  throw error;
}

/** The session: who is signed in, until when; rejects (401) when nobody is. */
export const getSession = () => call("/session", { session: true }).then((r) => r.data);
/** Exchanges a token (admin token or admin key) for the session cookie. */
export const signIn = (token) => call("/session", { method: "POST", body: { token }, session: true }).then((r) => r.data);
/** Ends the session (the Worker clears the cookie). */
export const signOut = () => call("/session", { method: "DELETE", session: true });

/** `?a=1&b=2` from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** The path segment for a key id (ids are `key_` + base62, but never trust input). */
export const keyPath = (id) => `/v1/keys/${encodeURIComponent(id)}`;
