//! Admin route handlers. Each authenticates, decodes, calls the core, and
//! writes storage in the order [`crate::lifecycle::registry`] documents, so a failure
//! part-way never leaves a half-issued key usable or a revoked key usable.

use std::cell::RefCell;

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;
use worker::{js_sys, web_sys, Env, Response};

use super::{dashboard, gateway, http, store, Edge, Presented};
use crate::admin::{
    check_admin_token, configured_token, parse_body, AdminRoute, OwnerMethod, SessionMethod,
    MAX_BODY_BYTES, MIN_ADMIN_TOKEN_CHARS,
};
use crate::analytics::{Stored, UsageQuery};
use crate::cache::TtlCache;
use crate::config::{Config, Fault};
use crate::credential::presented_key;
use crate::error::Error;
use crate::guard::client_of;
use crate::key::{ApiKey, KeyId};
use crate::keystate::{Access, Command, KeyAction, Reply};
use crate::lifecycle::leak;
use crate::lifecycle::list::{query_pairs, ListQuery, MAX_PER_PAGE};
use crate::lifecycle::record::{KeyView, KvEntry, Secret};
use crate::lifecycle::registry::{Change, RegistryCommand, RegistryReply};
use crate::lifecycle::request::{
    idempotency_key, CreditsRequest, IssueContext, NewKey, RotateRequest,
};
use crate::limits::{quotas_json, Tiers};
use crate::log::{AdminLine, Arrival};
use crate::owner::{OwnerAction, OwnerCommand, OwnerReply};
use crate::policy::actor::Actor;
use crate::policy::ip::client_ip;
use crate::policy::permission::Permission;
use crate::policy::route::Requirement;
use crate::verify::{verdict, VerifyRequest};

/// Where the OpenAPI 3.1 description of the admin API is among the
/// Worker's static assets (`make build` writes it minified; the `ASSETS`
/// binding serves it, never the asset path itself: the Worker runs first).
const OPENAPI_ASSET: &str = "https://assets.invalid/openapi.json";

type Handled = Result<worker::Result<Response>, Error>;

/// Dispatches a matched admin route, and logs it (see [`crate::log`]).
pub async fn handle(
    route: AdminRoute,
    req: web_sys::Request,
    presented: &Presented,
    method: &str,
    edge: Edge<'_>,
    arrival: &Arrival,
) -> Result<Response, Error> {
    let operation = route.operation();
    let target = route.target().map(str::to_owned);
    let mut actor = None;
    let answer = dispatch(route, req, presented, method, edge, &mut actor).await;
    let (outcome, status) = match &answer {
        Ok(resp) => ("ok", resp.status_code()),
        Err(error) => (error.code(), error.status()),
    };
    http::log(&AdminLine {
        log: "admin",
        at: arrival.at,
        request_id: arrival.request_id.clone(),
        action: operation,
        actor,
        target,
        outcome,
        status,
        latency_ms: http::now()
            .as_millis()
            .saturating_sub(arrival.at.as_millis()),
    });
    answer
}

