//! HTTP helpers: JSON responses, the one mapping from `Error` to a
//! response, applying header edits (see [`HeaderEdits`]), and the runtime clock.

use serde::Serialize;
use worker::{Headers, Response, Result};

use super::isolate;
use keygate_core::error::{Detail, Error, ErrorKind};
pub use keygate_core::request::edits::HeaderEdits;
use keygate_core::time::{Clock, Timestamp};

/// The runtime's clock. In Workers it advances only across I/O, which is
/// exactly the granularity the limiter needs.
pub struct RuntimeClock;

impl Clock for RuntimeClock {
    fn now(&self) -> Timestamp {
        // The static `Date.now()`: worker's `Date::now` allocates a `Date`.
        let ms = worker::js_sys::Date::now() as i64 + isolate::CLOCK_OFFSET_MS.get();
        Timestamp::from_millis(ms.max(0) as u64)
    }
}

/// Shifts this isolate's clock by `ms` (see `CLOCK_OFFSET_MS`).
pub fn set_clock_offset(ms: i64) {
    isolate::CLOCK_OFFSET_MS.set(ms);
}

/// Shorthand for `RuntimeClock.now()`.
pub fn now() -> Timestamp {
    RuntimeClock.now()
}

/// `at` on the runtime's own clock (`Date.now()` milliseconds, without the
/// test-only offset), for latencies measured in JavaScript.
pub fn runtime_millis(at: Timestamp) -> f64 {
    (at.as_millis() as i64 - isolate::CLOCK_OFFSET_MS.get()) as f64
}

/// Writes one structured log line (see [`keygate_core::log`]).
pub fn log<T: Serialize>(line: &T) {
    if let Ok(text) = serde_json::to_string(line) {
        worker::console_log!("{text}");
    }
}

/// A JSON response with `status`.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    Ok(Response::from_json(body)?.with_status(status))
}

/// A response with `body`, JSON text already.
pub fn json_text(status: u16, body: String) -> Result<Response> {
    let resp = Response::ok(body)?.with_status(status);
    resp.headers().set("Content-Type", "application/json")?;
    Ok(resp)
}

/// [`json`] for a handler that answers `Result<Response, Error>`: a
/// response that cannot be built is keygate's own failure (500).
pub fn reply<T: Serialize>(status: u16, body: &T) -> std::result::Result<Response, Error> {
    json(status, body).map_err(encoding_failed)
}

/// [`json_text`] for a handler that answers `Result<Response, Error>`.
pub fn reply_text(status: u16, body: String) -> std::result::Result<Response, Error> {
    json_text(status, body).map_err(encoding_failed)
}

/// The error for a response that could not be built (logged: it is a bug
/// or the runtime's failure, never the client's).
pub fn encoding_failed(e: worker::Error) -> Error {
    worker::console_error!("response encoding failed: {e}");
    Error::INTERNAL
}

/// Applies `edits` to `headers`.
pub fn apply(edits: &HeaderEdits, headers: &Headers) -> Result<()> {
    for name in &edits.delete {
        headers.delete(name)?;
    }
    if let Some(prefix) = edits.strip_prefix {
        let matching: Vec<String> = headers.keys().filter(|n| n.starts_with(prefix)).collect();
        for name in matching {
            headers.delete(&name)?;
        }
    }
    for (name, value) in &edits.append {
        headers.append(name, value)?;
    }
    for (name, value) in &edits.set {
        headers.set(name, value)?;
    }
    Ok(())
}

/// The response for `error`: its status, its JSON body, and for 429 the
/// rate-limit headers and `Retry-After`.
pub fn error_response(error: &Error, now: Timestamp) -> Result<Response> {
    error_response_with(error, now, HeaderEdits::default())
}

/// [`error_response`], with `edits` (e.g. a key's CORS headers) also applied.
pub fn error_response_with(
    error: &Error,
    now: Timestamp,
    mut edits: HeaderEdits,
) -> Result<Response> {
    let resp = json(error.status(), &error.body(now))?;
    if let Detail::RateLimit { quota, quotas, .. } = error.detail() {
        edits.rate_limit(quota, quotas, [None, None], now);
    }
    if let Some(secs) = error.retry_after_secs(now) {
        edits.set("Retry-After", secs.to_string());
    }
    if error.status() == 401 {
        edits.set("WWW-Authenticate", "Bearer");
    }
    if let (ErrorKind::MethodNotAllowed, Detail::Text(allow)) = (error.kind(), error.detail()) {
        edits.set("Allow", allow.clone());
    }
    apply(&edits, resp.headers())?;
    Ok(resp)
}
