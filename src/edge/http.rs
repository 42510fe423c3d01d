//! HTTP helpers: JSON responses, the one mapping from `Error` to a
//! response, the `X-RateLimit-*` headers, and the runtime clock.

use serde::Serialize;
use worker::{Headers, Response, Result};

use crate::error::Error;
use crate::limit::Quota;
use crate::policy::cors::{self, WebOrigin};
use crate::time::{Clock, Timestamp};

/// The runtime's clock. In Workers it advances only across I/O, which is
/// exactly the granularity the limiter needs.
pub struct RuntimeClock;

impl Clock for RuntimeClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(worker::Date::now().as_millis())
    }
}

/// Shorthand for `RuntimeClock.now()`.
pub fn now() -> Timestamp {
    RuntimeClock.now()
}

/// A JSON response with `status`.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    Ok(Response::from_json(body)?.with_status(status))
}

/// Response headers a browser script may read.
const EXPOSED: &str = "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, X-Keygate-Key-Expires";

/// keygate's CORS decision for a key with `allowed` origins, on any answer
/// about that key (success or refusal): the origin's own `Access-Control-*`
/// headers are dropped, and a listed `browser_origin` may read the answer,
/// rate-limit headers and `Retry-After` included.
pub fn set_cors(
    headers: &Headers,
    allowed: &[WebOrigin],
    browser_origin: Option<&str>,
) -> Result<()> {
    if allowed.is_empty() {
        return Ok(());
    }
    let theirs: Vec<String> = headers
        .keys()
        .filter(|name| name.starts_with("access-control-"))
        .collect();
    for name in theirs {
        headers.delete(&name)?;
    }
    headers.append("Vary", "Origin")?;
    if let Some(origin) = browser_origin.filter(|o| cors::is_allowed(allowed, o)) {
        headers.set("Access-Control-Allow-Origin", origin)?;
        headers.set("Access-Control-Expose-Headers", EXPOSED)?;
    }
    Ok(())
}

/// Sets `X-RateLimit-Limit`, `-Remaining` and `-Reset` (Unix seconds).
pub fn set_rate_limit_headers(headers: &Headers, quota: &Quota) -> Result<()> {
    headers.set("X-RateLimit-Limit", &quota.limit.to_string())?;
    headers.set("X-RateLimit-Remaining", &quota.remaining.to_string())?;
    headers.set("X-RateLimit-Reset", &quota.reset.as_secs_ceil().to_string())?;
    Ok(())
}

/// The response for `error`: its status, its JSON body, and for 429 the
/// rate-limit headers and `Retry-After`.
pub fn error_response(error: &Error, now: Timestamp) -> Result<Response> {
    let resp = json(error.status(), &error.body(now))?;
    if let Error::RateLimited { quota, .. } = error {
        set_rate_limit_headers(resp.headers(), quota)?;
    }
    if let Some(secs) = error.retry_after_secs(now) {
        resp.headers().set("Retry-After", &secs.to_string())?;
    }
    if error.status() == 401 {
        resp.headers().set("WWW-Authenticate", "Bearer")?;
    }
    if let Error::MethodNotAllowed { allow } = error {
        resp.headers().set("Allow", allow)?;
    }
    Ok(resp)
}
