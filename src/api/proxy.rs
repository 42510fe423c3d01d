//! Forwarding an admitted request to its origin and streaming the answer
//! back with the rate-limit headers. The body is never buffered. What to
//! change is decided here; `forward.js` applies it in one call (header
//! copies and edits, the fetch and its timeout, the answer).

use std::cell::Cell;
use std::rc::Rc;

use futures_util::StreamExt;
use wasm_bindgen::prelude::{wasm_bindgen, Closure};
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::{future_to_promise, JsFuture};
use worker::{js_sys, web_sys};

use super::telemetry;
use crate::objects::client;
use crate::runtime::http::{self, HeaderEdits};
use crate::runtime::isolate::{self, FAILURE_SET};
use keygate_core::analytics::overall::Counted;
use keygate_core::analytics::Outcome;
use keygate_core::credential::KeySource;
use keygate_core::error::Error;
use keygate_core::key::KeyId;
use keygate_core::keystate::{Command, Grant};
use keygate_core::limits::Quota;
use keygate_core::signature::{self, Signed, SigningKey};

/// Headers keygate sets for the origin. Every client header named
/// `X-Keygate-*` is dropped first, so the origin can trust these.
const OWN_HEADERS: [&str; 3] = [
    "X-Keygate-Key-Id",
    "X-Keygate-Environment",
    "X-Keygate-Owner-Id",
];
/// Keys expiring sooner than this get `X-Keygate-Key-Expires` on responses.
const EXPIRY_WARNING_MS: u64 = 7 * 24 * 3600 * 1000;

/// Where and how to forward an admitted request.
pub struct Forward<'a> {
    /// The origin plus the canonical path and the query.
    pub url: &'a str,
    /// The canonical path and the query: what the origin sees and the
    /// signature covers.
    pub path_and_query: &'a str,
    /// Which header carried the key (removed).
    pub source: KeySource,
    /// Client headers named `X-Keygate-*` (removed).
    pub spoofed: &'a [String],
    /// Signs the identity headers, when `ORIGIN_SECRET` is set.
    pub signing: Option<&'a SigningKey>,
    /// The method exactly as the client sent it.
    pub method: &'a str,
    /// How long the origin may take to answer before 504.
    pub timeout_ms: u64,
    /// Most body bytes forwarded (`MAX_BODY_BYTES`).
    pub max_body_bytes: u64,
    /// Whether the body's length was declared (and so checked up front).
    pub declared_length: bool,
    /// The limit to report as binding first, among those the route draws on.
    pub binding: Quota,
    /// The client's `Origin`, for the key's CORS headers.
    pub browser_origin: Option<&'a str>,
    /// The Worker's bindings and the request's context, as the runtime
    /// gave them: an origin failure is reported to the key's object from
    /// `forward.js`, kept alive by the context (see [`origin_failed`]).
    pub runtime: &'a Runtime,
}

/// An admitted request's log line, and when the request arrived (the
/// runtime's clock, milliseconds), for its latency: `forward.js` finishes
/// and records it once, when the origin answers (see `record`).
pub struct Logged {
    /// Whether the line is logged (else only counted in Analytics Engine).
    pub logged: bool,
    /// The line so far, as JSON text (`forward.js` appends to it).
    pub line: String,
    /// `Date.now()` at arrival.
    pub started: f64,
}

/// The Worker's bindings and the request's context, as the runtime gave them.
pub struct Runtime {
    /// `env`.
    pub env: JsValue,
    /// The request's `ctx`.
    pub ctx: JsValue,
}

#[wasm_bindgen(module = "/src/api/forward.js")]
extern "C" {
    /// See `forward.js`: resolves with the origin's answer, or with what
    /// the failure handler makes of a failure (see [`failed`]).
    #[wasm_bindgen(js_name = forward)]
    fn forward_js(
        url: &str,
        method: &str,
        headers: &web_sys::Headers,
        body: Option<web_sys::ReadableStream>,
        signal: Option<web_sys::AbortSignal>,
        timeout_ms: f64,
        request_edits: &str,
        response_edits: &str,
        log: Option<String>,
        logged: bool,
        started: f64,
        key_id: &str,
        env: &JsValue,
        ctx: &JsValue,
    ) -> js_sys::Promise;

    #[wasm_bindgen(js_name = isTimeout)]
    fn is_timeout(error: &JsValue) -> bool;

    #[wasm_bindgen(js_name = setFailure)]
    fn set_failure(
        handler: &Closure<dyn Fn(JsValue, String, f64) -> JsValue>,
        reporter: &Closure<dyn Fn(String, JsValue) -> js_sys::Promise>,
    );
}

