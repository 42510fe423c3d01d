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

use super::entry::{self, Presented};
use super::proxy;
use super::request_record::{Answer, Finished, Handed, RequestRecord};
use crate::objects::client;
use crate::runtime::http::{self, HeaderEdits};
use crate::runtime::isolate::LEASES;
use crate::runtime::{bindings, Edge};
use keygate_core::admission::table::{Ask, Ended, Judged, Leases};
use keygate_core::analytics::refusal::{Judge, RefusedBy};
use keygate_core::config::Config;
use keygate_core::credential::{presented_key, KeySource};
use keygate_core::error::Error;
use keygate_core::hash::KeyHash;
use keygate_core::key::{ApiKey, KeyId};
use keygate_core::keystate::{Access, Command, Grant, Refusal, Reply};
use keygate_core::limits::{Charge, Draw};
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

    /// How to forward to `url` what `grant` admitted.
    fn to<'a>(&'a self, url: &'a str, grant: &Grant, config: &'a Config) -> proxy::Forward<'a> {
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
        }
    }

    /// Finishes `record` with `refusal` (by `by`), with the key's CORS
    /// headers so a listed page can read why.
    fn refused(
        &self,
        record: RequestRecord,
        edge: Edge<'_>,
        refusal: &Refusal,
        by: &RefusedBy,
    ) -> Finished {
        let mut edits = HeaderEdits::default();
        edits.cors(
            &refusal.allowed_origins,
            self.target.presented.origin.as_deref(),
        );
        record.refused(edge.env, edge.ctx, &refusal.error, by, edits)
    }

    /// Hands the `admitted` request to `forward.js` with its record's
    /// line; the answer is the runtime's promise, unless a streamed body
    /// must be counted as it goes (see [`proxy::Sending::settled`]).
    fn forward(self, admitted: Admitted, edge: Edge<'_>) -> Answer {
        if !proxy::needs_cap(&admitted.req, self.target.content_length.is_some()) {
            return match self.send(admitted, edge) {
                Ok((handed, sending)) => handed.promised(sending.promise),
                Err(refused) => refused.now(),
            };
        }
        let (env, config) = (edge.env.clone(), Rc::clone(edge.config));
        Answer::later(async move {
            let edge = Edge {
                env: &env,
                ctx: &Context::new(self.runtime.ctx.clone().unchecked_into()),
                config: &config,
            };
            self.forwarded(admitted, edge).await
        })
    }

    /// [`Api::forward`], waiting for the answer.
    async fn forwarded(self, admitted: Admitted, edge: Edge<'_>) -> Finished {
        match self.send(admitted, edge) {
            Ok((handed, sending)) => handed.answer(sending.settled().await),
            Err(refused) => refused,
        }
    }

    /// Starts the origin fetch, handing the record's line to `forward.js`;
    /// if the fetch cannot be prepared, the record is finished as the
    /// key's refusal.
    fn send(
        &self,
        admitted: Admitted,
        edge: Edge<'_>,
    ) -> Result<(Handed, proxy::Sending), Finished> {
        let Admitted {
            req,
            grant,
            record,
            object_called,
        } = admitted;
        let url = self.url();
        let to = self.to(&url, &grant, edge.config);
        let prepared = match proxy::prepare(&req, &to, &grant) {
            Ok(prepared) => prepared,
            Err(error) => {
                let by = RefusedBy::Key {
                    id: grant.key_id.clone(),
                    owner: grant.owner_id.clone(),
                    judge: if object_called {
                        Judge::Object
                    } else {
                        Judge::Lease
                    },
                };
                let edits = HeaderEdits::default();
                return Err(record.refused(edge.env, edge.ctx, &error, &by, edits));
            }
        };
        let key = (&grant.key_id, grant.owner_id.as_deref());
        let (log, handed) = record.admitted(
            (edge.env, edge.ctx),
            key,
            self.cost,
            object_called,
            edge.config,
        );
        Ok((handed, proxy::send(&req, &to, &grant, prepared, log)))
    }
}

/// An admitted request whose record is still to be finished.
struct Admitted {
    req: web_sys::Request,
    grant: Grant,
    record: RequestRecord,
    /// Whether the key's object decided (else this isolate's lease).
    object_called: bool,
}

