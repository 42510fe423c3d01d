//! The entry of every request: one pass over the headers (their size, the
//! body's framing, the headers keygate judges by, any that claim to be
//! keygate's own), the size caps and the canonical path; then the admin
//! API or the API path. Whatever can be decided without I/O is decided
//! synchronously (see [`Entered`]).

use std::future::Future;
use std::pin::Pin;

use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::future_to_promise;
use worker::{js_sys, web_sys, Context, Env, Headers};

use super::{gateway, telemetry};
use crate::admin;
use crate::runtime::isolate::config;
use crate::runtime::{http, Edge};
use keygate_core::admin::match_route;
use keygate_core::analytics::Outcome;
use keygate_core::error::Error;
use keygate_core::log::{Arrival, RequestLine};
use keygate_core::policy::path::canonical;
use keygate_core::policy::route::{path_of, query_of};
use keygate_core::size::{self, RequestSize};

/// The prefix of the headers keygate sets for the origin (lowercase, as
/// the runtime lists header names).
const OWN_HEADER_PREFIX: &str = "x-keygate-";
/// Headers with which frameworks (Rails, Laravel, ASP.NET, Express) let a
/// request claim another method than the one keygate judged: never forwarded.
const METHOD_OVERRIDES: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Answers a request (the crate's `fetch` export hands it here): every
/// error becomes its JSON response here, once. Whatever can be decided
/// without I/O is decided synchronously, so a request admitted from this
/// isolate's lease goes back to the runtime as the origin fetch's own
/// promise; only requests that wait on storage run as a Rust future.
/// The request stays the runtime's own: worker's `Request` would read its
/// `cf` object and parse its URL, which no handler needs.
pub fn fetch(req: web_sys::Request, env: Env, ctx: JsValue) -> js_sys::Promise {
    let now = http::now();
    let mut seen = Seen {
        arrival: Arrival {
            at: now,
            ..Arrival::default()
        },
        admin: false,
        // The handle, not `Request.clone()` (which would tee the body).
        request: Clone::clone(&req),
    };
    match enter(req, env.clone(), ctx.clone(), &mut seen) {
        Ok(Entered::Now(answer)) => answer,
        Ok(Entered::Later(work)) => future_to_promise(async move {
            let result = work.await;
            seen.refused(&env, &ctx, &result);
            Ok(respond(result, now))
        }),
        Err(error) => {
            let result = Err(error);
            seen.refused(&env, &ctx, &result);
            js_sys::Promise::resolve(&respond(result, now))
        }
    }
}

/// What the entry point learned of a request before it was decided.
struct Seen {
    /// Its log line's start.
    arrival: Arrival,
    /// Whether it is an admin API call (those log their own line).
    admin: bool,
    /// The request (a handle), for its country when a line is written.
    request: web_sys::Request,
}

impl Seen {
    /// Counts and logs an error answer no key's object gave (refusals it
    /// gave are counted in it and logged by the gateway).
    fn refused(&self, env: &Env, ctx: &JsValue, result: &Result<web_sys::Response, Error>) {
        let Err(error) = result else {
            return;
        };
        // Admin API failures are the admin line's (see `admin::handle`).
        if self.admin {
            return;
        }
        telemetry::count_error(env, &Context::new(ctx.clone().unchecked_into()), error);
        let line = || RequestLine {
            country: cf_country(&self.request),
            ..RequestLine::refused(&self.arrival, None, error, false, http::now())
        };
        match config(env) {
            // Refused before any key: logged in counts with the batch (a
            // flood must not make a line per request); still a data point.
            Ok(config) if Outcome::at_edge(error).is_some() => {
                if config.analytics_engine {
                    telemetry::data_point(env, &config, &line());
                }
            }
            Ok(config) => telemetry::refusal(env, &config, &line()),
            // Unconfigured, the line is still logged: there is nothing else to go by.
            Err(_) => http::log(&line()),
        }
    }
}

/// The response for `result`: the answer, or the error's JSON.
fn respond(
    result: Result<web_sys::Response, Error>,
    now: keygate_core::time::Timestamp,
) -> JsValue {
    match result {
        Ok(resp) => resp.into(),
        Err(error) => http::error_response(&error, now)
            .map(web_sys::Response::from)
            .map_or(JsValue::NULL, Into::into),
    }
}

/// What the synchronous part of handling a request came to.
pub(crate) enum Entered {
    /// The answer, or the runtime's promise of it: no Rust future needed.
    Now(js_sys::Promise),
    /// The rest waits on I/O.
    Later(Pin<Box<dyn Future<Output = Result<web_sys::Response, Error>>>>),
}

impl Entered {
    /// A response ready now.
    pub(crate) fn now(resp: web_sys::Response) -> Entered {
        Entered::Now(js_sys::Promise::resolve(&JsValue::from(resp)))
    }

    /// The rest of the work, as a future.
    pub(crate) fn later(
        work: impl Future<Output = Result<web_sys::Response, Error>> + 'static,
    ) -> Entered {
        Entered::Later(Box::pin(work))
    }
}

/// The request headers keygate judges by, found in the one pass over the
/// headers the entry point makes anyway (one crossing into JavaScript per
/// header, none per lookup). A repeated header reads as the runtime joins it.
#[derive(Clone, Default)]
pub(crate) struct Presented {
    /// `Authorization`.
    pub authorization: Option<String>,
    /// `X-API-Key`.
    pub api_key: Option<String>,
    /// `CF-Connecting-IP`.
    pub client_ip: Option<String>,
    /// `Origin` (a browser's page).
    pub origin: Option<String>,
    /// `Access-Control-Request-Method` (a CORS preflight).
    pub preflight_method: Option<String>,
    /// `Access-Control-Request-Headers` (a CORS preflight).
    pub preflight_headers: Option<String>,
    /// `Cookie` (the dashboard's session).
    pub cookie: Option<String>,
    /// `Sec-Fetch-Site` (which site a browser's request comes from).
    pub fetch_site: Option<String>,
    /// `request.cf.country`: read once the request presents a well-formed
    /// key (see [`cf_country`]).
    pub country: Option<String>,
}

/// The runtime's two-letter country of the client (`request.cf.country`).
/// The runtime builds `cf` anew on each read — a seventh of a refused
/// request's time — so only requests that present a well-formed key pay
/// for it: a flood of garbage keys does not.
pub(crate) fn cf_country(req: &web_sys::Request) -> Option<String> {
    let cf = js_sys::Reflect::get(req, &JsValue::from_str("cf")).ok()?;
    js_sys::Reflect::get(&cf, &JsValue::from_str("country"))
        .ok()?
        .as_string()
}

/// The checks every request gets, then the admin API or the API path.
/// `ctx` is the runtime's context object: the API path hands it to
/// `forward.js` as it is.
fn enter(req: web_sys::Request, env: Env, ctx: JsValue, seen: &mut Seen) -> Result<Entered, Error> {
    let config = config(&env)?;
    // Read once: every later step works on this copy.
    let url = req.url();
    let headers = Headers(req.headers());
    // One pass over the headers: their size, how the body is framed, and
    // any that claim to be keygate's own or override the method (the proxy
    // drops those, so the origin can trust what it gets).
    let mut header_bytes = 0;
    let mut content_length = None;
    let mut chunked = false;
    let mut spoofed = Vec::new();
    let mut presented = Presented::default();
    for (name, value) in headers.entries() {
        header_bytes += name.len() + value.len();
        if name.starts_with(OWN_HEADER_PREFIX) || METHOD_OVERRIDES.contains(&name.as_str()) {
            spoofed.push(name.clone());
        }
        let slot = match name.as_str() {
            "content-length" => {
                content_length = value.trim().parse::<u64>().ok();
                continue;
            }
            "transfer-encoding" => {
                chunked = true;
                continue;
            }
            "authorization" => &mut presented.authorization,
            "x-api-key" => &mut presented.api_key,
            "cf-connecting-ip" => &mut presented.client_ip,
            "origin" => &mut presented.origin,
            "access-control-request-method" => &mut presented.preflight_method,
            "access-control-request-headers" => &mut presented.preflight_headers,
            "cookie" => &mut presented.cookie,
            "sec-fetch-site" => &mut presented.fetch_site,
            "cf-ray" => &mut seen.arrival.request_id,
            _ => continue,
        };
        *slot = Some(value);
    }
    let size = RequestSize {
        url: url.len(),
        headers: header_bytes,
        content_length,
    };
    size::check(&size, config.max_body_bytes)?;
    // The raw token (the runtime's `Method` reads unknown methods as GET),
    // upper-cased: it is judged and forwarded in this one form, so `patch`
    // cannot pass as something other than `PATCH`.
    let method = req.method().to_ascii_uppercase();
    seen.arrival.method.clone_from(&method);
    // Judged and forwarded in this one form, so the origin serves exactly
    // the path keygate authorized (a path that has none is logged as sent).
    let path =
        canonical(path_of(&url)).inspect_err(|_| seen.arrival.path = path_of(&url).to_owned())?;
    seen.arrival.path.clone_from(&path);
    match match_route(&config.admin_prefix, &method, &path) {
        Some(route) => {
            seen.admin = true;
            let route = route?;
            let arrival = seen.arrival.clone();
            let ctx = Context::new(ctx.unchecked_into());
            Ok(Entered::later(async move {
                let edge = Edge {
                    env: &env,
                    ctx: &ctx,
                    config: &config,
                };
                admin::handle(route, req, &presented, &method, edge, &arrival)
                    .await
                    .map(Into::into)
            }))
        }
        None => {
            let target = gateway::Target {
                method,
                path,
                query: query_of(&url).to_owned(),
                spoofed,
                content_length,
                chunked,
                presented,
                arrival: seen.arrival.clone(),
            };
            gateway::enter(req, target, env, ctx, config)
        }
    }
}
