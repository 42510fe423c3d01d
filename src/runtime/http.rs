//! HTTP helpers: JSON responses, the one mapping from `Error` to a
//! response, header edits (`X-RateLimit-*`, CORS), and the runtime clock.

use serde::Serialize;
use worker::{Headers, Response, Result};

use super::isolate;
use keygate_core::error::{Detail, Error, ErrorKind};
use keygate_core::limits::credits::Credits;
use keygate_core::limits::{fields, Holder, Quota};
use keygate_core::policy::cors::{self, WebOrigin};
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

/// Response headers a browser script may read.
const EXPOSED: &str = "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, RateLimit, RateLimit-Policy, Retry-After, X-Keygate-Key-Expires";

/// Header changes decided before the response they go on exists: applied
/// here to keygate's own responses, and by `forward.js` to an origin's
/// (one crossing into JavaScript instead of one per header). Applied in
/// field order.
#[derive(Serialize, Default)]
pub struct HeaderEdits {
    /// Headers to remove, by name.
    pub delete: Vec<String>,
    /// Remove every header whose (lowercase) name starts with this.
    pub strip_prefix: Option<&'static str>,
    /// Headers to add, keeping any of the same name.
    pub append: Vec<(&'static str, String)>,
    /// Headers to set, replacing any of the same name.
    pub set: Vec<(&'static str, String)>,
}

impl HeaderEdits {
    /// Sets `name` to `value`.
    pub fn set(&mut self, name: &'static str, value: impl Into<String>) {
        self.set.push((name, value.into()));
    }

    /// `X-RateLimit-Limit`, `-Remaining` and `-Reset` (Unix seconds) and
    /// the IETF `RateLimit` for `binding`, the limit that binds first (or
    /// refused); `RateLimit-Policy` lists `all` the key's limits, if given,
    /// and the `credits` of the key and of its owner, if they have them.
    pub fn rate_limit(
        &mut self,
        binding: &Quota,
        all: &[Quota],
        credits: [Option<&Credits>; 2],
        now: Timestamp,
    ) {
        self.set("X-RateLimit-Limit", binding.limit.to_string());
        self.set("X-RateLimit-Remaining", binding.remaining.to_string());
        self.set(
            "X-RateLimit-Reset",
            binding.reset.as_secs_ceil().to_string(),
        );
        self.set("RateLimit", fields::ratelimit(binding, now));
        if !all.is_empty() {
            let mut policy = fields::policy(all);
            let holders = [Holder::Key, Holder::Owner];
            for (credits, holder) in credits.into_iter().zip(holders) {
                if let Some(credits) = credits {
                    policy.push_str(", ");
                    policy.push_str(&fields::credits(credits, holder));
                }
            }
            self.set("RateLimit-Policy", policy);
        }
    }

    /// keygate's CORS decision for a key with `allowed` origins, on any
    /// answer about that key (success or refusal): the origin's own
    /// `Access-Control-*` headers are dropped, and a listed `browser_origin`
    /// may read the answer, rate-limit headers and `Retry-After` included.
    pub fn cors(&mut self, allowed: &[WebOrigin], browser_origin: Option<&str>) {
        if allowed.is_empty() {
            return;
        }
        self.strip_prefix = Some("access-control-");
        self.append.push(("Vary", "Origin".into()));
        if let Some(origin) = browser_origin.filter(|o| cors::is_allowed(allowed, o)) {
            self.set("Access-Control-Allow-Origin", origin);
            self.set("Access-Control-Expose-Headers", EXPOSED);
        }
    }

    /// Applies the edits to `headers`.
    pub fn apply(&self, headers: &Headers) -> Result<()> {
        for name in &self.delete {
            headers.delete(name)?;
        }
        if let Some(prefix) = self.strip_prefix {
            let matching: Vec<String> = headers.keys().filter(|n| n.starts_with(prefix)).collect();
            for name in matching {
                headers.delete(&name)?;
            }
        }
        for (name, value) in &self.append {
            headers.append(name, value)?;
        }
        for (name, value) in &self.set {
            headers.set(name, value)?;
        }
        Ok(())
    }
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
    edits.apply(resp.headers())?;
    Ok(resp)
}
