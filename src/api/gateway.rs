//! The API path: answer CORS preflights; find and parse the key (no I/O);
//! check its environment and the route table (no I/O); spend a unit of
//! this isolate's lease for the key if it holds one (no I/O), else find
//! the key's id in KV (one read, often cached) and ask its Durable Object
//! (one call, which judges and counts); then forward to the origin.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use wasm_bindgen::{JsCast, JsValue};
use worker::{web_sys, Context, Env, Response};

use super::entry::{self, Entered, Presented};
use super::{proxy, telemetry};
use crate::objects::client;
use crate::runtime::http::{self, HeaderEdits};
use crate::runtime::isolate::LEASES;
use crate::runtime::{bindings, Edge};
use keygate_core::admission::table::{Ask, Ended, Judged, Leases};
use keygate_core::analytics::Outcome;
use keygate_core::config::Config;
use keygate_core::credential::{presented_key, KeySource};
use keygate_core::error::Error;
use keygate_core::hash::KeyHash;
use keygate_core::key::{ApiKey, KeyId};
use keygate_core::keystate::{Access, Command, Grant, Refusal, Reply};
use keygate_core::limits::{Charge, Draw};
use keygate_core::log::{Arrival, RequestLine};
use keygate_core::policy::actor::Actor;
use keygate_core::policy::cors;
use keygate_core::policy::ip::client_ip;
use keygate_core::policy::method;
use keygate_core::policy::route::Requirement;

/// What the entry point read of an API request: what is judged, and
/// exactly that is forwarded.
pub struct Target {
    /// The request method.
    pub method: String,
    /// The canonical path (see [`keygate_core::policy::path`]).
    pub path: String,
    /// The query with its `?`, or `""`, as the client sent it.
    pub query: String,
    /// Client headers to drop: named like keygate's own, or method overrides.
    pub spoofed: Vec<String>,
    /// The declared `Content-Length`, if any.
    pub content_length: Option<u64>,
    /// Whether the body comes with `Transfer-Encoding` (chunked).
    pub chunked: bool,
    /// The headers keygate judges by.
    pub presented: Presented,
    /// The request's log line's start.
    pub arrival: Arrival,
}

/// An API request once its key is read: where it goes if admitted.
struct Api {
    target: Target,
    /// Which header carried the key.
    source: KeySource,
    /// The origin of the key's environment.
    origin: String,
    /// The route's draws on named limits, for the headers.
    draws: Option<Vec<Draw>>,
    /// The units the request costs, for its log line.
    cost: u32,
    /// The bindings and context, for reporting an origin failure.
    runtime: proxy::Runtime,
}

impl Api {
    /// The origin URL: the origin, the canonical path and the query.
    fn url(&self) -> String {
        format!("{}{}{}", self.origin, self.target.path, self.target.query)
    }

