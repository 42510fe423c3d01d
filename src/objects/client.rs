//! Calls to the Durable Objects: one function per object class, one
//! request per call, no retry. Every failure becomes `Error::UNAVAILABLE`
//! (fail closed); a reply that does not decode is never logged (it may
//! carry hashes).

use std::time::Duration;

use futures_util::future::{select, Either};
use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{web_sys, Env};

use futures_util::future::join_all;
use keygate_core::analytics::overall::{overall_series, UsageReport};
use keygate_core::analytics::{Stored, UsageQuery};
use keygate_core::config::{Config, Fault};
use keygate_core::error::Error;
use keygate_core::guard;
use keygate_core::hash::KeyHash;
use keygate_core::key::KeyId;
use keygate_core::keystate::{Command, Grant, Reply};
use keygate_core::lifecycle::list::ListQuery;
use keygate_core::lifecycle::record::KeyView;
use keygate_core::owner::{OwnerCommand, OwnerReply};
use keygate_core::policy::actor::{Actor, DeploymentPermit};
use keygate_core::registry::command::{
    AuditEntry, HubCommand, IndexCommand, RegistryCommand, RegistryReply, WebhookAction,
};
use keygate_core::registry::cursor::{merge, Page};
use keygate_core::registry::shard::{Shard, ShardCount};
use keygate_core::webhook::delivery::Outgoing;
use keygate_core::webhook::Event;

/// Durable Object namespace binding: one `KeyObject` per key id.
const KEY_OBJECTS: &str = "KEY_OBJECTS";
/// Durable Object namespace binding: one `OwnerObject` per owner id.
const OWNER_OBJECTS: &str = "OWNER_OBJECTS";
/// Durable Object namespace binding of the registry's shards (one object
/// per shard, named by [`Shard::object_name`]).
const REGISTRY: &str = "REGISTRY";
/// Durable Object namespace binding: one `GuardObject` per admin client.
const ADMIN_GUARD: &str = "ADMIN_GUARD";
/// How long the Worker waits for a Durable Object before failing closed.
/// Calls take milliseconds; this only bounds a stuck one.
pub const OBJECT_TIMEOUT_MS: u64 = 5_000;

/// Sends `command` to the Durable Object of key `id`. One call, no retry:
/// an authorize is not idempotent, so a failed one is reported (503)
/// rather than repeated.
pub async fn key_object(
    env: &Env,
    config: &Config,
    id: &KeyId,
    command: &Command,
) -> Result<Reply, Error> {
    config.fail_at(Fault::KeyObject)?;
    call_object::<_, Result<Reply, Error>>(env, KEY_OBJECTS, id.as_str(), command).await?
}

/// The key as key `id`'s object shows it after `command` (`Create`, or an
/// admin action that answers with the key).
pub async fn key_view(
    env: &Env,
    config: &Config,
    id: &KeyId,
    command: &Command,
) -> Result<KeyView, Error> {
    match key_object(env, config, id, command).await? {
        Reply::Key { key } => Ok(key),
        other => Err(unexpected("key object", other.kind())),
    }
}

/// Key `id`'s usage series, as its object answers `command` (`Usage`).
pub async fn key_usage(
    env: &Env,
    config: &Config,
    id: &KeyId,
    command: &Command,
) -> Result<serde_json::Value, Error> {
    match key_object(env, config, id, command).await? {
        Reply::Usage { usage } => Ok(usage),
        other => Err(unexpected("key object", other.kind())),
    }
}

/// The grant of a dashboard session's key, judged again by its object
/// (`command` is `Resume`): refused as the key's secret would be.
pub async fn resume(
    env: &Env,
    config: &Config,
    id: &KeyId,
    command: &Command,
) -> Result<Grant, Error> {
    match key_object(env, config, id, command).await? {
        Reply::Granted {
            record: Some(record),
            quotas,
            credits,
            ..
        } => Ok(Grant::new(&record, quotas, credits)),
        Reply::Refused { error, .. } => Err(error),
        other => Err(unexpected("key object", other.kind())),
    }
}

/// What a credits change came to.
pub enum Credited {
    /// Changed now: the key after it.
    Changed(KeyView),
    /// A retry of a change already made (same `Idempotency-Key`): the key
    /// as that change left it.
    Replayed(KeyView),
}