/// Runs a matched admin route; `actor` is set once authenticated.
async fn dispatch(
    route: AdminRoute,
    req: web_sys::Request,
    presented: &Presented,
    method: &str,
    edge: Edge<'_>,
    acting: &mut Option<String>,
) -> Result<Response, Error> {
    let (env, config) = (edge.env, edge.config.as_ref());
    let resp = match route {
        AdminRoute::OpenApi => Ok(Response::from(store::asset(env, OPENAPI_ASSET).await?)),
        AdminRoute::Whoami => whoami(presented, method, edge).await?,
        AdminRoute::Dashboard(page) => dashboard::page(env, &config.admin_prefix, &page).await?,
        AdminRoute::Session(SessionMethod::SignOut) => {
            // Without an admin token there may still be sessions to end.
            let token = admin_token(env, config).ok().flatten();
            let url = req.url();
            dashboard::sign_out(env, &url, &config.admin_prefix, presented, token.as_deref())
                .await?
        }
        route => {
            let token = admin_token(env, config)?;
            let url = req.url();
            // A sign-in presents its credential in the body, and is then
            // checked (and its failures counted) as a bearer token is.
            let signing_in;
            let presented = if route == AdminRoute::Session(SessionMethod::SignIn) {
                signing_in =
                    dashboard::sign_in_credential(&url, presented, &read_body(&req).await?)?;
                &signing_in
            } else {
                presented
            };
            let actor = authenticate(&url, presented, method, edge, token.as_deref()).await?;
            *acting = Some(actor.label());
            match route {
                AdminRoute::Session(SessionMethod::SignIn) => {
                    dashboard::start(edge, token.as_deref(), &actor, presented)?
                }
                AdminRoute::Session(SessionMethod::Get) => {
                    dashboard::current(env, presented, token.as_deref()).await?
                }
                AdminRoute::CreateKey => create(&req, env, config, &actor).await?,
                AdminRoute::ListKeys => list(&req, env, actor).await?,
                AdminRoute::GetKey(id) => {
                    let key = act(env, config, &id, &actor, KeyAction::Get).await?;
                    http::json(200, &json!({ "data": key }))
                }
                AdminRoute::EditKey(id) => edit(&req, env, config, &id, &actor).await?,
                AdminRoute::RotateKey(id) => rotate(&req, env, config, &id, &actor).await?,
                AdminRoute::KeyCredits(id) => credits(&req, env, config, &id, &actor).await?,
                AdminRoute::RevokeKey(id) => {
                    let key = revoke_key(env, config, &id, &actor, None).await?;
                    http::json(200, &json!({ "data": key }))
                }
                AdminRoute::RevokeLeaked => revoke_leaked(&req, env, config, &actor).await?,
                AdminRoute::KeyAudit(id) => {
                    // The key's object decides whether the actor may see it
                    // (404 for no such key, 403 out of reach) before the trail is read.
                    act(env, config, &id, &actor, KeyAction::Get).await?;
                    match store::registry(env, &RegistryCommand::Audit { id }).await? {
                        RegistryReply::Trail { entries } => {
                            http::json(200, &json!({ "data": entries }))
                        }
                        _ => return Err(Error::Internal),
                    }
                }
                AdminRoute::KeyUsage(id) => {
                    let usage = key_usage(env, config, &id, &actor, usage_query(&req)?).await?;
                    http::json(200, &json!({ "data": usage }))
                }
                AdminRoute::OwnerUsage { owner_id } => {
                    owner_usage(env, config, owner_id, &actor, usage_query(&req)?).await?
                }
                AdminRoute::Usage => {
                    let command = RegistryCommand::Usage {
                        query: usage_query(&req)?,
                        permit: actor.deployment_permit()?,
                    };
                    match store::registry(env, &command).await? {
                        RegistryReply::Usage { usage } => {
                            http::json(200, &json!({ "data": usage }))
                        }
                        _ => return Err(Error::Internal),
                    }
                }
                AdminRoute::Verify => verify(&req, edge, &actor).await?,
                AdminRoute::Owner { owner_id, method } => {
                    owner(&req, env, config, owner_id, method, &actor).await?
                }
                AdminRoute::Webhooks(route) => {
                    super::webhooks::handle(route, &req, env, &actor).await?
                }
                AdminRoute::OpenApi
                | AdminRoute::Whoami
                | AdminRoute::Dashboard(_)
                | AdminRoute::Session(SessionMethod::SignOut) => return Err(Error::Internal),
            }
        }
    };
    resp.map_err(|e| {
        worker::console_error!("response encoding failed: {e}");
        Error::Internal
    })
}

thread_local! {
    /// Clients the guard has throttled, remembered in this isolate until
    /// their window ends so that their failures cost no I/O meanwhile.
    static THROTTLED: RefCell<TtlCache<String, Error>> = RefCell::new(TtlCache::new(60_000, 1_000));
}

/// The admin token, if one is configured; [`Error::AdminDisabled`] when
/// neither it nor admin keys without it may act.
fn admin_token(env: &Env, config: &Config) -> Result<Option<String>, Error> {
    let secret = env.secret("ADMIN_TOKEN").ok().map(|s| s.to_string());
    let token = configured_token(secret.clone());
    if token.is_none() && secret.is_some_and(|s| !s.is_empty()) {
        worker::console_error!("ADMIN_TOKEN is shorter than {MIN_ADMIN_TOKEN_CHARS} characters: the admin token is disabled");
    }
    if token.is_none() && !config.admin_keys_without_token {
        return Err(Error::AdminDisabled);
    }
    Ok(token)
}

