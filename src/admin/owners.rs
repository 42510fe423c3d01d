//! The owner routes: limits and credits an owner's keys share, kept by
//! the owner's object, which checks the owner rule.

use serde_json::json;
use worker::{web_sys, Env};

use super::{read_text, Handled};
use crate::objects::client;
use crate::runtime::http;
use keygate_core::admin::OwnerMethod;
use keygate_core::config::Config;
use keygate_core::owner::{OwnerAction, OwnerCommand};
use keygate_core::policy::actor::Actor;

/// `GET`, `PUT` or `DELETE /v1/owners/{owner_id}`: the owner's object
/// checks the owner rule, and decodes a `PUT` body where it applies it.
pub(super) async fn owner(
    req: &web_sys::Request,
    env: &Env,
    config: &Config,
    owner_id: String,
    method: OwnerMethod,
    actor: &Actor,
) -> Handled {
    let action = match method {
        OwnerMethod::Get => OwnerAction::Get,
        OwnerMethod::Put => OwnerAction::Put {
            body: read_text(req).await?,
        },
        OwnerMethod::Delete => OwnerAction::Delete,
    };
    let command = OwnerCommand::Admin {
        actor: actor.clone(),
        owner_id: owner_id.clone(),
        action,
    };
    let data = match client::owner_admin(env, config, &owner_id, &command).await? {
        Some(owner) => owner,
        None => json!({ "owner_id": owner_id, "deleted": true }),
    };
    http::reply(200, &json!({ "data": data }))
}
