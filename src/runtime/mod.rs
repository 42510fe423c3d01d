//! The Worker's runtime adapters: what every room uses to speak to the
//! platform. Nothing here decides; the rules are in `keygate_core`.
//!
//! # Layout
//!
//! - `http`: JSON responses, the one mapping from an error to a response,
//!   rate-limit and CORS header edits, the runtime clock, the log.
//! - `bindings`: the KV namespace (key entries, sign-outs) and the static assets.
//! - `isolate`: everything an isolate remembers between requests, and its
//!   configuration.

pub mod bindings;
pub mod http;
pub mod isolate;

use std::rc::Rc;

use worker::{Context, Env};

use keygate_core::config::Config;

/// What every handler works with: the bindings, the request's context
/// (for work after the response) and the configuration.
#[derive(Clone, Copy)]
pub struct Edge<'a> {
    /// The Worker's bindings.
    pub env: &'a Env,
    /// The request's context.
    pub ctx: &'a Context,
    /// This isolate's configuration.
    pub config: &'a Rc<Config>,
}