/// Authenticates an admin request behind the guessing guard (see
/// [`crate::guard`]). A right credential always passes, at no I/O beyond
/// its own check; a failure is counted by the client's guard object, and
/// past the limit answered 429 until the minute ends. `url` is the
/// request's (a session's writes must come from its origin).
async fn authenticate(
    url: &str,
    presented: &Presented,
    method: &str,
    edge: Edge<'_>,
    token: Option<&str>,
) -> Result<Actor, Error> {
    let env = edge.env;
    let outcome = credential_actor(url, presented, method, edge, token).await;
    let failed = matches!(
        outcome,
        Err(Error::Unauthorized
            | Error::MissingApiKey
            | Error::InvalidApiKey { .. }
            | Error::KeyRevoked
            | Error::KeyExpired)
    );
    if !failed {
        return outcome;
    }
    let client = client_of(client_ip(presented.client_ip.as_deref()));
    let now = http::now();
    let throttled = THROTTLED.with(|t| t.borrow_mut().get(&client, now));
    if let Some(error @ Error::RateLimited { retry_at, .. }) = throttled {
        if now < retry_at {
            return Err(error);
        }
    }
    if let Err(error) = store::guard(env, &client).await? {
        THROTTLED.with(|t| t.borrow_mut().insert(client, error.clone(), now));
        return Err(error);
    }
    outcome
}

/// The admin token, or an API key that holds `admin` (which then bounds
/// every key the request may touch, see [`crate::policy::actor`]), as the
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

/// Runs `action` on key `id` as `actor`: the key's object checks the
/// actor's reach on its current record first.
async fn act(
    env: &Env,
    config: &Config,
    id: &KeyId,
    actor: &Actor,
    action: KeyAction,
) -> Result<KeyView, Error> {
    expect_key(ask(env, config, id, actor, action).await?)
}

/// `actor`'s `action` on key `id`, as its object answers it.
async fn ask(
    env: &Env,
    config: &Config,
    id: &KeyId,
    actor: &Actor,
    action: KeyAction,
) -> Result<Reply, Error> {
    let command = Command::Admin {
        actor: actor.clone(),
        action,
    };
    store::key_object(env, config, id, &command).await
}

/// The request's `?granularity=&from=&to=`.
fn usage_query(req: &web_sys::Request) -> Result<UsageQuery, Error> {
    let url = req.url();
    let pairs = query_pairs(url.split_once('?').map_or("", |(_, q)| q));
    UsageQuery::parse(&pairs, http::now())
}

/// Key `id`'s usage series, as its object answers it to `actor`.
async fn key_usage(
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
    match ask(env, config, id, actor, action).await? {
        Reply::Usage { usage } => Ok(usage),
        other => {
            worker::console_error!("unexpected key object reply: {}", other.kind());
            Err(Error::Internal)
        }
    }
}

/// The usage of every key of `owner_id` that `actor` may read, summed (the
/// registry lists only keys within an admin key's reach, and each key's
/// object checks the reach again).
async fn owner_usage(
    env: &Env,
    config: &Config,
    owner_id: String,
    actor: &Actor,
    query: UsageQuery,
) -> Handled {
    let mut series = Vec::new();
    for page in 1.. {
        let page = page.to_string();
        let per_page = MAX_PER_PAGE.to_string();
        let pairs = [
            ("owner_id", owner_id.as_str()),
            ("per_page", per_page.as_str()),
            ("page", page.as_str()),
        ];
        let list = RegistryCommand::List {
            query: ListQuery::parse(pairs)?,
            actor: actor.clone(),
        };
        let RegistryReply::Page { data, .. } = store::registry(env, &list).await? else {
            return Err(Error::Internal);
        };
        for key in &data {
            series.push(key_usage(env, config, &key.id, actor, query).await?);
        }
        if data.len() < MAX_PER_PAGE as usize {
            break;
        }
    }
    let mut usage = crate::analytics::sum(&query, &series);
    usage["owner_id"] = json!(owner_id);
    usage["keys"] = json!(series.len());
    Ok(http::json(200, &json!({ "data": usage })))
}

