//! The key routes: issue, list, read, edit, credits, rotate, revoke,
//! revoke leaked. Each writes storage in the order
//! [`keygate_core::registry::command`] documents, so a failure part-way
//! never leaves a half-issued key usable or a revoked key usable.

use serde::Serialize;
use serde_json::json;
use worker::{web_sys, Env};

use super::{read_body, read_text, Handled};
use crate::objects::client::{self, Credited};
use crate::runtime::{bindings, http};
use keygate_core::admin::parse_body;
use keygate_core::config::{Config, Fault};
use keygate_core::error::Error;
use keygate_core::hash::KeyHash;
use keygate_core::key::{ApiKey, KeyId};
use keygate_core::keystate::{Command, KeyAction};
use keygate_core::lifecycle::leak;
use keygate_core::lifecycle::list::{query_pairs, ListQuery};
use keygate_core::lifecycle::record::{KeyView, KvEntry, Secret};
use keygate_core::lifecycle::request::{
    idempotency_key, CreditsRequest, IssueContext, NewKey, RotateRequest,
};
use keygate_core::limits::Tiers;
use keygate_core::policy::actor::Actor;
use keygate_core::registry::command::{Change, IndexCommand};

/// Runs `action` on key `id` as `actor`: the key's object checks the
/// actor's reach on its current record first.
pub(super) async fn act(
    env: &Env,
    config: &Config,
    id: &KeyId,
    actor: &Actor,
    action: KeyAction,
) -> Result<KeyView, Error> {
    client::key_view(env, config, id, &as_actor(actor, action)).await
}

/// `actor`'s `action`, as the command its key's object judges.
pub(super) fn as_actor(actor: &Actor, action: KeyAction) -> Command {
    Command::Admin {
        actor: actor.clone(),
        action,
    }
}

/// A view plus, this once, the secret: the create and rotate response.
#[derive(Serialize)]
struct WithSecret<'a> {
    #[serde(flatten)]
    view: &'a KeyView,
    key: &'a str,
}

fn with_secret(status: u16, view: &KeyView, key: &ApiKey) -> Handled {
    let data = WithSecret {
        view,
        key: key.expose_secret(),
    };
    http::reply(status, &json!({ "data": data }))
}

pub(super) async fn create(
    req: &web_sys::Request,
    env: &Env,
    config: &Config,
    actor: &Actor,
) -> Handled {
    let new_key: NewKey = parse_body(&read_body(req).await?)?;
    let environments = config.environment_names();
    let now = http::now();
    let ctx = IssueContext {
        environments: &environments,
        default_limits: config.default_limits,
        now,
        actor,
        tiers: &config.tiers,
        shards: config.registry_shards,
    };
    let credits = new_key.credits;
    let (record, key) = new_key.issue(&ctx)?;
    let id = record.id.clone();
    let hash = record.secrets[0].hash.clone();
    let insert = IndexCommand::Insert {
        key: record.view(None, credits, now),
        hashes: vec![hash.clone()],
        actor: actor.label(),
    };
    client::index_write(env, &id, insert).await?;
    config.fail_at(Fault::CrashAfterRegistry)?;
    let view = client::key_view(env, config, &id, &Command::Create { record, credits }).await?;
    config.fail_at(Fault::CrashAfterKeyObject)?;
    bindings::put_entry(env, &hash, &KvEntry::active(&id)).await?;
    client::index_write(env, &id, IndexCommand::Confirm { id: id.clone() }).await?;
    with_secret(201, &view, &key)
}

pub(super) async fn list(
    req: &web_sys::Request,
    env: &Env,
    config: &Config,
    actor: Actor,
) -> Handled {
    let url = req.url();
    let pairs = query_pairs(url.split_once('?').map_or("", |(_, q)| q));
    let query = ListQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let per_page = query.per_page;
    let page = client::list_keys(env, config.registry_shards, query, actor).await?;
    let meta = json!({ "per_page": per_page, "next_cursor": page.next });
    http::reply(200, &json!({ "data": page.data, "meta": meta }))
}

pub(super) async fn edit(
    req: &web_sys::Request,
    env: &Env,
    config: &Config,
    id: &KeyId,
    actor: &Actor,
) -> Handled {
    // Decoded (and refused with 400/422) by the key's object, in the same
    // step that applies it.
    let action = KeyAction::Update {
        patch: read_text(req).await?,
        tiers: Tiers::default(),
    };
    let key = act(env, config, id, actor, action).await?;
    recorded(env, key, Change::Edit, actor, None).await
}

/// Records a change to `key` in the registry (its listing view and the
/// audit trail), then answers with the key.
async fn recorded(
    env: &Env,
    key: KeyView,
    action: Change,
    actor: &Actor,
    detail: Option<String>,
) -> Handled {
    let update = IndexCommand::Update {
        key: key.clone(),
        hashes: vec![],
        action,
        actor: actor.label(),
        detail,
    };
    client::index_write(env, &key.id, update).await?;
    http::reply(200, &json!({ "data": key }))
}

