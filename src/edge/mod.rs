//! The Worker: adapts HTTP, KV, Durable Objects and env to the pure core.
//! It decides nothing itself; every rule lives in a core module.
//!
//! - `http`: JSON responses, the error mapping to responses, rate-limit headers, the clock.
//! - `store`: KV lookups (with the per-isolate cache) and calls to the Durable Objects.
//! - `key_object`: the per-key Durable Object.
//! - `registry_object`: the key registry Durable Object.
//! - `admin`: admin route handlers.
//! - `gateway`: the API path: key → KV → Durable Object → proxy.
//! - `proxy`: forwarding to the origin.

mod admin;
mod gateway;
mod http;
mod key_object;
mod proxy;
mod registry_object;
mod store;

use std::cell::OnceCell;
use std::rc::Rc;

use worker::{event, Context, Env, Request, Response, Result};

use crate::admin::match_route;
use crate::config::Config;
use crate::error::Error;
use crate::policy::route::path_of;
use crate::size::{self, RequestSize};

/// The fetch entry point: every error becomes its JSON response here, once.
/// (The macro option that would answer with internal error text is not used.)
#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let now = http::now();
    match handle(req, &env).await {
        Ok(resp) => Ok(resp),
        Err(error) => http::error_response(&error, now),
    }
}

thread_local! {
    /// Vars are fixed for the life of an isolate: parse them once.
    static CONFIG: OnceCell<Rc<Config>> = const { OnceCell::new() };
}

/// This isolate's configuration, parsed on first use.
pub(crate) fn config(env: &Env) -> std::result::Result<Rc<Config>, Error> {
    if let Some(config) = CONFIG.with(|c| c.get().cloned()) {
        return Ok(config);
    }
    let config =
        Config::from_vars(|name| env.var(name).ok().map(|v| v.to_string())).map_err(|e| {
            worker::console_error!("keygate configuration error: {e}");
            Error::Misconfigured
        })?;
    let config = Rc::new(config);
    CONFIG.with(|c| c.set(config.clone()).ok());
    Ok(config)
}

async fn handle(req: Request, env: &Env) -> std::result::Result<Response, Error> {
    let config = config(env)?;
    // Read once: every later step works on this copy.
    let url = req.inner().url();
    let headers = req.headers();
    let size = RequestSize {
        url: url.len(),
        headers: headers.entries().map(|(k, v)| k.len() + v.len()).sum(),
        content_length: headers
            .get("Content-Length")
            .ok()
            .flatten()
            .and_then(|v| v.parse().ok()),
    };
    size::check(&size, config.max_body_bytes)?;
    let method = req.method().to_string();
    match match_route(&config.admin_prefix, &method, path_of(&url)) {
        Some(route) => admin::handle(route?, req, env, &config).await,
        None => gateway::handle(req, &method, &url, env, &config).await,
    }
}