/// Changes key `id`'s credits (`command` is the `Credits` action).
pub async fn credits(
    env: &Env,
    config: &Config,
    id: &KeyId,
    command: &Command,
) -> Result<Credited, Error> {
    match key_object(env, config, id, command).await? {
        Reply::Key { key } => Ok(Credited::Changed(key)),
        Reply::Replayed { key } => Ok(Credited::Replayed(key)),
        other => Err(unexpected("key object", other.kind())),
    }
}

/// Revokes key `id` (`command` is the `Revoke` action): the key, and every
/// secret hash to mark revoked in KV.
pub async fn revoke(
    env: &Env,
    config: &Config,
    id: &KeyId,
    command: &Command,
) -> Result<(KeyView, Vec<KeyHash>), Error> {
    match key_object(env, config, id, command).await? {
        Reply::Revoked { key, hashes } => Ok((key, hashes)),
        other => Err(unexpected("key object", other.kind())),
    }
}

/// Sends `command` to the Durable Object of owner `owner_id`. One call,
/// no retry (a charge is not idempotent).
pub async fn owner_object(
    env: &Env,
    config: &Config,
    owner_id: &str,
    command: &OwnerCommand,
) -> Result<OwnerReply, Error> {
    config.fail_at(Fault::OwnerObject)?;
    call_object::<_, Result<OwnerReply, Error>>(env, OWNER_OBJECTS, owner_id, command).await?
}

/// An admin's command on owner `owner_id` (`command` is `Admin`): the
/// owner's view after a read or a write, `None` once its limits are deleted.
pub async fn owner_admin(
    env: &Env,
    config: &Config,
    owner_id: &str,
    command: &OwnerCommand,
) -> Result<Option<serde_json::Value>, Error> {
    match owner_object(env, config, owner_id, command).await? {
        OwnerReply::Owner { owner } => Ok(Some(owner)),
        OwnerReply::Deleted => Ok(None),
        other => Err(unexpected("owner object", other.kind())),
    }
}

/// Sends `command` to registry shard `shard`: its raw reply (the typed
/// functions below are what the rest of the Worker calls).
async fn registry(
    env: &Env,
    shard: Shard,
    command: &RegistryCommand,
) -> Result<RegistryReply, Error> {
    let name = shard.object_name();
    // The shard reads which it is from the path; the kind is for traces.
    let body = serde_json::to_string(command).map_err(|_| Error::INTERNAL)?;
    let url = format!("https://object/{name}/{}", command.kind());
    let text = call(env, REGISTRY, &name, &url, body).await?;
    decode(REGISTRY, &name, &text)
}

/// Sends `command` to every shard at once: what `pick` takes from each
/// reply, shard 0 first (a reply it takes nothing from is a bug).
async fn every_shard<T>(
    env: &Env,
    shards: ShardCount,
    command: &RegistryCommand,
    pick: impl Fn(RegistryReply) -> Result<T, RegistryReply>,
) -> Result<Vec<T>, Error> {
    join_all(shards.all().map(|shard| registry(env, shard, command)))
        .await
        .into_iter()
        .map(|reply| pick(reply?).map_err(|other| unexpected("registry", other.kind())))
        .collect()
}

/// The error for an object's reply of the wrong kind: a bug (or a
/// half-deployed release), logged by kind only — replies can carry hashes.
fn unexpected(object: &str, kind: &str) -> Error {
    worker::console_error!("unexpected {object} reply: {kind}");
    Error::INTERNAL
}

/// A write about key `id` (`Insert`, `Confirm`, `Update`) done by its shard.
pub async fn index_write(env: &Env, id: &KeyId, command: IndexCommand) -> Result<(), Error> {
    match registry(env, id.shard(), &RegistryCommand::Index(command)).await? {
        RegistryReply::Done => Ok(()),
        other => Err(unexpected("registry", other.kind())),
    }
}

/// Counts (one shard's part of a [`UsageReport`]) added by shard `shard`.
pub async fn report(env: &Env, shard: Shard, usage: UsageReport) -> Result<(), Error> {
    let report = HubCommand::Report {
        touch: None,
        usage,
        alerts: Vec::new(),
    };
    match registry(env, shard, &RegistryCommand::Hub(report)).await? {
        RegistryReply::Done => Ok(()),
        other => Err(unexpected("registry", other.kind())),
    }
}

/// Hands events a shard raised to the hub, for the webhook endpoints.
pub async fn emit(env: &Env, events: Vec<Event>) -> Result<(), Error> {
    let command = RegistryCommand::Hub(HubCommand::Emit { events });
    match registry(env, Shard::HUB, &command).await? {
        RegistryReply::Done => Ok(()),
        other => Err(unexpected("registry", other.kind())),
    }
}

