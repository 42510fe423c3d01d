//! The entry of every request: its record (see [`RequestRecord`]), one
//! pass over the headers (their size, the body's framing, the headers
//! keygate judges by, any that claim to be keygate's own), the size caps
//! and the canonical path; then the admin API or the API path.

use std::rc::Rc;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::{js_sys, web_sys, Context, Env};

use super::gateway;
use super::request_record::{Answer, RequestRecord};
use crate::admin;
use crate::runtime::http::{self, HeaderEdits};
use crate::runtime::isolate::config;
use crate::runtime::Edge;
use keygate_core::admin::{match_route, AdminRoute};
use keygate_core::analytics::refusal::RefusedBy;
use keygate_core::config::Config;
use keygate_core::error::Error;
use keygate_core::log::Arrival;
use keygate_core::policy::path::canonical;
use keygate_core::policy::route::{path_of, query_of};
use keygate_core::request::headers::HeaderPass;
pub(crate) use keygate_core::request::headers::Presented;
use keygate_core::request::size::{self, RequestSize};

#[wasm_bindgen(module = "/src/api/entry.js")]
extern "C" {
    /// See `entry.js`: the one pass over the headers, as text
    /// ([`HeaderPass::read`] reads it).
    #[wasm_bindgen(js_name = headerPass)]
    fn header_pass(headers: &web_sys::Headers) -> String;
}

/// Answers a request (the crate's `fetch` export hands it here): its
/// record is created here and finished, exactly once, by whichever path
/// answers (see [`RequestRecord`]). The request stays the runtime's own:
/// worker's `Request` would read its `cf` object and parse its URL, which
/// no handler needs.
pub fn fetch(req: web_sys::Request, env: Env, ctx: JsValue) -> js_sys::Promise {
    let record = RequestRecord::new(&req, http::now());
    enter(req, env, ctx, record).into_promise()
}

/// What the checks every request gets found it to be.
enum Read {
    /// An admin API call.
    Admin {
        route: Result<AdminRoute, Error>,
        presented: Presented,
        method: String,
        config: Rc<Config>,
    },
    /// An API request.
    Api(gateway::Target, Rc<Config>),
}

/// The checks every request gets, then the admin API or the API path.
/// `ctx` is the runtime's context object: the API path hands it to
/// `forward.js` as it is.
fn enter(req: web_sys::Request, env: Env, ctx: JsValue, mut record: RequestRecord) -> Answer {
    match read(&req, &env, &mut record.arrival) {
        Err(error) => {
            let ctx = Context::new(ctx.unchecked_into());
            let edits = HeaderEdits::default();
            record
                .refused(&env, &ctx, &error, &RefusedBy::Edge, edits)
                .now()
        }
        Ok(Read::Admin {
            route,
            presented,
            method,
            config,
        }) => {
            let (arrival, handed) = record.admin();
            let route = match route {
                Ok(route) => route,
                Err(error) => return handed.answer(Err(error)).now(),
            };
            let ctx = Context::new(ctx.unchecked_into());
            Answer::later(async move {
                let edge = Edge {
                    env: &env,
                    ctx: &ctx,
                    config: &config,
                };
                let result = admin::handle(route, req, &presented, &method, edge, &arrival).await;
                handed.answer(result.map(Into::into))
            })
        }
        Ok(Read::Api(target, config)) => gateway::enter(req, target, env, ctx, config, record),
    }
}

/// The runtime's two-letter country of the client (`request.cf.country`),
/// for a request without `CF-IPCountry` (see [`Presented::country`]). The
/// runtime builds `cf` anew on each read — a seventh of a refused
/// request's time — so only requests that present a well-formed key pay
/// for it: a flood of garbage keys does not.
pub(crate) fn cf_country(req: &web_sys::Request) -> Option<String> {
    let cf = js_sys::Reflect::get(req, &JsValue::from_str("cf")).ok()?;
    js_sys::Reflect::get(&cf, &JsValue::from_str("country"))
        .ok()?
        .as_string()
}

/// The checks every request gets (what they read goes into `arrival`):
/// the configuration, the header pass, the size caps, the canonical path;
/// then which of the admin API or the API path it is for.
fn read(req: &web_sys::Request, env: &Env, arrival: &mut Arrival) -> Result<Read, Error> {
    let config = config(env)?;
    // Read once: every later step works on this copy.
    let url = req.url();
    // One pass over the headers: their size, how the body is framed, the
    // headers keygate judges by, and any that claim to be keygate's own or
    // override the method (the proxy drops those, so the origin can trust
    // what it gets).
    let HeaderPass {
        bytes,
        content_length,
        chunked,
        dropped,
        request_id,
        presented,
    } = HeaderPass::read(&header_pass(&req.headers()));
    arrival.request_id = request_id;
    let size = RequestSize {
        url: url.len(),
        headers: bytes,
        content_length,
    };
    size::check(&size, config.max_body_bytes)?;
    // The raw token (the runtime's `Method` reads unknown methods as GET),
    // upper-cased: it is judged and forwarded in this one form, so `patch`
    // cannot pass as something other than `PATCH`.
    let method = req.method().to_ascii_uppercase();
    arrival.method.clone_from(&method);
    // Judged and forwarded in this one form, so the origin serves exactly
    // the path keygate authorized (a path that has none is logged as sent).
    let path = canonical(path_of(&url)).inspect_err(|_| arrival.path = path_of(&url).to_owned())?;
    arrival.path.clone_from(&path);
    if let Some(route) = match_route(&config.admin_prefix, &method, &path) {
        return Ok(Read::Admin {
            route,
            presented,
            method,
            config,
        });
    }
    let target = gateway::Target {
        method,
        path,
        query: query_of(&url).to_owned(),
        spoofed: dropped,
        content_length,
        chunked,
        presented,
    };
    Ok(Read::Api(target, config))
}
