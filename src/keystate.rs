//! The per-key state machine that each key's Durable Object runs: the
//! authoritative record (status, secrets, limits) and the counters, and the
//! commands the Worker sends it. Pure: the Durable Object only loads this
//! state, calls [`KeyState::apply`] with the time, and saves what changed.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::hash::KeyHash;
use crate::key::{Environment, KeyId, KeyType};
use crate::limit::{self, Outcome, Quota, RateLimits, Tiers, Usage};
use crate::policy::actor::{Actor, Permit};
use crate::policy::cors::WebOrigin;
use crate::policy::ip;
use crate::policy::ip::IpRule;
use crate::policy::permission::Grants;
use crate::policy::route::Requirement;
use crate::record::{KeyPatch, KeyRecord, KeyView, Metadata, Secret, Status};
use crate::time::Timestamp;

/// What the Worker knows about a request, for the key's rules to judge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// What the route table says the request needs, or why it refuses it.
    /// A refusal is reported only after the key itself checks out, so an
    /// unauthenticated caller learns nothing about the route table.
    pub requirement: Result<Requirement, Error>,
    /// Whether the method only reads (`GET`, `HEAD`, `OPTIONS`).
    pub read_only: bool,
    /// The client address (`CF-Connecting-IP`), if known.
    pub client_ip: Option<IpAddr>,
    /// Count the request if admitted (`false` only describes the key).
    pub consume: bool,
}

/// A request from the Worker to a key's Durable Object. (Internal protocol
/// types use serde's default, externally tagged form: internally tagged
/// enums buffer every value and cost tens of KiB of wasm.)
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Store a freshly issued record. Refused if the object already has one.
    Create {
        /// The new key's record.
        record: KeyRecord,
    },
    /// Decide on a request presenting `hash`, consuming the route's cost
    /// if and only if it is admitted and `access.consume` is set.
    Authorize {
        /// Hash of the presented key.
        hash: KeyHash,
        /// The request's facts.
        access: Access,
    },
    /// The admin API's `POST /v1/verify`: an [`Command::Authorize`] made
    /// by `actor`, which must reach the key (see [`crate::policy::actor`]).
    Verify {
        /// Who asks.
        actor: Actor,
        /// Hash of the presented key.
        hash: KeyHash,
        /// The request's facts.
        access: Access,
    },
    /// An admin action on this key. It runs only with a [`Permit`]: after
    /// the actor's reach was checked against the current record.
    Admin {
        /// Who acts.
        actor: Actor,
        /// What to do.
        action: KeyAction,
    },
}

/// What an admin route does to one existing key.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyAction {
    /// Read the record (read, audit).
    Get,
    /// Edit the record; effective for the next request.
    Update {
        /// The edit (boxed: it is by far the largest action).
        patch: Box<KeyPatch>,
        /// Configured tiers, to resolve a new `tier`.
        tiers: Tiers,
    },
    /// Add `secret` as the current secret; older ones keep working for
    /// `grace_secs`. Same key id, permissions and counters.
    Rotate {
        /// The new secret (its hash; the plaintext never leaves the Worker).
        secret: Secret,
        /// Overlap for the previous secret(s), in seconds.
        grace_secs: u64,
    },
    /// Revoke the key. Idempotent: revoking a revoked key changes nothing.
    Revoke {
        /// Why, when not by hand (e.g. where it leaked).
        reason: Option<String>,
    },
}

