//! The admin HTTP layer: authenticate, decode, call the core and the
//! objects, answer. Every route is matched in
//! [`keygate_core::admin::match_route`] and dispatched here; each handler
//! answers `Result<Response, Error>`, and the error becomes its JSON once,
//! at the entry.
//!
//! # Layout
//!
//! - `auth`: the actor behind a request (admin token, admin key, session).
//! - `keys`: issue, list, read, edit, credits, rotate, revoke, revoke leaked.
//! - `usage`: a key's and an owner's usage.
//! - `owners`: an owner's shared limits and credits.
//! - `verify`: verify and whoami.
//! - `webhooks`: the webhook endpoints and their deliveries.
//! - `dashboard`: the dashboard's pages and its sign-in session.

mod auth;
mod dashboard;
mod keys;
mod owners;
mod usage;
mod verify;
mod webhooks;

use futures_util::StreamExt;
use serde_json::json;
use worker::{js_sys, web_sys, Response};

use crate::api::entry::Presented;
use crate::objects::client;
use crate::runtime::{bindings, http, Edge};
use keygate_core::admin::{AdminRoute, SessionMethod, MAX_BODY_BYTES};
use keygate_core::error::Error;
use keygate_core::keystate::KeyAction;
use keygate_core::log::{AdminLine, Arrival};

/// Where the OpenAPI 3.1 description of the admin API is among the
/// Worker's static assets (`make build` writes it minified; the `ASSETS`
/// binding serves it, never the asset path itself: the Worker runs first).
const OPENAPI_ASSET: &str = "https://assets.invalid/openapi.json";

/// What an admin handler answers: the response, or the error the entry
/// turns into its JSON.
pub(crate) type Handled = Result<Response, Error>;

/// Dispatches a matched admin route, and logs it (see [`keygate_core::log`]).
pub async fn handle(
    route: AdminRoute,
    req: web_sys::Request,
    presented: &Presented,
    method: &str,
    edge: Edge<'_>,
    arrival: &Arrival,
) -> Result<Response, Error> {
    let operation = route.operation();
    let target = route.target().map(str::to_owned);
    let mut actor = None;
    let answer = dispatch(route, req, presented, method, edge, &mut actor).await;
    let (outcome, status) = match &answer {
        Ok(resp) => ("ok", resp.status_code()),
        Err(error) => (error.code(), error.status()),
    };
    http::log(&AdminLine {
        log: "admin",
        at: arrival.at,
        request_id: arrival.request_id.clone(),
        action: operation,
        actor,
        target,
        outcome,
        status,
        latency_ms: http::now()
            .as_millis()
            .saturating_sub(arrival.at.as_millis()),
    });
    answer
}