/// Changes `id`'s credits in its object (once per `Idempotency-Key`), then
/// records it in the registry (listing view and audit).
pub(super) async fn credits(
    req: &web_sys::Request,
    env: &Env,
    config: &Config,
    id: &KeyId,
    actor: &Actor,
) -> Handled {
    let request: CreditsRequest = parse_body(&read_body(req).await?)?;
    request.validate()?;
    let header = req.headers().get("Idempotency-Key").ok().flatten();
    let action = KeyAction::Credits {
        op: request.op,
        amount: request.amount,
        idempotency_key: idempotency_key(header)?,
    };
    match client::credits(env, config, id, &as_actor(actor, action)).await? {
        // A retry: the first call already recorded it.
        Credited::Replayed(key) => http::reply(200, &json!({ "data": key })),
        Credited::Changed(key) => {
            let detail = format!("{:?} {}", request.op, request.amount).to_ascii_lowercase();
            recorded(env, key, Change::Credits, actor, Some(detail)).await
        }
    }
}

pub(super) async fn rotate(
    req: &web_sys::Request,
    env: &Env,
    config: &Config,
    id: &KeyId,
    actor: &Actor,
) -> Handled {
    let body = read_body(req).await?;
    let request: RotateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RotateRequest::default()
    } else {
        parse_body(&body)?
    };
    let grace_secs = request.grace_secs()?;
    let current = act(env, config, id, actor, KeyAction::Get).await?;
    let key = ApiKey::generate(current.key_type, current.environment.clone())
        .map_err(|_| Error::INTERNAL)?;
    let secret = Secret::of(&key);
    let hash = secret.hash.clone();
    let view = act(
        env,
        config,
        id,
        actor,
        KeyAction::Rotate { secret, grace_secs },
    )
    .await?;
    bindings::put_entry(env, &hash, &KvEntry::active(id)).await?;
    let update = IndexCommand::Update {
        key: view.clone(),
        hashes: vec![hash],
        action: Change::Rotate,
        actor: actor.label(),
        detail: Some(format!("previous secret expires in {grace_secs}s")),
    };
    client::index_write(env, id, update).await?;
    with_secret(200, &view, &key)
}

/// Revokes `id`: key object (authoritative) → KV → registry.
pub(super) async fn revoke_key(
    env: &Env,
    config: &Config,
    id: &KeyId,
    actor: &Actor,
    leaked_at: Option<String>,
) -> Result<KeyView, Error> {
    let reason = leaked_at.as_ref().map(|s| format!("leaked: {s}"));
    let command = Command::Admin {
        actor: actor.clone(),
        action: KeyAction::Revoke { reason },
    };
    let (key, hashes) = client::revoke(env, config, id, &command).await?;
    config.fail_at(Fault::CrashAfterKeyObject)?;
    let entry = KvEntry::revoked(&key);
    for hash in &hashes {
        if let Err(e) = bindings::put_entry(env, hash, &entry).await {
            worker::console_error!("revoked {id} but could not mark KV: {e:?}");
        }
    }
    let action = if leaked_at.is_some() {
        Change::RevokeLeaked
    } else {
        Change::Revoke
    };
    let update = IndexCommand::Update {
        key: key.clone(),
        hashes: vec![],
        action,
        actor: actor.label(),
        detail: leaked_at,
    };
    client::index_write(env, id, update).await?;
    Ok(key)
}

/// Revokes every reported key the actor may manage. Each item is judged
/// on its own: one failure is reported with its index and never stops the
/// rest.
pub(super) async fn revoke_leaked(
    req: &web_sys::Request,
    env: &Env,
    config: &Config,
    actor: &Actor,
) -> Handled {
    let leaks = leak::parse(&read_body(req).await?)?;
    // Not a well-formed key: nothing to look up, nothing to say.
    let keys: Vec<Option<ApiKey>> = leaks
        .iter()
        .map(|leak| ApiKey::parse(leak.token.trim()).ok())
        .collect();
    let hashes = keys.iter().flatten().map(KeyHash::of).collect();
    // One lookup per shard for the whole report.
    let found = client::find_by_hashes(env, config.registry_shards, hashes).await;
    let mut revoked = Vec::new();
    let mut failed = Vec::new();
    for (index, (leak, key)) in leaks.iter().zip(&keys).enumerate() {
        let Some(key) = key else {
            continue;
        };
        let hash = KeyHash::of(key);
        let source = leak
            .source
            .clone()
            .unwrap_or_else(|| "unspecified source".to_owned());
        let outcome = match &found {
            Ok(found) => match found.iter().find(|(h, _)| *h == hash) {
                None => continue,
                Some((_, id)) => revoke_key(env, config, id, actor, Some(source)).await,
            },
            Err(e) => Err(e.clone()),
        };
        match outcome {
            Ok(view) => {
                revoked.push(json!({ "index": index, "key_id": view.id, "display": key.display() }))
            }
            Err(e) => {
                failed.push(json!({ "index": index, "code": e.code(), "message": e.message() }))
            }
        }
    }
    http::reply(
        200,
        &json!({ "data": { "received": leaks.len(), "revoked": revoked, "failed": failed } }),
    )
}
