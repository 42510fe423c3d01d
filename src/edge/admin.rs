//! Admin route handlers. Each authenticates, decodes, calls the core, and
//! writes storage in an order that fails safe:
//!
//! - create: the Durable Object first (authoritative), then KV. If the KV
//!   write fails the key was never usable (unknown at the edge) and the
//!   client gets 503 without a secret, so nothing half-issued leaks.
//! - edit: the Durable Object only; KV holds nothing an edit changes.
//! - revoke: the Durable Object first, so the very next request is refused
//!   wherever KV still holds the old entry; then KV is marked revoked so
//!   edges stop calling the object once KV converges. A failed KV write
//!   leaves the key revoked (logged), since the object is authoritative.

use serde::Serialize;
use serde_json::json;
use worker::{Env, Request, Response};

use super::{gateway, http, store};
use crate::admin::{check_admin_token, parse_body, AdminRoute, MAX_BODY_BYTES};
use crate::config::Config;
use crate::credential::presented_key;
use crate::error::Error;
use crate::key::KeyId;
use crate::keystate::{Command, Reply};
use crate::permission::Permission;
use crate::record::{Actor, IssueContext, KeyPatch, KeyView, KvEntry, NewKey};
use crate::route::Requirement;

/// Dispatches a matched admin route.
pub async fn handle(route: AdminRoute, mut req: Request, env: &Env, config: &Config) -> Result<Response, Error> {
    let resp = match route {
        AdminRoute::Whoami => whoami(&req, env).await?,
        AdminRoute::CreateKey => {
            let actor = authenticate(&req, env).await?;
            create(&mut req, env, config, &actor).await?
        }
        AdminRoute::GetKey(id) => {
            authenticate(&req, env).await?;
            let key = expect_key(store::key_object(env, &id, &Command::Get).await?)?;
            http::json(200, &json!({ "data": key }))
        }
        AdminRoute::EditKey(id) => {
            let actor = authenticate(&req, env).await?;
            let patch: KeyPatch = parse_body(&read_body(&mut req).await?)?;
            let key = expect_key(store::key_object(env, &id, &Command::Update { patch, actor }).await?)?;
            http::json(200, &json!({ "data": key }))
        }
        AdminRoute::RevokeKey(id) => {
            authenticate(&req, env).await?;
            revoke(env, &id).await?
        }
    };
    resp.map_err(|e| {
        worker::console_error!("response encoding failed: {e}");
        Error::Internal
    })
}

/// The admin token, or an API key that holds `admin` (which then bounds
/// what the request may grant).
async fn authenticate(req: &Request, env: &Env) -> Result<Actor, Error> {
    let authorization = req.headers().get("Authorization").ok().flatten();
    if let Ok((key, _)) = presented_key(authorization.as_deref(), None) {
        let needs_admin = Ok(Requirement {
            permission: Some(Permission::admin()),
            cost: std::num::NonZeroU32::MIN,
        });
        let grant = gateway::admit(env, &key, gateway::access(req, needs_admin, false)).await?;
        return Ok(Actor::Key {
            grants: grant.grants.effective(grant.key_type),
            id: grant.key_id,
        });
    }
    let token = env.secret("ADMIN_TOKEN").ok().map(|s| s.to_string());
    check_admin_token(token.as_deref(), authorization.as_deref())?;
    Ok(Actor::AdminToken)
}

async fn read_body(req: &mut Request) -> Result<Vec<u8>, Error> {
    let declared = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(Error::PayloadTooLarge { limit: MAX_BODY_BYTES });
    }
    req.bytes().await.map_err(|_| Error::InvalidJson {
        message: "the body could not be read".to_owned(),
    })
}

async fn create(req: &mut Request, env: &Env, config: &Config, actor: &Actor) -> Result<worker::Result<Response>, Error> {
    let new_key: NewKey = parse_body(&read_body(req).await?)?;
    let environments = config.environment_names();
    let ctx = IssueContext {
        environments: &environments,
        default_limits: config.default_limits,
        now: http::now(),
        actor,
    };
    let (record, key) = new_key.issue(&ctx)?;
    let id = record.id.clone();
    let hash = record.secrets[0].hash.clone();
    let view = expect_key(store::key_object(env, &id, &Command::Create { record }).await?)?;
    store::put_entry(env, &hash, &KvEntry { id, revoked: false }).await?;
    // The one place a secret is ever returned.
    let data = Issued { view: &view, key: key.expose_secret() };
    Ok(http::json(201, &json!({ "data": data })))
}

/// The create response: the key's view plus, this once, its secret.
#[derive(Serialize)]
struct Issued<'a> {
    #[serde(flatten)]
    view: &'a KeyView,
    key: &'a str,
}

async fn revoke(env: &Env, id: &KeyId) -> Result<worker::Result<Response>, Error> {
    let Reply::Revoked { key, hashes } = store::key_object(env, id, &Command::Revoke).await? else {
        return Err(Error::Internal);
    };
    let entry = KvEntry { id: id.clone(), revoked: true };
    for hash in &hashes {
        if let Err(e) = store::put_entry(env, hash, &entry).await {
            worker::console_error!("revoked {id} but could not mark KV: {e:?}");
        }
    }
    Ok(http::json(200, &json!({ "data": key })))
}

async fn whoami(req: &Request, env: &Env) -> Result<worker::Result<Response>, Error> {
    let (key, _) = gateway::credential(req)?;
    let grant = gateway::admit(env, &key, gateway::access(req, Ok(Requirement::OPEN), false)).await?;
    let body = json!({ "data": {
        "id": grant.key_id,
        "name": grant.name,
        "environment": grant.environment,
        "type": grant.key_type,
        "display": key.display(),
        "scopes": grant.grants.scopes,
        "permissions": grant.grants.permissions,
        "rate_limits": grant.rate_limits,
        "ratelimit": {
            "limit": grant.quota.limit,
            "remaining": grant.quota.remaining,
            "reset": grant.quota.reset.as_secs_ceil(),
        },
        "expires_at": grant.expires_at,
    }});
    Ok(http::json(200, &body))
}

fn expect_key(reply: Reply) -> Result<KeyView, Error> {
    match reply {
        Reply::Key { key } => Ok(key),
        other => {
            worker::console_error!("unexpected key object reply {other:?}");
            Err(Error::Internal)
        }
    }
}
