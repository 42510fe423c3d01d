//! keygate's Worker: an API-key authorizer in front of an API. This crate
//! adapts HTTP, KV, Durable Objects, Queues and Cron Triggers to the pure
//! core (`keygate_core`, in `core/`), which decides everything; nothing
//! here is a rule.
//!
//! # Layout
//!
//! - this file: the Worker's three exports — `fetch`, `queue`, `scheduled`
//!   (the Durable Object classes are exported from `objects`).
//! - `api`: the API path — entry, gateway, proxy, telemetry.
//! - `admin`: the admin HTTP layer — dispatch, auth, keys, usage, owners,
//!   verify, webhooks, dashboard.
//! - `objects`: the Durable Objects (key, owner, guard, registry) and the
//!   typed client calls to them.
//! - `jobs`: the queue consumers (usage reports, webhook deliveries) and the cron sweep.
//! - `runtime`: http helpers, KV and asset bindings, per-isolate state.
//!
//! The Worker uses no router crate: the admin API's routes are matched in
//! `keygate_core::admin::match_route` (tested natively), and everything
//! else is proxied. That keeps the wasm bundle small.

#![deny(missing_docs)]

mod admin;
mod api;
mod jobs;
mod objects;
mod runtime;

use wasm_bindgen::prelude::wasm_bindgen;
use worker::{event, js_sys, web_sys, Context, Env, MessageBatch, ScheduleContext, ScheduledEvent};

/// The fetch export (the one `worker-build`'s shim calls): the runtime's
/// own request in, the runtime's promise of a response out (see
/// `api::entry`).
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env, ctx: worker::worker_sys::Context) -> js_sys::Promise {
    api::entry::fetch(req, env, ctx.into())
}

/// The consumer of both queues: `REPORTS` (see `jobs::report`) and
/// `WEBHOOKS` (see `jobs::deliver`), told apart by their messages.
#[event(queue)]
pub async fn queue(batch: MessageBatch<f64>, env: Env, _ctx: Context) -> worker::Result<()> {
    match jobs::report::holds_reports(&batch) {
        true => jobs::report::consume(batch, env).await,
        false => jobs::deliver::consume(batch, env).await,
    }
}

/// The Cron Trigger (see `jobs::sweep`).
#[event(scheduled)]
pub async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    jobs::sweep::sweep(env).await;
}
