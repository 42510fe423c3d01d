//! Forwarding an admitted request to its origin and streaming the answer
//! back with the rate-limit headers. The body is never buffered.

use worker::{Fetch, Headers, Request, RequestInit, RequestRedirect, Response};

use super::http::set_rate_limit_headers;
use crate::credential::KeySource;
use crate::error::Error;
use crate::keystate::Grant;

/// Headers keygate sets for the origin; any a client sends are dropped so
/// they cannot be spoofed.
const OWN_PREFIX: &str = "x-keygate-";

/// Forwards `req` to `origin` (scheme and host, no trailing slash) with the
/// key header removed and the key's identity added.
pub async fn forward(req: Request, origin: &str, source: KeySource, grant: &Grant) -> Result<Response, Error> {
    let internal = |e: worker::Error| {
        worker::console_error!("proxy setup failed: {e}");
        Error::Internal
    };
    let url = req.url().map_err(internal)?;
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
    let status = resp.status_code();
    let (_, body) = resp.into_parts();
    Ok(Response::builder().with_status(status).with_headers(out).body(body))
}