async fn read_body(req: &web_sys::Request) -> Result<Vec<u8>, Error> {
    let declared = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(Error::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    let unreadable = |_| Error::InvalidJson {
        message: "the body could not be read".to_owned(),
    };
    let Some(raw) = req.body() else {
        return Ok(Vec::new());
    };
    // Read chunk by chunk and stop as soon as the cap is crossed, so a
    // chunked body of any size is refused without being buffered.
    let mut chunks = wasm_streams::ReadableStream::from_raw(raw).into_stream();
    let mut body = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = js_sys::Uint8Array::new(&chunk.map_err(unreadable)?);
        if body.len() + chunk.length() as usize > MAX_BODY_BYTES {
            return Err(Error::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            });
        }
        body.extend(chunk.to_vec());
    }
    Ok(body)
}

/// A view plus, this once, the secret: the create and rotate response.
#[derive(Serialize)]
struct WithSecret<'a> {
    #[serde(flatten)]
    view: &'a KeyView,
    key: &'a str,
}

fn with_secret(status: u16, view: &KeyView, key: &ApiKey) -> worker::Result<Response> {
    let data = WithSecret {
        view,
        key: key.expose_secret(),
    };
    http::json(status, &json!({ "data": data }))
}

async fn registry_done(env: &Env, command: &RegistryCommand) -> Result<(), Error> {
    match store::registry(env, command).await? {
        RegistryReply::Done => Ok(()),
        _ => Err(Error::Internal),
    }
}

async fn create(req: &web_sys::Request, env: &Env, config: &Config, actor: &Actor) -> Handled {
    let new_key: NewKey = parse_body(&read_body(req).await?)?;
    let environments = config.environment_names();
    let now = http::now();
    let ctx = IssueContext {
        environments: &environments,
        default_limits: config.default_limits,
        now,
        actor,
        tiers: &config.tiers,
    };
    let credits = new_key.credits;
    let (record, key) = new_key.issue(&ctx)?;
    let id = record.id.clone();
    let hash = record.secrets[0].hash.clone();
    let insert = RegistryCommand::Insert {
        key: record.view(None, credits, now),
        hashes: vec![hash.clone()],
        actor: actor.label(),
    };
    registry_done(env, &insert).await?;
    config.fail_at(Fault::CrashAfterRegistry)?;
    let view = expect_key(
        store::key_object(env, config, &id, &Command::Create { record, credits }).await?,
    )?;
    config.fail_at(Fault::CrashAfterKeyObject)?;
    store::put_entry(env, &hash, &KvEntry::active(&id)).await?;
    registry_done(env, &RegistryCommand::Confirm { id }).await?;
    Ok(with_secret(201, &view, &key))
}

async fn list(req: &web_sys::Request, env: &Env, actor: Actor) -> Handled {
    let url = req.url();
    let pairs = query_pairs(url.split_once('?').map_or("", |(_, q)| q));
    let query = ListQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    match store::registry(env, &RegistryCommand::List { query, actor }).await? {
        RegistryReply::Page { data, meta } => {
            Ok(http::json(200, &json!({ "data": data, "meta": meta })))
        }
        _ => Err(Error::Internal),
    }
}

async fn edit(
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
    let update = RegistryCommand::Update {
        key: key.clone(),
        hashes: vec![],
        action,
        actor: actor.label(),
        detail,
    };
    registry_done(env, &update).await?;
    Ok(http::json(200, &json!({ "data": key })))
}

/// Changes `id`'s credits in its object (once per `Idempotency-Key`), then
/// records it in the registry (listing view and audit).
async fn credits(
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
    match ask(env, config, id, actor, action).await? {
        // A retry: the first call already recorded it.
        Reply::Replayed { key } => Ok(http::json(200, &json!({ "data": key }))),
        reply => {
            let key = expect_key(reply)?;
            let detail = format!("{:?} {}", request.op, request.amount).to_ascii_lowercase();
            recorded(env, key, Change::Credits, actor, Some(detail)).await
        }
    }
}

/// The body as text, for an object to decode where it applies it.
pub(super) async fn read_text(req: &web_sys::Request) -> Result<String, Error> {
    String::from_utf8(read_body(req).await?).map_err(|_| Error::InvalidJson {
        message: "the body is not UTF-8".to_owned(),
    })
}

