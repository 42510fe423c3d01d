//! Forwarding an admitted request to its origin and streaming the answer
//! back with the rate-limit headers. The body is never buffered.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{js_sys, web_sys, Headers, Response};

use super::http::{self, set_cors, set_rate_limit_headers};
use crate::credential::KeySource;
use crate::error::Error;
use crate::keystate::Grant;
use crate::signature::{self, Signed, SigningKey};

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
}

/// Forwards `req` with the key header and any spoofed `X-Keygate-*`
/// header removed and the key's identity added (signed, when configured).
pub async fn forward(
    req: web_sys::Request,
    to: Forward<'_>,
    grant: &Grant,
) -> Result<Response, Error> {
    let internal = |e: worker::Error| {
        worker::console_error!("proxy setup failed: {e}");
        Error::Internal
    };
    let browser_origin = req.headers().get("Origin").ok().flatten();

    // Copied by the runtime in one call, then edited: far fewer crossings
    // into JavaScript than copying header by header.
    let headers = clone_headers(&req.headers()).map_err(internal)?;
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
        let request = Signed {
            method: to.method,
            path_and_query: to.path_and_query,
            key_id: grant.key_id.as_str(),
            owner_id: grant.owner_id.as_deref(),
            environment: grant.environment.as_str(),
        };
        let signature = signing.sign(http::now(), &request);
        headers
            .set(signature::HEADER, &signature)
            .map_err(internal)?;
    }

    // Built on the runtime's own types: the method token is forwarded as
    // the client sent it (worker's `Method` would turn `MOVE` into `GET`).
    let init = web_sys::RequestInit::new();
    init.set_method(to.method);
    init.set_headers(&headers.0);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    let over_cap = Rc::new(Cell::new(false));
    if let Some(body) = req.body() {
        // A declared length was checked up front (413 above the cap); a
        // chunked body is counted as it streams and cut at the cap.
        if to.declared_length {
            init.set_body(&body);
        } else {
            // Aborts the upstream request when the body crosses the cap, so
            // the origin sees a broken request, not a short complete one.
            let abort = web_sys::AbortController::new().map_err(|e| internal(e.into()))?;
            init.set_signal(Some(&abort.signal()));
            let cap = Cap {
                bytes: to.max_body_bytes,
                over: over_cap.clone(),
                abort,
            };
            init.set_body(&capped(body, cap));
        }
    }
    // The runtime's fetch, called directly: worker's `Fetch` would wrap the
    // request and the response in its own types, reading their `cf`
    // objects and parsing the URL again on every request.
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let send = std::pin::pin!(JsFuture::from(
        global.fetch_with_str_and_init(to.url, &init)
    ));
    let timeout = std::pin::pin!(worker::Delay::from(Duration::from_millis(to.timeout_ms)));
    let resp: web_sys::Response = match select(send, timeout).await {
        Either::Left(_) if over_cap.get() => {
            return Err(Error::PayloadTooLarge {
                limit: usize::try_from(to.max_body_bytes).unwrap_or(usize::MAX),
            })
        }
        Either::Left((Ok(resp), _)) => resp.unchecked_into(),
        Either::Left((Err(e), _)) => {
            let e = worker::Error::from(e);
            worker::console_error!("origin unreachable for key {}: {e}", grant.key_id);
            return Err(Error::BadGateway);
        }
        Either::Right(_) => {
            worker::console_error!(
                "origin gave key {} no answer in {} ms",
                grant.key_id,
                to.timeout_ms
            );
            return Err(Error::GatewayTimeout);
        }
    };

    // A fetched response's headers are immutable: copy them.
    let out = clone_headers(&resp.headers()).map_err(internal)?;
    set_rate_limit_headers(&out, &grant.quota).map_err(internal)?;
    if let Some(expires_at) = grant.expires_at {
        if expires_at.as_millis() <= http::now().as_millis() + EXPIRY_WARNING_MS {
            out.set("X-Keygate-Key-Expires", &expires_at.to_rfc3339())
                .map_err(internal)?;
        }
    }
    set_cors(&out, &grant.allowed_origins, browser_origin.as_deref()).map_err(internal)?;
    let builder = Response::builder()
        .with_status(resp.status())
        .with_headers(out);
    Ok(match resp.body() {
        Some(body) => builder.stream(body),
        None => builder.empty(),
    })
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

/// A mutable copy of `headers`, made by the runtime.
pub fn clone_headers(headers: &web_sys::Headers) -> worker::Result<Headers> {
    Ok(Headers(web_sys::Headers::new_with_headers(headers)?))
}