    /// How to forward to `url` what `grant` admitted (`object_called`:
    /// whether the key's object decided, for the log line).
    fn to<'a>(
        &'a self,
        url: &'a str,
        grant: &Grant,
        config: &'a Config,
        object_called: bool,
    ) -> proxy::Forward<'a> {
        let arrival = &self.target.arrival;
        let log = telemetry::wanted(config)
            .then(|| {
                let key = (&grant.key_id, grant.owner_id.as_deref());
                RequestLine::admitted(arrival, key, self.cost, object_called)
            })
            .and_then(|line| serde_json::to_string(&line).ok())
            .map(|line| proxy::Logged {
                logged: config.request_logs,
                line,
                started: http::runtime_millis(arrival.at),
            });
        proxy::Forward {
            url,
            path_and_query: &url[self.origin.len()..],
            source: self.source,
            spoofed: &self.target.spoofed,
            signing: config.origin_key.as_ref(),
            method: &self.target.method,
            timeout_ms: config.origin_timeout_ms,
            max_body_bytes: config.max_body_bytes,
            declared_length: self.target.content_length.is_some(),
            binding: grant.quota_for(&Charge {
                cost: 1,
                draws: self.draws.as_deref(),
            }),
            browser_origin: self.target.presented.origin.as_deref(),
            runtime: &self.runtime,
            log,
        }
    }

    /// A refusal, with the key's CORS headers so a listed page can read
    /// why; logged with the key (and its owner, when this isolate holds
    /// the key's record).
    fn refused(
        &self,
        edge: Edge<'_>,
        hash: &KeyHash,
        refusal: Refusal,
        trail: &Trail,
    ) -> Result<web_sys::Response, Error> {
        if telemetry::wanted(edge.config) {
            let held = with_leases(edge.config, |l| l.holder(hash));
            let found = trail.key.borrow();
            let key = match (&held, found.as_ref()) {
                (Some((id, owner)), _) => Some((id, owner.as_deref())),
                (None, Some(id)) => Some((id, None)),
                (None, None) => None,
            };
            let line = RequestLine::refused(
                &self.target.arrival,
                key,
                &refusal.error,
                trail.object_called.get(),
                http::now(),
            );
            telemetry::refusal(edge.env, edge.config, &line);
        }
        let mut edits = HeaderEdits::default();
        edits.cors(
            &refusal.allowed_origins,
            self.target.presented.origin.as_deref(),
        );
        http::error_response_with(&refusal.error, http::now(), edits)
            .map(Into::into)
            .map_err(|_| Error::Internal)
    }

    /// Forwards `req`, which `grant` admitted, and waits for the answer.
    async fn forward(
        self,
        req: web_sys::Request,
        grant: Grant,
        config: Rc<Config>,
        object_called: bool,
    ) -> Result<web_sys::Response, Error> {
        let url = self.url();
        let to = self.to(&url, &grant, &config, object_called);
        match proxy::forward(&req, to, &grant).await {
            // A streamed body cut at the cap after the key admitted it:
            // answered here, so it is counted and logged once, as the key's
            // (forward.js logged it with 413), not again as a refusal before
            // any key.
            Err(error @ Error::PayloadTooLarge { .. }) => http::error_response(&error, http::now())
                .map(Into::into)
                .map_err(|_| Error::Internal),
            answer => answer,
        }
    }
}

/// Handles an API request: authorize, count, forward. Everything up to
/// the key's verdict runs here, synchronously; a key this isolate holds a
/// lease for is admitted and forwarded with no Rust future at all (the
/// answer is the runtime's own promise), and only a request that needs
/// I/O first (KV, the key's object) or a streamed body's count becomes one.
pub fn enter(
    req: web_sys::Request,
    mut target: Target,
    env: Env,
    runtime_ctx: JsValue,
    config: Rc<Config>,
) -> Result<Entered, Error> {
    let ctx = Context::new(runtime_ctx.clone().unchecked_into());
    if let Some(resp) = preflight(&target.presented, &target.method)? {
        return Ok(Entered::now(resp.into()));
    }
    // The runtime may drop a GET's body; its framing headers still tell.
    let has_body =
        req.body().is_some() || target.chunked || target.content_length.is_some_and(|n| n > 0);
    method::check_forwardable(&target.method, has_body)?;
    let (key, source) = credential(&target.presented)?;
    let country = entry::cf_country(&req);
    target.presented.country.clone_from(&country);
    target.arrival.country = country;
    let presented = &target.presented;
    let origin = config.origin_for(&key)?.to_owned();
    let requirement = config.requirement(&target.method, &target.path);
    let draws = requirement.as_ref().ok().and_then(|r| r.draws.clone());
    let access = access(presented, &target.method, requirement, true);
    let api = Api {
        target,
        source,
        origin,
        draws,
        cost: access.cost(),
        runtime: proxy::Runtime {
            env: env.clone().into(),
            ctx: runtime_ctx,
        },
    };
    let hash = KeyHash::of(&key);
    let edge = Edge {
        env: &env,
        ctx: &ctx,
        config: &config,
    };
    let ask = match judge_here(edge, &hash, &access, None) {
        Judged::Local(Ok(grant)) => {
            let url = api.url();
            let to = api.to(&url, &grant, &config, false);
            if let Some(sent) = proxy::forward_now(&req, &to, &grant)? {
                return Ok(Entered::Now(sent));
            }
            return Ok(Entered::later(api.forward(req, grant, config, false)));
        }
        Judged::Local(Err(refusal)) => {
            let trail = Trail::default();
            return Ok(Entered::now(api.refused(edge, &hash, refusal, &trail)?));
        }
        Judged::Remote(ask) => ask,
    };
    Ok(Entered::later(async move {
        let edge = Edge {
            env: &env,
            ctx: &ctx,
            config: &config,
        };
        let trail = Trail {
            api: true,
            ..Trail::default()
        };
        match judge_remote(edge, &hash, ask, access, None, &trail).await {
            Ok(Ok(grant)) => {
                let called = trail.object_called.get();
                api.forward(req, grant, config.clone(), called).await
            }
            Ok(Err(refusal)) => api.refused(edge, &hash, refusal, &trail),
            // The key's object answered (a refusal of a key without browser
            // origins, or a failure): answered and logged here, as the key's.
            Err(error) if trail.object_called.get() => {
                let refusal = Refusal {
                    error,
                    allowed_origins: Vec::new(),
                };
                api.refused(edge, &hash, refusal, &trail)
            }
            Err(error) => Err(error),
        }
    }))
}