/// A page of the keys `actor` may see, as `query` asks: every shard's part,
/// merged (one call per shard, whatever the table's size).
pub async fn list_keys(
    env: &Env,
    shards: ShardCount,
    query: ListQuery,
    actor: Actor,
) -> Result<Page, Error> {
    let per_page = query.per_page as usize;
    let command = RegistryCommand::Index(IndexCommand::List { query, actor });
    let parts = every_shard(env, shards, &command, |reply| match reply {
        RegistryReply::Page(part) => Ok(part),
        other => Err(other),
    })
    .await?;
    Ok(merge(parts, per_page))
}

/// The keys these secrets' `hashes` belong to (one call per shard for all
/// of them); hashes of no key are left out.
pub async fn find_by_hashes(
    env: &Env,
    shards: ShardCount,
    hashes: Vec<KeyHash>,
) -> Result<Vec<(KeyHash, KeyId)>, Error> {
    let command = RegistryCommand::Index(IndexCommand::Find { hashes });
    let found = every_shard(env, shards, &command, |reply| match reply {
        RegistryReply::Found { keys } => Ok(keys),
        other => Err(other),
    })
    .await?;
    Ok(found.into_iter().flatten().collect())
}

/// Key `id`'s audit trail, newest first.
pub async fn audit(env: &Env, id: KeyId) -> Result<Vec<AuditEntry>, Error> {
    let shard = id.shard();
    match registry(
        env,
        shard,
        &RegistryCommand::Index(IndexCommand::Audit { id }),
    )
    .await?
    {
        RegistryReply::Trail { entries } => Ok(entries),
        other => Err(unexpected("registry", other.kind())),
    }
}

/// Owner `owner_id`'s usage rows for `query` and its key count: every
/// shard's share, summed (one call per shard, whatever its key count).
pub async fn owner_usage(
    env: &Env,
    shards: ShardCount,
    owner_id: String,
    query: UsageQuery,
) -> Result<(Stored, u64), Error> {
    let command = RegistryCommand::Hub(HubCommand::OwnerUsage { owner_id, query });
    let parts = every_shard(env, shards, &command, |reply| match reply {
        RegistryReply::OwnerUsage { stored, keys } => Ok((stored, keys)),
        other => Err(other),
    })
    .await?;
    let mut sum = (Stored::default(), 0);
    for (stored, keys) in parts {
        sum.0.rows.extend(stored.rows);
        sum.0.countries.extend(stored.countries);
        sum.1 += keys;
    }
    Ok(sum)
}

/// The overall usage series `query` asks for: every shard's part, summed.
pub async fn overall_usage(
    env: &Env,
    shards: ShardCount,
    query: UsageQuery,
    permit: DeploymentPermit,
) -> Result<serde_json::Value, Error> {
    let command = RegistryCommand::Hub(HubCommand::Usage { query, permit });
    let parts = every_shard(env, shards, &command, |reply| match reply {
        RegistryReply::Usage(part) => Ok(part),
        other => Err(other),
    })
    .await?;
    Ok(overall_series(&query, parts))
}

/// A webhook route's answer, made whole by the hub: status and JSON body.
pub async fn webhooks(
    env: &Env,
    action: WebhookAction,
    permit: DeploymentPermit,
) -> Result<(u16, String), Error> {
    let command = RegistryCommand::Hub(HubCommand::Webhooks { action, permit });
    match registry(env, Shard::HUB, &command).await? {
        RegistryReply::Answer { status, body } => Ok((status, body)),
        RegistryReply::Refused { error } => Err(error),
        other => Err(unexpected("registry", other.kind())),
    }
}

/// Claims `delivery`'s next attempt; `None` when it is no longer due.
pub async fn claim(env: &Env, delivery: u64) -> Result<Option<Outgoing>, Error> {
    let command = RegistryCommand::Hub(HubCommand::Claim { delivery });
    match registry(env, Shard::HUB, &command).await? {
        RegistryReply::Claimed { outgoing } => Ok(outgoing),
        other => Err(unexpected("registry", other.kind())),
    }
}

/// Records an attempt (`HubCommand::Attempted`): `false` when another
/// copy of the message made this attempt first.
pub async fn attempted(env: &Env, report: HubCommand) -> Result<bool, Error> {
    match registry(env, Shard::HUB, &RegistryCommand::Hub(report)).await? {
        RegistryReply::Done => Ok(true),
        RegistryReply::Refused { .. } => Ok(false),
        other => Err(unexpected("registry", other.kind())),
    }
}