impl KeyAction {
    /// Runs the action on the permitted key: the reply, and the new record
    /// when it changed.
    fn run(
        self,
        permit: Permit<'_>,
        last_used: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(Reply, Option<KeyRecord>), Error> {
        let record = permit.target();
        let view = |r: &KeyRecord| r.view(last_used, now);
        match self {
            KeyAction::Get => Ok((Reply::Key { key: view(record) }, None)),
            KeyAction::Update { .. } | KeyAction::Rotate { .. } if record.revoked_at.is_some() => {
                Err(Error::KeyRevoked)
            }
            KeyAction::Update { patch, tiers } => {
                let next = patch.apply(&permit, &tiers, now)?;
                Ok((Reply::Key { key: view(&next) }, Some(next)))
            }
            KeyAction::Rotate { secret, grace_secs } => {
                let mut next = record.clone();
                next.rotate(secret, grace_secs, now);
                Ok((Reply::Key { key: view(&next) }, Some(next)))
            }
            KeyAction::Revoke { reason } => {
                let hashes = record.secrets.iter().map(|s| s.hash.clone()).collect();
                if record.revoked_at.is_some() {
                    return Ok((
                        Reply::Revoked {
                            key: view(record),
                            hashes,
                        },
                        None,
                    ));
                }
                let mut next = record.clone();
                next.revoked_at = Some(now);
                next.revoked_reason = reason;
                Ok((
                    Reply::Revoked {
                        key: view(&next),
                        hashes,
                    },
                    Some(next),
                ))
            }
        }
    }
}

/// A successful answer from a key's Durable Object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The key's public view.
    Key {
        /// The view.
        key: KeyView,
    },
    /// The request is admitted (or, for `Inspect`, would be).
    Granted {
        /// What the Worker needs to forward or describe the request.
        grant: Grant,
    },
    /// The key is revoked; the Worker removes `hashes` from KV.
    Revoked {
        /// The revoked key's view.
        key: KeyView,
        /// Its secrets' hashes, to delete from the edge read path.
        hashes: Vec<KeyHash>,
    },
}

impl Reply {
    /// The reply's name, for logs (which never get its contents).
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Key { .. } => "key",
            Reply::Granted { .. } => "granted",
            Reply::Revoked { .. } => "revoked",
        }
    }
}

/// What an admitted request is allowed, as the proxy and `whoami` need it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The key's id.
    pub key_id: KeyId,
    /// The key's name.
    pub name: String,
    /// The key's environment.
    pub environment: Environment,
    /// The key's type.
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// The key's limits.
    pub rate_limits: RateLimits,
    /// The binding window after this request.
    pub quota: Quota,
    /// When the key expires, if ever.
    pub expires_at: Option<Timestamp>,
    /// Scopes and permissions as given (empty: the type's default).
    pub grants: Grants,
    /// Browser origins that may read responses.
    pub allowed_origins: Vec<WebOrigin>,
    /// Where the key works from (bounds what an admin key may grant).
    pub allowed_ips: Vec<IpRule>,
    /// The key's owner, forwarded to the origin.
    pub owner_id: Option<String>,
    /// The owner's free-form JSON.
    pub metadata: Option<Metadata>,
}

/// A key's usage that changes on every admitted request, stored apart from
/// the record so the hot path rewrites only a few bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// Window counters.
    pub usage: Usage,
    /// Last admitted request.
    pub last_used: Option<Timestamp>,
    /// When `last_used` was last sent to the registry.
    #[serde(default)]
    pub reported_at: Option<Timestamp>,
}

/// How often a key's last use is reported to the registry, at most.
pub const REPORT_INTERVAL_MS: u64 = 60_000;

/// Which parts of the state a command changed, so the object writes only
/// those, and only when needed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Writes {
    /// The record changed.
    pub record: bool,
    /// The activity changed.
    pub activity: bool,
    /// `last_used` should be reported to the registry (after answering).
    pub report: bool,
}

/// Everything a key's Durable Object holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyState {
    /// `None` until `Create`; an object without a record knows no key.
    pub record: Option<KeyRecord>,
    /// Counters and last use.
    pub activity: Activity,
}

