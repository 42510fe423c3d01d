//! Forwarding an admitted request to its origin and streaming the answer
//! back with the rate-limit headers. The body is never buffered.

use worker::{Fetch, Headers, Request, RequestInit, RequestRedirect, Response};

use super::http::{self, set_rate_limit_headers};
use crate::cors;
use crate::credential::KeySource;
use crate::error::Error;
use crate::keystate::Grant;

/// Headers keygate sets for the origin; any a client sends are dropped so
/// they cannot be spoofed.
const OWN_PREFIX: &str = "x-keygate-";
/// Response headers a browser script may read.
const EXPOSED: &str = "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, X-Keygate-Key-Expires";
/// Keys expiring sooner than this get `X-Keygate-Key-Expires` on responses.
const EXPIRY_WARNING_MS: u64 = 7 * 24 * 3600 * 1000;

/// Forwards `req` to `origin` (scheme and host, no trailing slash) with the
/// key header removed and the key's identity added.
pub async fn forward(req: Request, origin: &str, source: KeySource, grant: &Grant) -> Result<Response, Error> {
    let internal = |e: worker::Error| {
        worker::console_error!("proxy setup failed: {e}");
        Error::Internal
    };
    let url = req.url().map_err(internal)?;
    let browser_origin = req.headers().get("Origin").ok().flatten();
    let target = match url.query() {
        Some(q) => format!("{origin}{}?{q}", url.path()),
        None => format!("{origin}{}", url.path()),
    };

    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        let dropped = name == "host"
            || name.starts_with(OWN_PREFIX)
            || (name == "authorization" && source == KeySource::Authorization)
            || name == "x-api-key";
        if !dropped {
            headers.append(&name, &value).map_err(internal)?;
        }
    }
    headers.set("X-Keygate-Key-Id", grant.key_id.as_str()).map_err(internal)?;
    headers.set("X-Keygate-Environment", grant.environment.as_str()).map_err(internal)?;
    if let Some(owner) = &grant.owner_id {
        headers.set("X-Keygate-Owner-Id", owner).map_err(internal)?;
    }

    let mut init = RequestInit::new();
    init.with_method(req.method())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(req.inner().body().map(Into::into));
    let upstream = Request::new_with_init(&target, &init).map_err(internal)?;
    let resp = Fetch::Request(upstream).send().await.map_err(|e| {
        worker::console_error!("origin unreachable for key {}: {e}", grant.key_id);
        Error::BadGateway
    })?;

    // A fetched response's headers are immutable: copy them.
    let out = Headers::new();
    for (name, value) in resp.headers().entries() {
        out.append(&name, &value).map_err(internal)?;
    }
    set_rate_limit_headers(&out, &grant.quota).map_err(internal)?;
    if let Some(expires_at) = grant.expires_at {
        if expires_at.as_millis() <= http::now().as_millis() + EXPIRY_WARNING_MS {
            out.set("X-Keygate-Key-Expires", &expires_at.to_rfc3339()).map_err(internal)?;
        }
    }
    if let Some(origin) = browser_origin.filter(|o| cors::is_allowed(&grant.allowed_origins, o)) {
        out.set("Access-Control-Allow-Origin", &origin).map_err(internal)?;
        out.append("Vary", "Origin").map_err(internal)?;
        out.set("Access-Control-Expose-Headers", EXPOSED).map_err(internal)?;
    }
    let status = resp.status_code();
    let (_, body) = resp.into_parts();
    Ok(Response::builder().with_status(status).with_headers(out).body(body))
}