/// `GET`, `PUT` or `DELETE /v1/owners/{owner_id}`: the owner's object
/// checks the owner rule, and decodes a `PUT` body where it applies it.
async fn owner(
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
    match store::owner_object(env, config, &owner_id, &command).await? {
        OwnerReply::Owner { owner } => Ok(http::json(200, &json!({ "data": owner }))),
        OwnerReply::Deleted => Ok(http::json(
            200,
            &json!({ "data": { "owner_id": owner_id, "deleted": true } }),
        )),
        other => {
            worker::console_error!("unexpected owner object reply: {other:?}");
            Err(Error::Internal)
        }
    }
}

async fn rotate(
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
        .map_err(|_| Error::Internal)?;
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
    store::put_entry(env, &hash, &KvEntry::active(id)).await?;
    let update = RegistryCommand::Update {
        key: view.clone(),
        hashes: vec![hash],
        action: Change::Rotate,
        actor: actor.label(),
        detail: Some(format!("previous secret expires in {grace_secs}s")),
    };
    registry_done(env, &update).await?;
    Ok(with_secret(200, &view, &key))
}

/// Revokes `id`: key object (authoritative) → KV → registry.
async fn revoke_key(
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
    let Reply::Revoked { key, hashes } = store::key_object(env, config, id, &command).await? else {
        return Err(Error::Internal);
    };
    config.fail_at(Fault::CrashAfterKeyObject)?;
    let entry = KvEntry::revoked(&key);
    for hash in &hashes {
        if let Err(e) = store::put_entry(env, hash, &entry).await {
            worker::console_error!("revoked {id} but could not mark KV: {e:?}");
        }
    }
    let action = if leaked_at.is_some() {
        Change::RevokeLeaked
    } else {
        Change::Revoke
    };
    let update = RegistryCommand::Update {
        key: key.clone(),
        hashes: vec![],
        action,
        actor: actor.label(),
        detail: leaked_at,
    };
    registry_done(env, &update).await?;
    Ok(key)
}

/// Revokes every reported key the actor may manage. Each item is judged
/// on its own: one failure is reported with its index and never stops the
/// rest.
async fn revoke_leaked(
    req: &web_sys::Request,
    env: &Env,
    config: &Config,
    actor: &Actor,
) -> Handled {
    let leaks = leak::parse(&read_body(req).await?)?;
    let mut revoked = Vec::new();
    let mut failed = Vec::new();
    for (index, leak) in leaks.iter().enumerate() {
        // Not a well-formed key: nothing to look up, nothing to say.
        let Ok(key) = ApiKey::parse(leak.token.trim()) else {
            continue;
        };
        let hash = crate::hash::KeyHash::of(&key);
        let found = match store::registry(env, &RegistryCommand::FindByHash { hash }).await {
            Ok(RegistryReply::Found { id }) => Ok(id),
            Ok(_) => Err(Error::Internal),
            Err(e) => Err(e),
        };
        let source = leak
            .source
            .clone()
            .unwrap_or_else(|| "unspecified source".to_owned());
        let outcome = match found {
            Ok(None) => continue,
            Ok(Some(id)) => revoke_key(env, config, &id, actor, Some(source)).await,
            Err(e) => Err(e),
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
    Ok(http::json(
        200,
        &json!({ "data": { "received": leaks.len(), "revoked": revoked, "failed": failed } }),
    ))
}

async fn verify(req: &web_sys::Request, edge: Edge<'_>, actor: &Actor) -> Handled {
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
    if let Err(e @ (Error::Unavailable | Error::Internal | Error::Misconfigured)) = result {
        return Err(e);
    }
    Ok(http::json(
        200,
        &json!({ "data": verdict(&result, http::now()) }),
    ))
}

async fn whoami(presented: &Presented, method: &str, edge: Edge<'_>) -> Handled {
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
    Ok(http::json(200, &body))
}

fn expect_key(reply: Reply) -> Result<KeyView, Error> {
    match reply {
        Reply::Key { key } => Ok(key),
        other => {
            worker::console_error!("unexpected key object reply: {}", other.kind());
            Err(Error::Internal)
        }
    }
}
