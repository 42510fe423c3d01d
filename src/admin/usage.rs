//! The usage routes of one key and of an owner's keys (the overall usage
//! is the registry's own answer, see `dispatch`).

use serde_json::json;
use worker::{web_sys, Env};

use super::keys::as_actor;
use super::Handled;
use crate::objects::client;
use crate::runtime::http;
use keygate_core::analytics::{Stored, UsageQuery};
use keygate_core::config::Config;
use keygate_core::error::Error;
use keygate_core::key::KeyId;
use keygate_core::keystate::KeyAction;
use keygate_core::lifecycle::list::{query_pairs, ListQuery, MAX_PER_PAGE};
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

/// The usage of every key of `owner_id` that `actor` may read, summed (the
/// registry lists only keys within an admin key's reach, and each key's
/// object checks the reach again).
pub(super) async fn owner_usage(
    env: &Env,
    config: &Config,
    owner_id: String,
    actor: &Actor,
    query: UsageQuery,
) -> Handled {
    let mut series = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let per_page = MAX_PER_PAGE.to_string();
        let mut pairs = vec![
            ("owner_id", owner_id.as_str()),
            ("per_page", per_page.as_str()),
        ];
        if let Some(cursor) = &cursor {
            pairs.push(("cursor", cursor.as_str()));
        }
        let listing = ListQuery::parse(pairs)?;
        let page = client::list_keys(env, config.registry_shards, listing, actor.clone()).await?;
        for key in &page.data {
            series.push(key_usage(env, config, &key.id, actor, query).await?);
        }
        match page.next {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let mut usage = keygate_core::analytics::sum(&query, &series);
    usage["owner_id"] = json!(owner_id);
    usage["keys"] = json!(series.len());
    http::reply(200, &json!({ "data": usage }))
}