/// keygate's answer when the origin fails: 504 when it gave no answer in
/// `timeout_ms`, else 502. Registered once per isolate and called from
/// `forward.js`, so the forwarding promise always resolves to a response.
fn failed(error: JsValue, key_id: String, timeout_ms: f64) -> JsValue {
    let error = if is_timeout(&error) {
        worker::console_error!("origin gave key {key_id} no answer in {timeout_ms} ms");
        Error::GATEWAY_TIMEOUT
    } else {
        let e = worker::Error::from(error);
        worker::console_error!("origin unreachable for key {key_id}: {e}");
        Error::BAD_GATEWAY
    };
    http::error_response(&error, http::now())
        .map_or(JsValue::NULL, |r| web_sys::Response::from(r).into())
}

/// Counts an origin failure (5xx, or no answer) for key `key_id` in its
/// object's usage and this isolate's batch (`origin_error`); `forward.js`
/// keeps the request alive until both are done (`ctx.waitUntil`). A lost
/// report loses that count only.
fn origin_failed(key_id: String, env: JsValue) -> js_sys::Promise {
    future_to_promise(async move {
        let env: worker::Env = env.unchecked_into();
        let reported = match (key_id.parse::<KeyId>(), isolate::config(&env)) {
            (Ok(id), Ok(config)) => {
                let command = Command::Report {
                    outcome: Outcome::OriginError,
                };
                let reported = client::key_object(&env, &config, &id, &command)
                    .await
                    .map(drop);
                telemetry::count_within(&env, Counted::one(Outcome::OriginError, Some(&id))).await;
                reported
            }
            _ => Err(Error::INTERNAL),
        };
        if let Err(e) = reported {
            worker::console_error!("origin error report for {key_id} failed: {e:?}");
        }
        Ok(JsValue::UNDEFINED)
    })
}

/// What [`prepare`] made ready: nothing left to do that can fail.
pub struct Prepared {
    /// What `forward.js` changes of the client's headers (see
    /// [`HeaderEdits::text`]).
    request_edits: String,
    /// What it changes of the origin's.
    response_edits: String,
    body: Option<web_sys::ReadableStream>,
    signal: Option<web_sys::AbortSignal>,
    over_cap: Rc<Cell<bool>>,
    cap: u64,
}

/// An origin fetch under way.
pub struct Sending {
    /// The runtime's promise of the answer: it always resolves to a
    /// response (the origin's, or keygate's 502/504).
    pub promise: js_sys::Promise,
    over_cap: Rc<Cell<bool>>,
    cap: u64,
}

impl Sending {
    /// The answer, or 413 when a streamed body crossed `MAX_BODY_BYTES`
    /// (see [`needs_cap`]).
    pub async fn settled(self) -> Result<web_sys::Response, Error> {
        let resp = JsFuture::from(self.promise).await;
        if self.over_cap.get() {
            return Err(Error::payload_too_large(
                usize::try_from(self.cap).unwrap_or(usize::MAX),
            ));
        }
        resp.map(JsCast::unchecked_into)
            .map_err(|_| Error::BAD_GATEWAY)
    }
}

/// Whether the body must be counted as it streams (a chunked body, cut
/// at `MAX_BODY_BYTES`): then the answer waits on
/// [`Sending::settled`], which turns a cut body into 413.
/// (`declared_length`: whether the body's length was declared, and so
/// checked up front).
pub fn needs_cap(req: &web_sys::Request, declared_length: bool) -> bool {
    req.body().is_some() && !declared_length
}

