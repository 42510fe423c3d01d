//! Who is asking: the admin token, an API key holding `admin`, or a
//! dashboard session — behind the guessing guard (see
//! [`keygate_core::guard`]).

use worker::Env;

use super::dashboard;
use crate::api::entry::Presented;
use crate::api::gateway;
use crate::objects::client;
use crate::runtime::isolate::THROTTLED;
use crate::runtime::{http, Edge};
use keygate_core::admin::{check_admin_token, configured_token, MIN_ADMIN_TOKEN_CHARS};
use keygate_core::config::Config;
use keygate_core::credential::presented_key;
use keygate_core::error::{Detail, Error, ErrorKind};
use keygate_core::guard::client_of;
use keygate_core::policy::actor::Actor;
use keygate_core::policy::ip::client_ip;
use keygate_core::policy::permission::Permission;
use keygate_core::policy::route::Requirement;

/// The admin token, if one is configured; [`Error::ADMIN_DISABLED`] when
/// neither it nor admin keys without it may act.
pub(super) fn admin_token(env: &Env, config: &Config) -> Result<Option<String>, Error> {
    let secret = env.secret("ADMIN_TOKEN").ok().map(|s| s.to_string());
    let token = configured_token(secret.clone());
    if token.is_none() && secret.is_some_and(|s| !s.is_empty()) {
        worker::console_error!("ADMIN_TOKEN is shorter than {MIN_ADMIN_TOKEN_CHARS} characters: the admin token is disabled");
    }
    if token.is_none() && !config.admin_keys_without_token {
        return Err(Error::ADMIN_DISABLED);
    }
    Ok(token)
}

/// Authenticates an admin request behind the guessing guard (see
/// [`keygate_core::guard`]). A right credential always passes, at no I/O beyond
/// its own check; a failure is counted by the client's guard object, and
/// past the limit answered 429 until the minute ends. `url` is the
/// request's (a session's writes must come from its origin).
pub(super) async fn authenticate(
    url: &str,
    presented: &Presented,
    method: &str,
    edge: Edge<'_>,
    token: Option<&str>,
) -> Result<Actor, Error> {
    let env = edge.env;
    let outcome = credential_actor(url, presented, method, edge, token).await;
    let failed = outcome.as_ref().is_err_and(|e| {
        matches!(
            e.kind(),
            ErrorKind::Unauthorized
                | ErrorKind::MissingApiKey
                | ErrorKind::InvalidApiKey
                | ErrorKind::KeyRevoked
                | ErrorKind::KeyExpired
        )
    });
    if !failed {
        return outcome;
    }
    let client = client_of(client_ip(presented.client_ip.as_deref()));
    let now = http::now();
    let throttled = THROTTLED.with(|t| t.borrow_mut().get(&client, now));
    if let Some(error) = throttled {
        if matches!(error.detail(), Detail::RateLimit { retry_at, .. } if now < *retry_at) {
            return Err(error);
        }
    }
    if let Err(error) = client::guard(env, &client).await? {
        THROTTLED.with(|t| t.borrow_mut().insert(client, error.clone(), now));
        return Err(error);
    }
    outcome
}

/// The admin token, or an API key that holds `admin` (which then bounds
/// every key the request may touch, see [`keygate_core::policy::actor`]), as the
/// `Authorization` header presents it — or, without that header, as the
/// dashboard's session cookie does.
async fn credential_actor(
    url: &str,
    presented: &Presented,
    method: &str,
    edge: Edge<'_>,
    token: Option<&str>,
) -> Result<Actor, Error> {
    let needs_admin = Ok(Requirement {
        permission: Some(Permission::admin()),
        ..Requirement::OPEN
    });
    // Admin calls count against the acting key's own limits.
    let access = gateway::access(presented, method, needs_admin, true);
    let authorization = presented.authorization.as_deref();
    if let Ok((key, _)) = presented_key(authorization, None) {
        let grant = gateway::admit(edge, &key, access, None).await?;
        return Ok(Actor::key(&grant));
    }
    if let (None, Some(cookie)) = (authorization, dashboard::cookie(presented)) {
        return dashboard::actor(url, presented, cookie, access, method, edge, token).await;
    }
    check_admin_token(token, authorization)?;
    Ok(Actor::AdminToken)
}