impl KeyState {
    /// Applies `command` at `now`. On error nothing has changed.
    pub fn apply(&mut self, command: Command, now: Timestamp) -> (Result<Reply, Error>, Writes) {
        match command {
            Command::Create { record } => {
                if self.record.is_some() {
                    return (Err(Error::Internal), Writes::default());
                }
                let key = record.view(None, now);
                self.record = Some(record);
                let writes = Writes {
                    record: true,
                    ..Writes::default()
                };
                (Ok(Reply::Key { key }), writes)
            }
            Command::Authorize { hash, access } => self.authorize(&hash, access, None, now),
            Command::Verify {
                actor,
                hash,
                access,
            } => self.authorize(&hash, access, Some(&actor), now),
            Command::Admin { actor, action } => {
                let Some(record) = self.record.as_ref() else {
                    return (Err(Error::NotFound), Writes::default());
                };
                let ran = actor
                    .permit(record)
                    .and_then(|permit| action.run(permit, self.activity.last_used, now));
                match ran {
                    Err(e) => (Err(e), Writes::default()),
                    Ok((reply, None)) => (Ok(reply), Writes::default()),
                    Ok((reply, Some(next))) => {
                        self.record = Some(next);
                        let writes = Writes {
                            record: true,
                            ..Writes::default()
                        };
                        (Ok(reply), writes)
                    }
                }
            }
        }
    }

    /// The request-time checks, in order: the secret opens this key; it is
    /// not revoked or expired; the client IP is allowed; the route allows
    /// the request; a publishable key only reads; the key covers the
    /// permission; and last the limiter, so any refusal costs nothing.
    fn authorize(
        &mut self,
        hash: &KeyHash,
        access: Access,
        verifier: Option<&Actor>,
        now: Timestamp,
    ) -> (Result<Reply, Error>, Writes) {
        let none = Writes::default();
        let Some(record) = self.record.as_ref() else {
            return (Err(Error::invalid_api_key()), none);
        };
        if let Err(e) = check(record, hash, &access, verifier, now) {
            return (Err(e), none);
        }
        let limits = record.rate_limits;
        let cost = access
            .requirement
            .as_ref()
            .map(|r| r.cost.get())
            .unwrap_or(1);
        let (quota, writes) = if !access.consume {
            (limit::peek(&limits, &self.activity.usage, now), none)
        } else {
            match limit::consume(&limits, &self.activity.usage, cost, now) {
                (Outcome::Limited { quota, retry_at }, _) => {
                    return (Err(Error::RateLimited { quota, retry_at }), none)
                }
                (Outcome::Admitted(quota), usage) => {
                    let due = self
                        .activity
                        .reported_at
                        .is_none_or(|t| now.as_millis() >= t.as_millis() + REPORT_INTERVAL_MS);
                    let reported_at = if due {
                        Some(now)
                    } else {
                        self.activity.reported_at
                    };
                    self.activity = Activity {
                        usage,
                        last_used: Some(now),
                        reported_at,
                    };
                    (
                        quota,
                        Writes {
                            activity: true,
                            report: due,
                            ..Writes::default()
                        },
                    )
                }
            }
        };
        let grant = Grant {
            key_id: record.id.clone(),
            name: record.name.clone(),
            environment: record.environment.clone(),
            key_type: record.key_type,
            rate_limits: limits,
            quota,
            expires_at: record.expires_at,
            grants: record.grants.clone(),
            allowed_origins: record.allowed_origins.clone(),
            allowed_ips: record.allowed_ips.clone(),
            owner_id: record.owner_id.clone(),
            metadata: record.metadata.clone(),
        };
        (Ok(Reply::Granted { grant }), writes)
    }
}

