//! Judging a key on request: `POST /v1/verify` (another service asks)
//! and `GET /v1/whoami` (a key asks about itself).

use serde_json::json;
use worker::web_sys;

use super::{read_body, Handled};
use crate::api::entry::Presented;
use crate::api::gateway;
use crate::runtime::{http, Edge};
use keygate_core::admin::parse_body;
use keygate_core::error::Error;
use keygate_core::key::ApiKey;
use keygate_core::keystate::Access;
use keygate_core::limits::quotas_json;
use keygate_core::policy::actor::Actor;
use keygate_core::policy::ip::client_ip;
use keygate_core::policy::route::Requirement;
use keygate_core::verify::{verdict, VerifyRequest};

pub(super) async fn verify(req: &web_sys::Request, edge: Edge<'_>, actor: &Actor) -> Handled {
    let config = edge.config;
    let request: VerifyRequest = parse_body(&read_body(req).await?)?;
    let key = ApiKey::parse(request.key.trim()).map_err(|_| Error::invalid_api_key());
    let result = match key.and_then(|k| config.origin_for(&k).map(|_| k)) {
        Err(e) => Err(e),
        Ok(key) => {
            let access = Access {
                requirement: Ok(request.requirement()),
                read_only: request.read_only(),
                client_ip: client_ip(request.ip.as_deref()),
                consume: true,
                // The end client's country is not the verifying service's.
                country: None,
            };
            gateway::admit(edge, &key, access, Some(actor)).await
        }
    };
    // Storage failures are the verify call's own failure, not a verdict.
    if let Err(e @ (Error::UNAVAILABLE | Error::INTERNAL | Error::MISCONFIGURED)) = result {
        return Err(e);
    }
    http::reply(200, &json!({ "data": verdict(&result, http::now()) }))
}

pub(super) async fn whoami(presented: &Presented, method: &str, edge: Edge<'_>) -> Handled {
    let (key, _) = gateway::credential(presented)?;
    let access = gateway::access(presented, method, Ok(Requirement::OPEN), false);
    let grant = gateway::admit(edge, &key, access, None).await?;
    let body = json!({ "data": {
        "id": grant.key_id,
        "name": grant.name,
        "environment": grant.environment,
        "type": grant.key_type,
        "display": key.display(),
        "owner_id": grant.owner_id,
        "metadata": grant.metadata,
        "scopes": grant.grants.scopes,
        "permissions": grant.grants.permissions,
        "rate_limits": grant.rate_limits,
        "ratelimit": grant.quota().to_json(),
        "window": grant.window,
        "limits": quotas_json(&grant.quotas),
        "credits": grant.credits,
        "owner_credits": grant.owner_credits,
        "expires_at": grant.expires_at,
    }});
    http::reply(200, &body)
}