/// A browser's CORS preflight carries no key: answer it here (it grants
/// nothing by itself; see [`keygate_core::policy::cors`]). Any other request: `None`.
fn preflight(presented: &Presented, method: &str) -> Result<Option<Response>, Error> {
    if method != "OPTIONS" {
        return Ok(None);
    }
    let (Some(origin), Some(asked)) = (&presented.origin, &presented.preflight_method) else {
        return Ok(None);
    };
    let resp = Response::empty()
        .map_err(|_| Error::Internal)?
        .with_status(204);
    for (name, value) in
        cors::preflight_headers(origin, Some(asked), presented.preflight_headers.as_deref())
    {
        resp.headers()
            .set(name, &value)
            .map_err(|_| Error::Internal)?;
    }
    Ok(Some(resp))
}

/// The presented key, parsed and checksum-verified.
pub fn credential(presented: &Presented) -> Result<(ApiKey, KeySource), Error> {
    presented_key(
        presented.authorization.as_deref(),
        presented.api_key.as_deref(),
    )
}

/// The facts of a request (its `presented` headers, sent with `method`, as
/// the entry point read them) that a key's rules judge.
pub fn access(
    presented: &Presented,
    method: &str,
    requirement: Result<Requirement, Error>,
    consume: bool,
) -> Access {
    Access {
        requirement,
        read_only: method::is_read(method),
        client_ip: client_ip(presented.client_ip.as_deref()),
        consume,
        country: presented.country.clone(),
    }
}

fn with_leases<R>(config: &Config, f: impl FnOnce(&mut Leases) -> R) -> R {
    LEASES.with(|cell| {
        f(cell
            .borrow_mut()
            .get_or_insert_with(|| Leases::new(config.lease_ttl_ms)))
    })
}

/// Judges `access` for `key` — for `verifier`, when the admin API's
/// verify asks on an actor's behalf: here, if this isolate holds a lease
/// for the key, else by its Durable Object. An unknown key stops at KV and
/// never creates a Durable Object.
pub async fn admit(
    edge: Edge<'_>,
    key: &ApiKey,
    access: Access,
    verifier: Option<&Actor>,
) -> Result<Grant, Error> {
    judged(edge, key, access, verifier)
        .await?
        .map_err(|refusal| refusal.error)
}

/// [`admit`], keeping a refused browser key's origins: the outer error is
/// keygate's (storage, unknown key), the inner one the key's refusal.
async fn judged(
    edge: Edge<'_>,
    key: &ApiKey,
    access: Access,
    verifier: Option<&Actor>,
) -> Result<Result<Grant, Refusal>, Error> {
    let hash = KeyHash::of(key);
    match judge_here(edge, &hash, &access, verifier) {
        Judged::Local(verdict) => Ok(verdict),
        Judged::Remote(ask) => {
            judge_remote(edge, &hash, ask, access, verifier, &Trail::default()).await
        }
    }
}