/// Runs a matched admin route; `actor` is set once authenticated.
async fn dispatch(
    route: AdminRoute,
    req: web_sys::Request,
    presented: &Presented,
    method: &str,
    edge: Edge<'_>,
    acting: &mut Option<String>,
) -> Result<Response, Error> {
    let (env, config) = (edge.env, edge.config.as_ref());
    match route {
        AdminRoute::OpenApi => Ok(Response::from(bindings::asset(env, OPENAPI_ASSET).await?)),
        AdminRoute::Whoami => verify::whoami(presented, method, edge).await,
        AdminRoute::Dashboard(page) => dashboard::page(env, &config.admin_prefix, &page).await,
        AdminRoute::Session(SessionMethod::SignOut) => {
            // Without an admin token there may still be sessions to end.
            let token = auth::admin_token(env, config).ok().flatten();
            let url = req.url();
            dashboard::sign_out(env, &url, &config.admin_prefix, presented, token.as_deref()).await
        }
        route => {
            let token = auth::admin_token(env, config)?;
            let url = req.url();
            // A sign-in presents its credential in the body, and is then
            // checked (and its failures counted) as a bearer token is.
            let signing_in;
            let presented = if route == AdminRoute::Session(SessionMethod::SignIn) {
                signing_in =
                    dashboard::sign_in_credential(&url, presented, &read_body(&req).await?)?;
                &signing_in
            } else {
                presented
            };
            let actor = auth::authenticate(&url, presented, method, edge, token.as_deref()).await?;
            *acting = Some(actor.label());
            match route {
                AdminRoute::Session(SessionMethod::SignIn) => {
                    dashboard::start(edge, token.as_deref(), &actor, presented)
                }
                AdminRoute::Session(SessionMethod::Get) => {
                    dashboard::current(env, presented, token.as_deref()).await
                }
                AdminRoute::CreateKey => keys::create(&req, env, config, &actor).await,
                AdminRoute::ListKeys => keys::list(&req, env, config, actor).await,
                AdminRoute::GetKey(id) => {
                    let key = keys::act(env, config, &id, &actor, KeyAction::Get).await?;
                    http::reply(200, &json!({ "data": key }))
                }
                AdminRoute::EditKey(id) => keys::edit(&req, env, config, &id, &actor).await,
                AdminRoute::RotateKey(id) => keys::rotate(&req, env, config, &id, &actor).await,
                AdminRoute::KeyCredits(id) => keys::credits(&req, env, config, &id, &actor).await,
                AdminRoute::RevokeKey(id) => {
                    let key = keys::revoke_key(env, config, &id, &actor, None).await?;
                    http::reply(200, &json!({ "data": key }))
                }
                AdminRoute::RevokeLeaked => keys::revoke_leaked(&req, env, config, &actor).await,
                AdminRoute::KeyAudit(id) => {
                    // The key's object decides whether the actor may see it
                    // (404 for no such key, 403 out of reach) before the trail is read.
                    keys::act(env, config, &id, &actor, KeyAction::Get).await?;
                    let entries = client::audit(env, id).await?;
                    http::reply(200, &json!({ "data": entries }))
                }
                AdminRoute::KeyUsage(id) => {
                    let usage =
                        usage::key_usage(env, config, &id, &actor, usage::usage_query(&req)?)
                            .await?;
                    http::reply(200, &json!({ "data": usage }))
                }
                AdminRoute::OwnerUsage { owner_id } => {
                    usage::owner_usage(env, config, owner_id, &actor, usage::usage_query(&req)?)
                        .await
                }
                AdminRoute::Usage => {
                    let (query, permit) = (usage::usage_query(&req)?, actor.deployment_permit()?);
                    let usage =
                        client::overall_usage(env, config.registry_shards, query, permit).await?;
                    http::reply(200, &json!({ "data": usage }))
                }
                AdminRoute::Verify => verify::verify(&req, edge, &actor).await,
                AdminRoute::Owner { owner_id, method } => {
                    owners::owner(&req, env, config, owner_id, method, &actor).await
                }
                AdminRoute::Webhooks(route) => webhooks::handle(route, &req, env, &actor).await,
                AdminRoute::OpenApi
                | AdminRoute::Whoami
                | AdminRoute::Dashboard(_)
                | AdminRoute::Session(SessionMethod::SignOut) => Err(Error::INTERNAL),
            }
        }
    }
}

pub(super) async fn read_body(req: &web_sys::Request) -> Result<Vec<u8>, Error> {
    let declared = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(Error::payload_too_large(MAX_BODY_BYTES));
    }
    let unreadable = |_| Error::invalid_json("the body could not be read".to_owned());
    let Some(raw) = req.body() else {
        return Ok(Vec::new());
    };
    // Read chunk by chunk and stop as soon as the cap is crossed, so a
    // chunked body of any size is refused without being buffered.
    let mut chunks = wasm_streams::ReadableStream::from_raw(raw).into_stream();
    let mut body = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = js_sys::Uint8Array::new(&chunk.map_err(unreadable)?);
        if body.len() + chunk.length() as usize > MAX_BODY_BYTES {
            return Err(Error::payload_too_large(MAX_BODY_BYTES));
        }
        body.extend(chunk.to_vec());
    }
    Ok(body)
}

/// The body as text, for an object to decode where it applies it.
pub(super) async fn read_text(req: &web_sys::Request) -> Result<String, Error> {
    String::from_utf8(read_body(req).await?)
        .map_err(|_| Error::invalid_json("the body is not UTF-8".to_owned()))
}
