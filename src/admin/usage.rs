//! The usage routes of one key (its object's series) and of an owner (the
//! registry shards' rollup); the overall usage is in `dispatch`.

use serde_json::json;
use worker::{web_sys, Env};

use super::keys::as_actor;
use super::Handled;
use crate::objects::client;
use crate::runtime::http;
use keygate_core::analytics::{series, Open, Stored, UsageQuery};
use keygate_core::config::Config;
use keygate_core::error::Error;
use keygate_core::key::KeyId;
use keygate_core::keystate::KeyAction;
use keygate_core::lifecycle::list::query_pairs;
use keygate_core::policy::actor::Actor;

/// The request's `?granularity=&from=&to=`.
pub(super) fn usage_query(req: &web_sys::Request) -> Result<UsageQuery, Error> {
    let url = req.url();
    let pairs = query_pairs(url.split_once('?').map_or("", |(_, q)| q));
    UsageQuery::parse(&pairs, http::now())
}

/// Key `id`'s usage series, as its object answers it to `actor`.
pub(super) async fn key_usage(
    env: &Env,
    config: &Config,
    id: &KeyId,
    actor: &Actor,
    query: UsageQuery,
) -> Result<serde_json::Value, Error> {
    let action = KeyAction::Usage {
        query,
        stored: Stored::default(),
    };
    client::key_usage(env, config, id, &as_actor(actor, action)).await
}

/// Owner `owner_id`'s usage: its rollup, kept by the registry shards as the
/// isolates' reports arrive (one call per shard, whatever its key count).
/// A key actor reads only its own owner's; another owner's is empty to it,
/// as if it had no keys.
pub(super) async fn owner_usage(
    env: &Env,
    config: &Config,
    owner_id: String,
    actor: &Actor,
    query: UsageQuery,
) -> Handled {
    let within = match actor {
        Actor::AdminToken => true,
        Actor::Key { bounds, .. } => bounds.owner_id.as_deref() == Some(owner_id.as_str()),
    };
    let (stored, keys) = match within {
        true => client::owner_usage(env, config.registry_shards, owner_id.clone(), query).await?,
        false => (Stored::default(), 0),
    };
    let mut usage = series(&query, &stored, &Open::default());
    usage["owner_id"] = json!(owner_id);
    usage["keys"] = json!(keys);
    http::reply(200, &json!({ "data": usage }))
}