/// The verdict of this isolate's lease on `hash`, if it holds one that can
/// pay; else what to ask the key's object. A lease that ended is handed back.
fn judge_here(edge: Edge<'_>, hash: &KeyHash, access: &Access, verifier: Option<&Actor>) -> Judged {
    let (judged, ended) = with_leases(edge.config, |l| {
        l.judge(hash, access, verifier, http::now())
    });
    if let Some(ended) = ended {
        hand_back(edge, ended);
    }
    judged
}

/// What the way to a verdict found, for the request's log line.
#[derive(Default)]
struct Trail {
    /// The key KV names for the presented hash.
    key: RefCell<Option<KeyId>>,
    /// Whether its object was asked (KV may answer first).
    object_called: Cell<bool>,
    /// An API request (counted in the overall usage); not an admin
    /// credential being checked.
    api: bool,
}

/// The key's object's verdict on `ask` (and the lease it may lend).
async fn judge_remote(
    edge: Edge<'_>,
    hash: &KeyHash,
    ask: Ask,
    access: Access,
    verifier: Option<&Actor>,
    trail: &Trail,
) -> Result<Result<Grant, Refusal>, Error> {
    let answer = ask_object(edge, hash, &ask, access, verifier, trail).await;
    let settled = with_leases(edge.config, |l| l.settle(hash, ask, answer));
    if let Some(ended) = settled.ended {
        hand_back(edge, ended);
    }
    if let Some((serial, until)) = settled.held {
        // Hand the lease back when it ends, if no request has by then.
        let (env, config, hash) = (edge.env.clone(), Rc::clone(edge.config), hash.clone());
        let wait = until.as_millis().saturating_sub(http::now().as_millis());
        edge.ctx.wait_until(async move {
            worker::Delay::from(Duration::from_millis(wait)).await;
            if let Some(ended) = with_leases(&config, |l| l.expire(&hash, serial)) {
                give_back(&env, &config, ended).await;
            }
        });
    }
    settled.verdict
}

/// The key's object's answer to `ask`.
async fn ask_object(
    edge: Edge<'_>,
    hash: &KeyHash,
    ask: &Ask,
    access: Access,
    verifier: Option<&Actor>,
    trail: &Trail,
) -> Result<Reply, Error> {
    let entry = bindings::lookup(edge.env, edge.config, hash, http::now())
        .await?
        .ok_or_else(Error::invalid_api_key)?;
    *trail.key.borrow_mut() = Some(entry.id.clone());
    if entry.revoked {
        if trail.api {
            telemetry::count(edge.env, edge.ctx, Outcome::KeyRevoked, Some(&entry.id));
        }
        return Ok(Reply::Refused {
            error: Error::KeyRevoked,
            allowed_origins: entry.allowed_origins,
        });
    }
    let command = Command::Authorize {
        hash: hash.clone(),
        access,
        verifier: verifier.cloned(),
        known: ask.known(),
        lease: ask.lease,
    };
    trail.object_called.set(true);
    client::key_object(edge.env, edge.config, &entry.id, &command).await
}

/// Hands an ended lease back to its key's object, off the request's path.
fn hand_back(edge: Edge<'_>, ended: Ended) {
    let (env, config) = (edge.env.clone(), Rc::clone(edge.config));
    edge.ctx
        .wait_until(async move { give_back(&env, &config, ended).await });
}

async fn give_back(env: &Env, config: &Config, ended: Ended) {
    let command = Command::Return {
        returned: ended.returned,
    };
    // A lost return costs its unused units for the rest of their window
    // (under-admission, never over-admission).
    if let Err(e) = client::key_object(env, config, &ended.key, &command).await {
        worker::console_error!("lease return for {} failed: {e:?}", ended.key);
    }
}