/// Every check that can refuse a request before the limiter.
fn check(
    record: &KeyRecord,
    hash: &KeyHash,
    access: &Access,
    verifier: Option<&Actor>,
    now: Timestamp,
) -> Result<(), Error> {
    if !record.opens_with(hash, now) {
        return Err(Error::invalid_api_key());
    }
    if let Some(actor) = verifier {
        actor.permit(record)?;
    }
    match record.status(now) {
        Status::Revoked => return Err(Error::KeyRevoked),
        Status::Expired => return Err(Error::KeyExpired),
        Status::Active => {}
    }
    if !ip::allows(&record.allowed_ips, access.client_ip) {
        return Err(Error::IpNotAllowed);
    }
    let requirement = access.requirement.as_ref().map_err(Clone::clone)?;
    if record.key_type == KeyType::Publishable && !access.read_only {
        return Err(Error::InsufficientPermissions {
            required: None,
            message: "Publishable keys are read-only.".to_owned(),
        });
    }
    if let Some(permission) = &requirement.permission {
        if !record.grants.effective(record.key_type).covers(permission) {
            return Err(Error::InsufficientPermissions {
                message: format!("This API key lacks the `{permission}` permission."),
                required: Some(permission.to_string()),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::ApiKey;
    use crate::policy::route::RouteTable;
    use crate::record::{IssueContext, NewKey};

    const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

    fn issued(json: &str) -> (KeyState, KeyHash) {
        let envs = vec!["live".parse().unwrap()];
        let ctx = IssueContext {
            environments: &envs,
            default_limits: RateLimits::DEFAULT,
            now: NOW,
            actor: &Actor::AdminToken,
            tiers: &Tiers::default(),
        };
        let new: NewKey = serde_json::from_str(json).unwrap();
        let (record, key) = new.issue(&ctx).unwrap();
        let mut state = KeyState::default();
        let (reply, writes) = state.apply(Command::Create { record }, NOW);
        assert!(matches!(reply, Ok(Reply::Key { .. })));
        assert!(writes.record);
        (state, KeyHash::of(&key))
    }

    fn as_admin(action: KeyAction) -> Command {
        Command::Admin {
            actor: Actor::AdminToken,
            action,
        }
    }

    fn open(consume: bool) -> Access {
        Access {
            requirement: Ok(Requirement::OPEN),
            read_only: true,
            client_ip: None,
            consume,
        }
    }

    fn authorize(state: &mut KeyState, hash: &KeyHash, now: Timestamp) -> Result<Reply, Error> {
        state
            .apply(
                Command::Authorize {
                    hash: hash.clone(),
                    access: open(true),
                },
                now,
            )
            .0
    }

    #[test]
    fn create_twice_is_refused() {
        let (mut state, _) = issued(r#"{"name":"a","environment":"live"}"#);
        let again = state.record.clone().unwrap();
        let before = state.clone();
        let (reply, writes) = state.apply(Command::Create { record: again }, NOW);
        assert!(reply.is_err());
        assert_eq!(writes, Writes::default());
        assert_eq!(state, before);
    }

    #[test]
    fn authorize_counts_and_records_last_use() {
        let (mut state, hash) =
            issued(r#"{"name":"a","environment":"live","rate_limits":{"per_minute":2}}"#);
        for remaining in [1, 0] {
            match authorize(&mut state, &hash, NOW) {
                Ok(Reply::Granted { grant }) => assert_eq!(grant.quota.remaining, remaining),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(state.activity.last_used, Some(NOW));
        let before = state.clone();
        assert!(matches!(
            authorize(&mut state, &hash, NOW),
            Err(Error::RateLimited { .. })
        ));
        assert_eq!(state, before, "a refusal changes nothing");
    }

    #[test]
    fn inspect_consumes_nothing() {
        let (mut state, hash) = issued(r#"{"name":"a","environment":"live"}"#);
        let (reply, writes) = state.apply(
            Command::Authorize {
                hash,
                access: open(false),
            },
            NOW,
        );
        match reply {
            Ok(Reply::Granted { grant }) => assert_eq!(grant.quota.remaining, 60),
            other => panic!("{other:?}"),
        }
        assert_eq!(writes, Writes::default());
        assert_eq!(state.activity, Activity::default());
    }

    #[test]
    fn a_foreign_secret_does_not_open_the_key() {
        let (mut state, _) = issued(r#"{"name":"a","environment":"live"}"#);
        let other = ApiKey::generate(KeyType::Secret, "live".parse().unwrap()).unwrap();
        assert_eq!(
            authorize(&mut state, &KeyHash::of(&other), NOW),
            Err(Error::invalid_api_key())
        );
        let mut empty = KeyState::default();
        assert_eq!(
            authorize(&mut empty, &KeyHash::of(&other), NOW),
            Err(Error::invalid_api_key())
        );
    }

    #[test]
    fn revocation_applies_to_the_next_request_and_is_idempotent() {
        let (mut state, hash) = issued(r#"{"name":"a","environment":"live"}"#);
        assert!(authorize(&mut state, &hash, NOW).is_ok());
        let (reply, writes) = state.apply(as_admin(KeyAction::Revoke { reason: None }), NOW);
        assert!(writes.record);
        match reply {
            Ok(Reply::Revoked { key, hashes }) => {
                assert_eq!(key.status, Status::Revoked);
                assert_eq!(hashes, vec![hash.clone()]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(authorize(&mut state, &hash, NOW), Err(Error::KeyRevoked));
        let first = state.record.as_ref().unwrap().revoked_at;
        let (again, writes) = state.apply(
            as_admin(KeyAction::Revoke { reason: None }),
            NOW.plus_millis(5_000),
        );
        assert!(again.is_ok());
        assert!(!writes.record);
        assert_eq!(state.record.as_ref().unwrap().revoked_at, first);
    }

    #[test]
    fn expiry_is_enforced_at_the_instant() {
        let (mut state, hash) =
            issued(r#"{"name":"a","environment":"live","expires_at":"2027-01-16T00:00:00Z"}"#);
        let at = Timestamp::parse_rfc3339("2027-01-16T00:00:00Z").unwrap();
        assert!(authorize(
            &mut state,
            &hash,
            Timestamp::from_millis(at.as_millis() - 1)
        )
        .is_ok());
        assert_eq!(authorize(&mut state, &hash, at), Err(Error::KeyExpired));
    }

    #[test]
    fn unknown_ids_are_not_found() {
        let mut empty = KeyState::default();
        assert_eq!(
            empty.apply(as_admin(KeyAction::Get), NOW).0,
            Err(Error::NotFound)
        );
        assert_eq!(
            empty
                .apply(as_admin(KeyAction::Revoke { reason: None }), NOW)
                .0,
            Err(Error::NotFound)
        );
    }

    fn access(table: &RouteTable, method: &str, path: &str, ip: Option<&str>) -> Access {
        Access {
            requirement: table.resolve(method, path),
            read_only: matches!(method, "GET" | "HEAD" | "OPTIONS"),
            client_ip: ip.map(|i| i.parse().unwrap()),
            consume: true,
        }
    }

    fn decide(state: &mut KeyState, hash: &KeyHash, a: Access) -> Result<Reply, Error> {
        state
            .apply(
                Command::Authorize {
                    hash: hash.clone(),
                    access: a,
                },
                NOW,
            )
            .0
    }

    fn code(r: Result<Reply, Error>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn policy_checks_refuse_without_counting() {
        let table = RouteTable::parse(include_str!("../examples/routes-rest.json")).unwrap();
        let (mut state, hash) = issued(
            r#"{"name":"a","environment":"live","type":"restricted","scopes":["orders:read"],
                "allowed_ips":["198.51.100.0/24","2001:db8::/32"],"rate_limits":{"per_minute":2}}"#,
        );
        let ip = Some("198.51.100.9");
        assert_eq!(
            code(decide(
                &mut state,
                &hash,
                access(&table, "POST", "/v1/orders", ip)
            )),
            "insufficient_permissions"
        );
        assert_eq!(
            code(decide(
                &mut state,
                &hash,
                access(&table, "GET", "/v9/nothing", ip)
            )),
            "route_not_allowed"
        );
        assert_eq!(
            code(decide(
                &mut state,
                &hash,
                access(&table, "GET", "/v1/orders", Some("203.0.113.1"))
            )),
            "ip_not_allowed"
        );
        assert_eq!(
            code(decide(
                &mut state,
                &hash,
                access(&table, "GET", "/v1/orders", None)
            )),
            "ip_not_allowed"
        );
        assert_eq!(
            state.activity,
            Activity::default(),
            "refusals must not count"
        );
        assert_eq!(
            code(decide(
                &mut state,
                &hash,
                access(&table, "GET", "/v1/orders/7", Some("2001:db8::1"))
            )),
            "ok"
        );
        assert_eq!(state.activity.usage.minute.count, 1);
    }

    #[test]
    fn the_key_is_judged_before_the_route() {
        let table = RouteTable::parse(include_str!("../examples/routes-rest.json")).unwrap();
        let (mut state, hash) = issued(r#"{"name":"a","environment":"live"}"#);
        let _ = state.apply(as_admin(KeyAction::Revoke { reason: None }), NOW);
        assert_eq!(
            code(decide(
                &mut state,
                &hash,
                access(&table, "GET", "/v9/nothing", None)
            )),
            "key_revoked"
        );
    }

    #[test]
    fn route_cost_is_consumed() {
        let table = RouteTable::parse(include_str!("../examples/routes-rest.json")).unwrap();
        let (mut state, hash) =
            issued(r#"{"name":"a","environment":"live","rate_limits":{"per_minute":7}}"#);
        match decide(&mut state, &hash, access(&table, "POST", "/v1/scans", None)) {
            Ok(Reply::Granted { grant }) => assert_eq!(grant.quota.remaining, 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            code(decide(
                &mut state,
                &hash,
                access(&table, "POST", "/v1/scans", None)
            )),
            "rate_limited"
        );
    }

    #[test]
    fn publishable_keys_only_read() {
        let table = RouteTable::parse(r#"{"unmatched":"allow","routes":[]}"#).unwrap();
        let (mut state, hash) = issued(r#"{"name":"a","environment":"live","type":"publishable"}"#);
        assert_eq!(
            code(decide(&mut state, &hash, access(&table, "GET", "/x", None))),
            "ok"
        );
        assert_eq!(
            code(decide(
                &mut state,
                &hash,
                access(&table, "POST", "/x", None)
            )),
            "insufficient_permissions"
        );
        assert_eq!(
            code(decide(
                &mut state,
                &hash,
                access(&table, "DELETE", "/x", None)
            )),
            "insufficient_permissions"
        );
    }

    #[test]
    fn edits_apply_to_the_next_request_and_cannot_escalate() {
        let table = RouteTable::parse(include_str!("../examples/routes-rest.json")).unwrap();
        let (mut state, hash) = issued(
            r#"{"name":"a","environment":"live","type":"restricted","scopes":["orders:read"]}"#,
        );
        assert_eq!(
            code(decide(
                &mut state,
                &hash,
                access(&table, "POST", "/v1/orders", None)
            )),
            "insufficient_permissions"
        );
        let patch: KeyPatch = serde_json::from_str(r#"{"scopes":["orders:*"]}"#).unwrap();
        let (r, w) = state.apply(
            as_admin(KeyAction::Update {
                patch: Box::new(patch),
                tiers: Tiers::default(),
            }),
            NOW,
        );
        assert!(r.is_ok() && w.record);
        assert_eq!(
            code(decide(
                &mut state,
                &hash,
                access(&table, "POST", "/v1/orders", None)
            )),
            "ok"
        );

        let before = state.clone();
        for body in [r#"{"scopes":["*"]}"#, r#"{"scopes":[]}"#] {
            let patch: KeyPatch = serde_json::from_str(body).unwrap();
            let (r, w) = state.apply(
                as_admin(KeyAction::Update {
                    patch: Box::new(patch),
                    tiers: Tiers::default(),
                }),
                NOW,
            );
            assert_eq!(code(r), "invalid_request", "{body}");
            assert_eq!(w, Writes::default());
        }
        assert_eq!(state, before, "a refused edit changes nothing");

        let limited_admin = Actor::Key {
            id: KeyId::generate().unwrap(),
            bounds: serde_json::from_value(serde_json::json!({
                "grants": {"scopes": ["admin", "orders:read"]}, "environment": "live", "owner_id": null,
                "rate_limits": RateLimits::DEFAULT, "expires_at": null, "allowed_ips": []
            }))
            .unwrap(),
        };
        let patch: KeyPatch = serde_json::from_str(r#"{"scopes":["orders:write"]}"#).unwrap();
        let (r, _) = state.apply(
            Command::Admin {
                actor: limited_admin,
                action: KeyAction::Update {
                    patch: Box::new(patch),
                    tiers: Tiers::default(),
                },
            },
            NOW,
        );
        assert_eq!(code(r), "insufficient_permissions");
        assert_eq!(state, before);
    }

    #[test]
    fn revoked_keys_cannot_be_edited() {
        let (mut state, _) = issued(r#"{"name":"a","environment":"live"}"#);
        let _ = state.apply(as_admin(KeyAction::Revoke { reason: None }), NOW);
        let patch: KeyPatch = serde_json::from_str(r#"{"name":"b"}"#).unwrap();
        let (r, _) = state.apply(
            as_admin(KeyAction::Update {
                patch: Box::new(patch),
                tiers: Tiers::default(),
            }),
            NOW,
        );
        assert_eq!(code(r), "key_revoked");
    }

    #[test]
    fn rotation_keeps_id_and_counters() {
        let (mut state, old) =
            issued(r#"{"name":"a","environment":"live","rate_limits":{"per_minute":3}}"#);
        assert!(authorize(&mut state, &old, NOW).is_ok());
        let new_key = ApiKey::generate(KeyType::Secret, "live".parse().unwrap()).unwrap();
        let new = KeyHash::of(&new_key);
        let (r, w) = state.apply(
            as_admin(KeyAction::Rotate {
                secret: Secret::of(&new_key),
                grace_secs: 30,
            }),
            NOW,
        );
        assert!(r.is_ok() && w.record);
        match authorize(&mut state, &new, NOW) {
            Ok(Reply::Granted { grant }) => {
                assert_eq!(grant.quota.remaining, 1, "counters are shared")
            }
            other => panic!("{other:?}"),
        }
        assert!(authorize(&mut state, &old, NOW.plus_millis(29_000)).is_ok());
        assert_eq!(
            authorize(&mut state, &old, NOW.plus_millis(30_000)),
            Err(Error::invalid_api_key())
        );
        let _ = state.apply(as_admin(KeyAction::Revoke { reason: None }), NOW);
        let again = ApiKey::generate(KeyType::Secret, "live".parse().unwrap()).unwrap();
        let (r, _) = state.apply(
            as_admin(KeyAction::Rotate {
                secret: Secret::of(&again),
                grace_secs: 0,
            }),
            NOW,
        );
        assert_eq!(r, Err(Error::KeyRevoked));
    }

    #[test]
    fn last_use_is_reported_at_most_once_a_minute() {
        let (mut state, hash) = issued(r#"{"name":"a","environment":"live"}"#);
        let report = |state: &mut KeyState, t: Timestamp| {
            state
                .apply(
                    Command::Authorize {
                        hash: hash.clone(),
                        access: open(true),
                    },
                    t,
                )
                .1
                .report
        };
        assert!(report(&mut state, NOW));
        assert!(!report(&mut state, NOW.plus_millis(59_999)));
        assert!(report(&mut state, NOW.plus_millis(60_000)));
    }
}
