//! The API path: find and parse the key (no I/O), check its environment
//! (no I/O), find its id in KV (one read, often cached), ask its Durable
//! Object (one call, which also counts), then forward to the origin.

use worker::{Env, Request, Response};

use super::{http, proxy, store};
use crate::config::Config;
use crate::credential::{presented_key, KeySource};
use crate::error::Error;
use crate::hash::KeyHash;
use crate::key::ApiKey;
use crate::keystate::{Command, Grant, Reply};

/// Handles an API request: authorize, count, forward.
pub async fn handle(req: Request, env: &Env, config: &Config) -> Result<Response, Error> {
    let (key, source) = credential(&req)?;
    let origin = config.origin_for(&key)?;
    let grant = admit(env, &key, Some(1)).await?;
    proxy::forward(req, origin, source, &grant).await
}

/// The presented key, parsed and checksum-verified.
pub fn credential(req: &Request) -> Result<(ApiKey, KeySource), Error> {
    let header = |name: &str| req.headers().get(name).ok().flatten();
    presented_key(header("Authorization").as_deref(), header("X-API-Key").as_deref())
}

/// Asks the key's Durable Object to admit a request costing `cost` units,
/// or, with `None`, only to describe the key. An unknown key stops at KV
/// and never creates a Durable Object.
pub async fn admit(env: &Env, key: &ApiKey, cost: Option<u32>) -> Result<Grant, Error> {
    let hash = KeyHash::of(key);
    let entry = store::lookup(env, &hash, http::now())
        .await?
        .ok_or_else(Error::invalid_api_key)?;
    if entry.revoked {
        return Err(Error::KeyRevoked);
    }
    let command = match cost {
        Some(cost) => Command::Authorize { hash, cost },
        None => Command::Inspect { hash },
    };
    match store::key_object(env, &entry.id, &command).await? {
        Reply::Granted { grant } => Ok(grant),
        other => {
            worker::console_error!("key object {} answered {other:?} to an authorize", entry.id);
            Err(Error::Internal)
        }
    }
}