/// Runs every shard's sweep (retention deletes, expiry events; on the hub,
/// deliveries queued again): expiry events raised and deliveries requeued.
pub async fn sweep(env: &Env, shards: ShardCount) -> Result<(u64, u64), Error> {
    let command = RegistryCommand::Hub(HubCommand::Sweep);
    let swept = every_shard(env, shards, &command, |reply| match reply {
        RegistryReply::Swept { notices, requeued } => Ok((notices, requeued)),
        other => Err(other),
    })
    .await?;
    Ok(swept
        .into_iter()
        .fold((0, 0), |(n, r), (notices, requeued)| {
            (n + notices, r + requeued)
        }))
}

/// Reports a failed admin authentication from `client` to its guard
/// object and returns the guard's verdict (see [`keygate_core::guard`] for the
/// plain-text answer, which keeps JSON code for this exchange out of the bundle).
pub async fn guard(env: &Env, client: &str) -> Result<Result<(), Error>, Error> {
    let text = call(env, ADMIN_GUARD, client, "https://object/", String::new()).await?;
    guard::verdict(&text).ok_or_else(|| {
        worker::console_error!("{ADMIN_GUARD} object {client}: unreadable verdict");
        Error::UNAVAILABLE
    })
}

/// POSTs `command` as JSON to the object `name` of `binding` and decodes
/// its JSON answer.
pub async fn call_object<C: Serialize, R: DeserializeOwned>(
    env: &Env,
    binding: &str,
    name: &str,
    command: &C,
) -> Result<R, Error> {
    let body = serde_json::to_string(command).map_err(|_| Error::INTERNAL)?;
    let text = call(env, binding, name, "https://object/", body).await?;
    decode(binding, name, &text)
}

/// An object's JSON answer, decoded. The error is not logged: serde's
/// message can quote the reply, and replies may carry secret hashes.
fn decode<R: DeserializeOwned>(binding: &str, name: &str, text: &str) -> Result<R, Error> {
    serde_json::from_str(text).map_err(|_| {
        worker::console_error!("{binding} object {name}: its answer did not decode");
        Error::UNAVAILABLE
    })
}

/// POSTs `body` to `url` on the object `name` of `binding` and reads its
/// answer; anything but a 200 in time is `Unavailable`.
async fn call(
    env: &Env,
    binding: &str,
    name: &str,
    url: &str,
    body: String,
) -> Result<String, Error> {
    let unavailable = |what: &str, e: worker::Error| {
        worker::console_error!("{binding} object {name}: {what} failed: {e}");
        Error::UNAVAILABLE
    };
    let namespace = env.durable_object(binding).map_err(|e| {
        worker::console_error!("Durable Object binding {binding} missing: {e}");
        Error::MISCONFIGURED
    })?;
    // The runtime's own types throughout: worker's `Request` and
    // `Response` wrappers read each one's `cf` object and parse its URL,
    // which costs more than the call's own work.
    let stub: worker::worker_sys::DurableObject = namespace
        .get_by_name(name)
        .map_err(|e| unavailable("stub", e))?
        .into_rpc();
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&body.into());
    let req = web_sys::Request::new_with_str_and_init(url, &init)
        .map_err(|e| unavailable("request", e.into()))?;
    let sent = stub
        .fetch_with_request(&req)
        .map_err(|e| unavailable("fetch", e.into()))?;
    // Not retried on timeout: an authorize may have counted already, and
    // counting twice is worse than one 503.
    let call = std::pin::pin!(JsFuture::from(sent));
    let timeout = std::pin::pin!(worker::Delay::from(Duration::from_millis(
        OBJECT_TIMEOUT_MS
    )));
    let resp: web_sys::Response = match select(call, timeout).await {
        Either::Left((result, _)) => result
            .map_err(|e| unavailable("fetch", e.into()))?
            .unchecked_into(),
        Either::Right(_) => {
            worker::console_error!("{binding} object {name}: no answer in {OBJECT_TIMEOUT_MS} ms");
            return Err(Error::UNAVAILABLE);
        }
    };
    if resp.status() != 200 {
        worker::console_error!("{binding} object {name} answered {}", resp.status());
        return Err(Error::UNAVAILABLE);
    }
    let text = resp.text().map_err(|e| unavailable("read", e.into()))?;
    let text = JsFuture::from(text)
        .await
        .map_err(|e| unavailable("read", e.into()))?;
    text.as_string()
        .ok_or_else(|| unavailable("read", worker::Error::RustError("not text".into())))
}
