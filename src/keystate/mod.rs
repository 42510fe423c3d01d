//! The per-key state machine that each key's Durable Object runs: the
//! authoritative record (status, secrets, limits) and the counters, and the
//! commands the Worker sends it. Pure: the Durable Object only loads this
//! state, calls [`KeyState::apply`] with the time, and saves what changed.
//!
//! - [`protocol`]: the commands, request facts and answers exchanged with the Worker.

mod protocol;

use serde::{Deserialize, Serialize};

pub use protocol::{Access, Command, Grant, KeyAction, Reply};

use crate::error::Error;
use crate::hash::KeyHash;
use crate::key::KeyType;
use crate::lifecycle::record::{KeyRecord, Status};
use crate::lifecycle::request::KeyPatch;
use crate::limit::{self, Outcome, Usage};
use crate::policy::actor::{Actor, Permit};
use crate::policy::ip;
use crate::time::Timestamp;

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
                let patch: KeyPatch = crate::admin::parse_body(patch.as_bytes())?;
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
                // Revoking a revoked key changes nothing (idempotent).
                let next = record.revoked_at.is_none().then(|| {
                    let mut next = record.clone();
                    next.revoked_at = Some(now);
                    next.revoked_reason = reason;
                    next
                });
                let key = view(next.as_ref().unwrap_or(record));
                Ok((Reply::Revoked { key, hashes }, next))
            }
        }
    }
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
    /// The stored record did not decode and `record` is what
    /// [`crate::lifecycle::record::salvage`] made of it: good for revoking
    /// the key, for nothing else.
    pub damaged: bool,
    /// Counters and last use.
    pub activity: Activity,
}

impl KeyState {
    /// Applies `command` at `now`. On error nothing has changed.
    pub fn apply(&mut self, command: Command, now: Timestamp) -> (Result<Reply, Error>, Writes) {
        if self.damaged {
            return self.apply_damaged(command, now);
        }
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
        let Some(record) = self.record.as_ref() else {
            return (Err(Error::invalid_api_key()), Writes::default());
        };
        if !record.opens_with(hash, now) {
            return (Err(Error::invalid_api_key()), Writes::default());
        }
        // The key is identified: a refusal of a browser key carries its
        // origins, so a listed page can read it.
        match self.judge(access, verifier, now) {
            (Err(error), writes) => {
                let origins = self.record.as_ref().map(|r| &r.allowed_origins);
                match origins.filter(|o| !o.is_empty()) {
                    Some(origins) => {
                        let refused = Reply::Refused {
                            error,
                            allowed_origins: origins.clone(),
                        };
                        (Ok(refused), writes)
                    }
                    None => (Err(error), writes),
                }
            }
            admitted => admitted,
        }
    }

    /// A damaged record answers `record_unreadable` to everything but a
    /// revocation by the admin token, which stores a readable, revoked
    /// record (so the key stays revocable whatever was stored).
    fn apply_damaged(
        &mut self,
        command: Command,
        now: Timestamp,
    ) -> (Result<Reply, Error>, Writes) {
        let Command::Admin {
            actor: actor @ Actor::AdminToken,
            action: action @ KeyAction::Revoke { .. },
        } = command
        else {
            return (Err(Error::RecordUnreadable), Writes::default());
        };
        self.damaged = false;
        let (reply, writes) = self.apply(Command::Admin { actor, action }, now);
        if reply.is_err() {
            self.damaged = true;
        }
        (reply, writes)
    }

    /// Judges a request presented with one of this key's secrets.
    fn judge(
        &mut self,
        access: Access,
        verifier: Option<&Actor>,
        now: Timestamp,
    ) -> (Result<Reply, Error>, Writes) {
        let none = Writes::default();
        let Some(record) = self.record.as_ref() else {
            return (Err(Error::invalid_api_key()), none);
        };
        if let Err(e) = check(record, &access, verifier, now) {
            return (Err(e), none);
        }
        let limits = record.rate_limits;
        let cost = access
            .requirement
            .as_ref()
            .map(|r| r.cost.get())
            .unwrap_or(1);
        if let Err(e) = limits.admits_cost(cost) {
            return (Err(e), none);
        }
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
    access: &Access,
    verifier: Option<&Actor>,
    now: Timestamp,
) -> Result<(), Error> {
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
mod tests;