/// Everything that can fail before the origin fetch: the header edits
/// with the key header and any spoofed `X-Keygate-*` header removed and
/// the key's identity added (signed, when configured), the answer's
/// rate-limit and CORS headers, and a streamed body's cap.
pub fn prepare(req: &web_sys::Request, to: &Forward<'_>, grant: &Grant) -> Result<Prepared, Error> {
    let mut request = HeaderEdits::default();
    request
        .delete
        .extend(["Host", "X-API-Key"].map(String::from));
    if to.source == KeySource::Authorization {
        request.delete.push("Authorization".into());
    }
    request.delete.extend(to.spoofed.iter().cloned());
    request.set(OWN_HEADERS[0], grant.key_id.as_str());
    request.set(OWN_HEADERS[1], grant.environment.as_str());
    if let Some(owner) = &grant.owner_id {
        request.set(OWN_HEADERS[2], owner.as_str());
    }
    if let Some(signing) = to.signing {
        let signed = Signed {
            method: to.method,
            path_and_query: to.path_and_query,
            key_id: grant.key_id.as_str(),
            owner_id: grant.owner_id.as_deref(),
            environment: grant.environment.as_str(),
        };
        request.set(signature::HEADER, signing.sign(http::now(), &signed));
    }
    let mut response = HeaderEdits::default();
    response.rate_limit(
        &to.binding,
        &grant.quotas,
        [grant.credits.as_ref(), grant.owner_credits.as_ref()],
        http::now(),
    );
    if let Some(expires_at) = grant.expires_at {
        if expires_at.as_millis() <= http::now().as_millis() + EXPIRY_WARNING_MS {
            response.set("X-Keygate-Key-Expires", expires_at.to_rfc3339());
        }
    }
    response.cors(&grant.allowed_origins, to.browser_origin);

    // A declared length was checked up front (413 above the cap); a
    // chunked body is counted as it streams and cut at the cap.
    let over_cap = Rc::new(Cell::new(false));
    let (body, signal) = match req.body() {
        Some(body) if needs_cap(req, to.declared_length) => {
            // Aborts the upstream request when the body crosses the cap, so
            // the origin sees a broken request, not a short complete one.
            let abort = web_sys::AbortController::new().map_err(|_| Error::INTERNAL)?;
            let signal = abort.signal();
            let cap = Cap {
                bytes: to.max_body_bytes,
                over: over_cap.clone(),
                abort,
            };
            (Some(capped(body, cap)), Some(signal))
        }
        body => (body, None),
    };
    Ok(Prepared {
        request_edits: request.text(),
        response_edits: response.text(),
        body,
        signal,
        over_cap,
        cap: to.max_body_bytes,
    })
}

/// Starts the origin fetch `prepared` for `req`; `forward.js` finishes and
/// records `log` when the origin answers.
pub fn send(
    req: &web_sys::Request,
    to: &Forward<'_>,
    grant: &Grant,
    prepared: Prepared,
    log: Option<Logged>,
) -> Sending {
    if !FAILURE_SET.get() {
        let handler: Closure<dyn Fn(JsValue, String, f64) -> JsValue> = Closure::new(failed);
        let reporter: Closure<dyn Fn(String, JsValue) -> js_sys::Promise> =
            Closure::new(origin_failed);
        set_failure(&handler, &reporter);
        // Both live as long as the isolate: forward.js keeps calling them.
        handler.forget();
        reporter.forget();
        FAILURE_SET.set(true);
    }
    let (line, logged, started) = match log {
        Some(log) => (Some(log.line), log.logged, log.started),
        None => (None, false, 0.0),
    };
    // The method token is forwarded as the client sent it (worker's
    // `Method` would turn `MOVE` into `GET`).
    let promise = forward_js(
        to.url,
        to.method,
        &req.headers(),
        prepared.body,
        prepared.signal,
        to.timeout_ms as f64,
        &prepared.request_edits,
        &prepared.response_edits,
        line,
        logged,
        started,
        grant.key_id.as_str(),
        &to.runtime.env,
        &to.runtime.ctx,
    );
    Sending {
        promise,
        over_cap: prepared.over_cap,
        cap: prepared.cap,
    }
}

/// The most a streamed body may carry, and what to do past it.
struct Cap {
    /// Most bytes forwarded.
    bytes: u64,
    /// Set once the body went over.
    over: Rc<Cell<bool>>,
    /// Aborts the upstream fetch.
    abort: web_sys::AbortController,
}

/// `body`, passed through chunk by chunk until more than `cap.bytes` went
/// by; then the upstream fetch is aborted (so the origin sees a broken
/// request, not a short complete one) and `cap.over` is set.
fn capped(body: web_sys::ReadableStream, cap: Cap) -> web_sys::ReadableStream {
    let mut seen = 0u64;
    let counted = wasm_streams::ReadableStream::from_raw(body)
        .into_stream()
        .map(move |chunk| {
            let chunk = chunk?;
            seen += u64::from(chunk.unchecked_ref::<js_sys::Uint8Array>().byte_length());
            if seen > cap.bytes {
                cap.over.set(true);
                cap.abort.abort();
                return Err(JsValue::from_str("request body over MAX_BODY_BYTES"));
            }
            Ok(chunk)
        });
    wasm_streams::ReadableStream::from_stream(counted).into_raw()
}
