//! Forwarding an admitted request to its origin and streaming the answer
//! back with the rate-limit headers. The body is never buffered.

use worker::{Fetch, Headers, Request, RequestInit, RequestRedirect, Response};

use super::http::{self, set_rate_limit_headers};
use crate::credential::KeySource;
use crate::error::Error;
use crate::keystate::Grant;
use crate::policy::cors;
use crate::signature::{self, SigningKey};

/// Headers keygate sets for the origin. Every client header named
/// `X-Keygate-*` is dropped first, so the origin can trust these.
const OWN_HEADERS: [&str; 3] = [
    "X-Keygate-Key-Id",
    "X-Keygate-Environment",
    "X-Keygate-Owner-Id",
];
/// Response headers a browser script may read.
const EXPOSED: &str = "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, X-Keygate-Key-Expires";
/// Keys expiring sooner than this get `X-Keygate-Key-Expires` on responses.
const EXPIRY_WARNING_MS: u64 = 7 * 24 * 3600 * 1000;

/// Where and how to forward an admitted request.
pub struct Forward<'a> {
    /// The origin plus the canonical path and the query.
    pub url: &'a str,
    /// Which header carried the key (removed).
    pub source: KeySource,
    /// Client headers named `X-Keygate-*` (removed).
    pub spoofed: &'a [String],
    /// Signs the identity headers, when `ORIGIN_SECRET` is set.
    pub signing: Option<&'a SigningKey>,
}

/// Forwards `req` with the key header and any spoofed `X-Keygate-*`
/// header removed and the key's identity added (signed, when configured).
pub async fn forward(req: Request, to: Forward<'_>, grant: &Grant) -> Result<Response, Error> {
    let internal = |e: worker::Error| {
        worker::console_error!("proxy setup failed: {e}");
        Error::Internal
    };
    let browser_origin = req.headers().get("Origin").ok().flatten();

    // Copied by the runtime in one call, then edited: far fewer crossings
    // into JavaScript than copying header by header.
    let headers = clone_headers(req.headers()).map_err(internal)?;
    let mut dropped = vec!["Host", "X-API-Key"];
    if to.source == KeySource::Authorization {
        dropped.push("Authorization");
    }
    for name in dropped
        .into_iter()
        .chain(to.spoofed.iter().map(String::as_str))
    {
        headers.delete(name).map_err(internal)?;
    }
    headers
        .set(OWN_HEADERS[0], grant.key_id.as_str())
        .map_err(internal)?;
    headers
        .set(OWN_HEADERS[1], grant.environment.as_str())
        .map_err(internal)?;
    if let Some(owner) = &grant.owner_id {
        headers.set(OWN_HEADERS[2], owner).map_err(internal)?;
    }
    if let Some(signing) = to.signing {
        let signature = signing.sign(
            http::now(),
            grant.key_id.as_str(),
            grant.owner_id.as_deref(),
            grant.environment.as_str(),
        );
        headers
            .set(signature::HEADER, &signature)
            .map_err(internal)?;
    }

    let mut init = RequestInit::new();
    init.with_method(req.method())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(req.inner().body().map(Into::into));
    let upstream = Request::new_with_init(to.url, &init).map_err(internal)?;
    let resp = Fetch::Request(upstream).send().await.map_err(|e| {
        worker::console_error!("origin unreachable for key {}: {e}", grant.key_id);
        Error::BadGateway
    })?;

    // A fetched response's headers are immutable: copy them.
    let out = clone_headers(resp.headers()).map_err(internal)?;
    set_rate_limit_headers(&out, &grant.quota).map_err(internal)?;
    if let Some(expires_at) = grant.expires_at {
        if expires_at.as_millis() <= http::now().as_millis() + EXPIRY_WARNING_MS {
            out.set("X-Keygate-Key-Expires", &expires_at.to_rfc3339())
                .map_err(internal)?;
        }
    }
    if let Some(origin) = browser_origin.filter(|o| cors::is_allowed(&grant.allowed_origins, o)) {
        out.set("Access-Control-Allow-Origin", &origin)
            .map_err(internal)?;
        out.append("Vary", "Origin").map_err(internal)?;
        out.set("Access-Control-Expose-Headers", EXPOSED)
            .map_err(internal)?;
    }
    let status = resp.status_code();
    let (_, body) = resp.into_parts();
    Ok(Response::builder()
        .with_status(status)
        .with_headers(out)
        .body(body))
}

/// A mutable copy of `headers`, made by the runtime.
fn clone_headers(headers: &Headers) -> worker::Result<Headers> {
    Ok(Headers(worker::web_sys::Headers::new_with_headers(
        &headers.0,
    )?))
}
