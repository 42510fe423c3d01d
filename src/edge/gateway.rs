//! The API path: answer CORS preflights; find and parse the key (no I/O);
//! check its environment and the route table (no I/O); find its id in KV
//! (one read, often cached); ask its Durable Object (one call, which judges
//! and counts); then forward to the origin.

use worker::{Env, Request, Response};

use super::{http, proxy, store};
use crate::config::Config;
use crate::credential::{presented_key, KeySource};
use crate::error::Error;
use crate::hash::KeyHash;
use crate::key::ApiKey;
use crate::keystate::{Access, Command, Grant, Reply};
use crate::policy::actor::Actor;
use crate::policy::cors;
use crate::policy::cors::WebOrigin;
use crate::policy::ip::client_ip;
use crate::policy::method;
use crate::policy::route::Requirement;

/// What the entry point read of an API request: what is judged, and
/// exactly that is forwarded.
pub struct Target<'a> {
    /// The request method.
    pub method: &'a str,
    /// The canonical path (see [`crate::policy::path`]).
    pub path: &'a str,
    /// The query with its `?`, or `""`, as the client sent it.
    pub query: &'a str,
    /// Client headers to drop: named like keygate's own, or method overrides.
    pub spoofed: &'a [String],
    /// The declared `Content-Length`, if any.
    pub content_length: Option<u64>,
    /// Whether the body comes with `Transfer-Encoding` (chunked).
    pub chunked: bool,
}

/// Handles an API request: authorize, count, forward.
pub async fn handle(
    req: Request,
    target: Target<'_>,
    env: &Env,
    config: &Config,
) -> Result<Response, Error> {
    if let Some(resp) = preflight(&req, target.method)? {
        return Ok(resp);
    }
    // The runtime may drop a GET's body; its framing headers still tell.
    let has_body = req.inner().body().is_some()
        || target.chunked
        || target.content_length.is_some_and(|n| n > 0);
    method::check_forwardable(target.method, has_body)?;
    let (key, source) = credential(&req)?;
    let origin = config.origin_for(&key)?;
    let requirement = config.requirement(target.method, target.path);
    let grant = match judged(
        env,
        config,
        &key,
        access(&req, target.method, requirement, true),
        None,
    )
    .await?
    {
        Ok(grant) => grant,
        Err((error, origins)) => {
            // Refused with the key's CORS headers: a listed page can read why.
            let browser_origin = req.headers().get("Origin").ok().flatten();
            let resp = http::error_response(&error, http::now()).map_err(|_| Error::Internal)?;
            http::set_cors(resp.headers(), &origins, browser_origin.as_deref())
                .map_err(|_| Error::Internal)?;
            return Ok(resp);
        }
    };
    let url = format!("{origin}{}{}", target.path, target.query);
    let forward = proxy::Forward {
        url: &url,
        path_and_query: &url[origin.len()..],
        source,
        spoofed: target.spoofed,
        signing: config.origin_key.as_ref(),
        method: target.method,
        timeout_ms: config.origin_timeout_ms,
        max_body_bytes: config.max_body_bytes,
        declared_length: target.content_length.is_some(),
    };
    proxy::forward(req, forward, &grant).await
}

/// A browser's CORS preflight carries no key: answer it here (it grants
/// nothing by itself; see [`crate::policy::cors`]). Any other request: `None`.
fn preflight(req: &Request, method: &str) -> Result<Option<Response>, Error> {
    let header = |name: &str| req.headers().get(name).ok().flatten();
    if method != "OPTIONS" {
        return Ok(None);
    }
    let (Some(origin), Some(asked)) = (header("Origin"), header("Access-Control-Request-Method"))
    else {
        return Ok(None);
    };
    let resp = Response::empty()
        .map_err(|_| Error::Internal)?
        .with_status(204);
    for (name, value) in cors::preflight_headers(
        &origin,
        Some(&asked),
        header("Access-Control-Request-Headers").as_deref(),
    ) {
        resp.headers()
            .set(name, &value)
            .map_err(|_| Error::Internal)?;
    }
    Ok(Some(resp))
}

/// The presented key, parsed and checksum-verified.
pub fn credential(req: &Request) -> Result<(ApiKey, KeySource), Error> {
    let header = |name: &str| req.headers().get(name).ok().flatten();
    presented_key(
        header("Authorization").as_deref(),
        header("X-API-Key").as_deref(),
    )
}

/// The facts of `req` (sent with `method`, as the entry point read it) that
/// a key's rules judge.
pub fn access(
    req: &Request,
    method: &str,
    requirement: Result<Requirement, Error>,
    consume: bool,
) -> Access {
    let ip = req.headers().get("CF-Connecting-IP").ok().flatten();
    Access {
        requirement,
        read_only: method::is_read(method),
        client_ip: client_ip(ip.as_deref()),
        consume,
    }
}

/// Asks the key's Durable Object to judge `access` — for `verifier`, when
/// the admin API's verify asks on an actor's behalf. An unknown key stops
/// at KV and never creates a Durable Object.
pub async fn admit(
    env: &Env,
    config: &Config,
    key: &ApiKey,
    access: Access,
    verifier: Option<&Actor>,
) -> Result<Grant, Error> {
    judged(env, config, key, access, verifier)
        .await?
        .map_err(|(error, _)| error)
}

/// [`admit`], keeping a refused browser key's origins: the outer error is
/// keygate's (storage, unknown key), the inner one the key's refusal.
async fn judged(
    env: &Env,
    config: &Config,
    key: &ApiKey,
    access: Access,
    verifier: Option<&Actor>,
) -> Result<Result<Grant, (Error, Vec<WebOrigin>)>, Error> {
    let hash = KeyHash::of(key);
    let entry = store::lookup(env, config, &hash, http::now())
        .await?
        .ok_or_else(Error::invalid_api_key)?;
    if entry.revoked {
        return Ok(Err((Error::KeyRevoked, entry.allowed_origins)));
    }
    let command = match verifier {
        None => Command::Authorize { hash, access },
        Some(actor) => Command::Verify {
            actor: actor.clone(),
            hash,
            access,
        },
    };
    match store::key_object(env, config, &entry.id, &command).await? {
        Reply::Granted { grant } => Ok(Ok(grant)),
        Reply::Refused {
            error,
            allowed_origins,
        } => Ok(Err((error, allowed_origins))),
        other => {
            worker::console_error!(
                "key object {} answered {} to an authorize",
                entry.id,
                other.kind()
            );
            Err(Error::Internal)
        }
    }
}