/// Handles an API request: authorize, count, forward, and finish its
/// `record`. Everything up to the key's verdict runs here, synchronously;
/// a key this isolate holds a lease for is admitted and forwarded with no
/// Rust future at all (the answer is the runtime's own promise), and only
/// a request that needs I/O first (KV, the key's object) or a streamed
/// body's count becomes one.
pub fn enter(
    req: web_sys::Request,
    target: Target,
    env: Env,
    runtime_ctx: JsValue,
    config: Rc<Config>,
    mut record: RequestRecord,
) -> Answer {
    let ctx = Context::new(runtime_ctx.clone().unchecked_into());
    let edge = Edge {
        env: &env,
        ctx: &ctx,
        config: &config,
    };
    let read = match preflight(&target.presented, &target.method) {
        Ok(Some(resp)) => return record.preflight(resp.into()).now(),
        Ok(None) => read(&req, target, &mut record, edge, runtime_ctx),
        Err(error) => Err(error),
    };
    let (api, access, hash) = match read {
        Ok(read) => read,
        Err(error) => {
            let by = RefusedBy::Edge;
            return record
                .refused(&env, &ctx, &error, &by, HeaderEdits::default())
                .now();
        }
    };
    let ask = match judge_here(edge, &hash, &access, None) {
        Judged::Local(Ok(grant)) => {
            let admitted = Admitted {
                req,
                grant,
                record,
                object_called: false,
            };
            return api.forward(admitted, edge);
        }
        Judged::Local(Err(refusal)) => {
            let by = match with_leases(&config, |l| l.holder(&hash)) {
                Some((id, owner)) => RefusedBy::Key {
                    id,
                    owner,
                    judge: Judge::Lease,
                },
                None => RefusedBy::Edge,
            };
            return api.refused(record, edge, &refusal, &by).now();
        }
        Judged::Remote(ask) => ask,
    };
    Answer::later(async move {
        let edge = Edge {
            env: &env,
            ctx: &ctx,
            config: &config,
        };
        let trail = Trail::default();
        let verdict = judge_remote(edge, &hash, ask, access, None, &trail).await;
        let (refusal, by) = match verdict {
            Ok(Ok(grant)) => {
                let admitted = Admitted {
                    req,
                    grant,
                    record,
                    object_called: trail.object_called.get(),
                };
                return api.forwarded(admitted, edge).await;
            }
            Ok(Err(refusal)) => {
                let by = trail.refused_by(&config, &hash, Some(&refusal));
                (refusal, by)
            }
            Err(error) => (Refusal::bare(error), trail.refused_by(&config, &hash, None)),
        };
        api.refused(record, edge, &refusal, &by)
    })
}

/// The checks of an API request that need no I/O: the method, the key's
/// form and environment, the route table. What they find of the client
/// goes into `record`; a well-formed key for this environment comes back
/// with where the request goes, what its rules judge, and its hash.
fn read(
    req: &web_sys::Request,
    mut target: Target,
    record: &mut RequestRecord,
    edge: Edge<'_>,
    runtime_ctx: JsValue,
) -> Result<(Api, Access, KeyHash), Error> {
    // The runtime may drop a GET's body; its framing headers still tell.
    let has_body =
        req.body().is_some() || target.chunked || target.content_length.is_some_and(|n| n > 0);
    method::check_forwardable(&target.method, has_body)?;
    let (key, source) = credential(&target.presented)?;
    // Read once the key is well-formed: a flood of garbage keys does not
    // pay for `request.cf` when the header is missing.
    if target.presented.country.is_none() {
        target.presented.country = entry::cf_country(req);
    }
    record.arrival.country.clone_from(&target.presented.country);
    let presented = &target.presented;
    let origin = edge.config.origin_for(&key)?.to_owned();
    let requirement = edge.config.requirement(&target.method, &target.path);
    let draws = requirement.as_ref().ok().and_then(|r| r.draws.clone());
    let access = access(presented, &target.method, requirement, true);
    let api = Api {
        target,
        source,
        origin,
        draws,
        cost: access.cost(),
        runtime: proxy::Runtime {
            env: edge.env.clone().into(),
            ctx: runtime_ctx,
        },
    };
    Ok((api, access, KeyHash::of(&key)))
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
        .map_err(|_| Error::INTERNAL)?
        .with_status(204);
    for (name, value) in
        cors::preflight_headers(origin, Some(asked), presented.preflight_headers.as_deref())
    {
        resp.headers()
            .set(name, &value)
            .map_err(|_| Error::INTERNAL)?;
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
}

impl Trail {
    /// Who refused the request for `hash`: the key's object if it was
    /// asked; else KV, when it gave the `refusal` (only a revoked entry
    /// stops a found key there); else nothing of the key decided (KV failed
    /// or knew no such key). The owner is the one the refusal names (the
    /// object read the key's record), else the lease's, if this isolate
    /// holds the key's record.
    fn refused_by(&self, config: &Config, hash: &KeyHash, refusal: Option<&Refusal>) -> RefusedBy {
        let judge = match (self.object_called.get(), refusal) {
            (true, _) => Judge::Object,
            (false, Some(_)) => Judge::Directory,
            (false, None) => return RefusedBy::Edge,
        };
        let Some(id) = self.key.take() else {
            return RefusedBy::Edge;
        };
        let owner = refusal.and_then(|r| r.owner.clone()).or_else(|| {
            with_leases(config, |l| l.holder(hash))
                .filter(|(held, _)| *held == id)
                .and_then(|(_, owner)| owner)
        });
        RefusedBy::Key { id, owner, judge }
    }
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
        return Ok(Reply::Refused {
            error: Error::KEY_REVOKED,
            allowed_origins: entry.allowed_origins,
            owner: None,
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
