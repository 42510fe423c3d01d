//! The per-key state machine that each key's Durable Object runs: the
//! authoritative record (status, secrets, limits) and the counters, and the
//! commands the Worker sends it. Pure: the Durable Object only loads this
//! state, calls [`KeyState::apply`] with the time, and saves what changed.
//!
//! - [`protocol`]: the commands, request facts and answers exchanged with the Worker.
//! - `owned`: settling a request with the key's owner's limits ([`KeyState::settle`]).

mod decide;
mod owned;
mod protocol;
mod traffic;

use serde::{Deserialize, Serialize};

pub use protocol::{Access, Command, Grant, KeyAction, Reply};
pub use traffic::decision;

use crate::admission::Admission;
use crate::analytics::{Closed, Open};
use crate::error::Error;
use crate::hash::{KeyHash, SecretFingerprint};
use crate::key::KeyType;
use crate::lifecycle::record::{KeyRecord, KeyView, Status};
use crate::lifecycle::request::KeyPatch;
use crate::limits::credits::{Balance, CreditOp, Credits};
use crate::limits::{self, Usage};
use crate::policy::actor::{Actor, Permit};
use crate::policy::cors::WebOrigin;
use crate::policy::ip;
use crate::policy::permission::Permission;
use crate::time::Timestamp;
use crate::webhook::alert::Alerts;
use crate::webhook::KeyAlert;

/// What an admin action changed, besides its reply.
struct Ran {
    reply: Reply,
    /// The new record, when it changed.
    record: Option<KeyRecord>,
    /// The new credits (`Some(None)`: no longer metered), when they changed.
    credits: Option<Option<Balance>>,
}

impl KeyAction {
    /// Runs the action on the permitted key, whose credits are `credits`.
    fn run(self, permit: Permit<'_>, activity: &Activity, now: Timestamp) -> Result<Ran, Error> {
        let (last_used, credits) = (activity.last_used, activity.credits);
        let record = permit.target();
        let view = |r: &KeyRecord, c: Option<Balance>| {
            r.view(last_used, c.map(|b| b.at(now).credits), now)
        };
        let ran = |reply, record, credits| Ran {
            reply,
            record,
            credits,
        };
        match self {
            KeyAction::Get => {
                let quotas = limits::quotas(&record.limit_set(), &activity.usage, now);
                let key = KeyView {
                    usage: Some(limits::quotas_json(&quotas)),
                    ..view(record, credits)
                };
                Ok(ran(Reply::Key { key }, None, None))
            }
            KeyAction::Usage { query, stored } => {
                let mut usage = crate::analytics::series(&query, &stored, &activity.traffic);
                usage["key_id"] = serde_json::json!(record.id);
                Ok(ran(Reply::Usage { usage }, None, None))
            }
            KeyAction::Update { .. } | KeyAction::Rotate { .. } | KeyAction::Credits { .. }
                if record.revoked_at.is_some() =>
            {
                Err(Error::KEY_REVOKED)
            }
            KeyAction::Update { patch, tiers } => {
                let patch: KeyPatch = crate::admin::parse_body(patch.as_bytes())?;
                let new_credits = patch.credits.map(|c| {
                    c.map(|credits| Balance {
                        credits,
                        since: now,
                    })
                });
                let next = patch.apply(&permit, &tiers, now)?;
                let shown = new_credits.unwrap_or(credits);
                Ok(ran(
                    Reply::Key {
                        key: view(&next, shown),
                    },
                    Some(next),
                    new_credits,
                ))
            }
            KeyAction::Rotate { secret, grace_secs } => {
                let mut next = record.clone();
                next.rotate(secret, grace_secs, now);
                Ok(ran(
                    Reply::Key {
                        key: view(&next, credits),
                    },
                    Some(next),
                    None,
                ))
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
                let key = view(next.as_ref().unwrap_or(record), credits);
                Ok(ran(Reply::Revoked { key, hashes }, next, None))
            }
            KeyAction::Credits { op, amount, .. } => {
                let Some(balance) = credits else {
                    return Err(Error::invalid(
                        "credits",
                        "this key has no credits; set them with PATCH first",
                    ));
                };
                let next = balance.adjust(op, amount, now)?;
                permit.allows_credits(Some(next.credits))?;
                Ok(ran(
                    Reply::Key {
                        key: view(record, Some(next)),
                    },
                    None,
                    Some(Some(next)),
                ))
            }
        }
    }
}

/// A key's usage that changes on every admitted request, stored apart from
/// the record so the hot path rewrites only a few bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// Window counters (lent units included).
    pub usage: Usage,
    /// Of those, units lent to isolates and not handed back: a return is
    /// credited up to this much, so no return can free a unit twice.
    #[serde(default)]
    pub lent: Usage,
    /// Last admitted request. (Releases before the isolates reported it
    /// also stored `reported_at` here; it is ignored.)
    pub last_used: Option<Timestamp>,
    /// The key's credits, if it is metered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<Balance>,
    /// The minute of usage analytics being counted (see [`crate::analytics`]).
    #[serde(default)]
    pub traffic: Open,
    /// The usage alerts sent in the current windows (see [`crate::webhook::alert`]).
    #[serde(default)]
    pub alerts: Alerts,
}

/// Recent credit changes made under an `Idempotency-Key`: stored apart
/// from the activity, which every admitted request rewrites.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Idempotency(Vec<Applied>);

/// A credit change made under an `Idempotency-Key`: a retry with the same
/// key and the same change answers `result` and changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The client's idempotency key.
    pub key: String,
    /// The change.
    pub op: CreditOp,
    /// Its amount.
    pub amount: u64,
    /// When it was applied.
    pub at: Timestamp,
    /// The credits it left.
    pub result: Credits,
}

/// How long an idempotency key is remembered, and how many at most.
pub const IDEMPOTENCY_TTL_MS: u64 = 24 * 3600 * 1000;
/// See [`IDEMPOTENCY_TTL_MS`].
pub const IDEMPOTENCY_KEYS: usize = 100;

impl Idempotency {
    /// What a credit change under idempotency key `key` answered, if one
    /// was made in the last day; 422 if that one was a different change.
    fn retried(
        &self,
        key: &str,
        op: CreditOp,
        amount: u64,
        now: Timestamp,
    ) -> Result<Option<Credits>, Error> {
        let seen = self
            .0
            .iter()
            .find(|a| a.key == key && now.as_millis() < a.at.as_millis() + IDEMPOTENCY_TTL_MS);
        match seen {
            Some(a) if (a.op, a.amount) == (op, amount) => Ok(Some(a.result)),
            Some(_) => Err(Error::invalid(
                "Idempotency-Key",
                "was already used for a different change",
            )),
            None => Ok(None),
        }
    }

    /// Remembers `applied`, forgetting expired and the oldest beyond
    /// [`IDEMPOTENCY_KEYS`].
    fn remember(&mut self, applied: Applied) {
        let at = applied.at.as_millis();
        self.0
            .retain(|a| at < a.at.as_millis() + IDEMPOTENCY_TTL_MS && a.key != applied.key);
        self.0.push(applied);
        let excess = self.0.len().saturating_sub(IDEMPOTENCY_KEYS);
        self.0.drain(..excess);
    }
}

impl Activity {
    /// Notes a use at `at`.
    fn used(&mut self, at: Timestamp) {
        self.last_used = self.last_used.max(Some(at));
    }
}

/// Which parts of the state a command changed, so the object writes only
/// those, and only when needed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Writes {
    /// The record changed.
    pub record: bool,
    /// The activity changed.
    pub activity: bool,
    /// The remembered idempotency keys changed.
    pub idempotency: bool,
}

impl Writes {
    const RECORD: Writes = Writes {
        record: true,
        activity: false,
        idempotency: false,
    };

    const ACTIVITY: Writes = Writes {
        record: false,
        activity: true,
        idempotency: false,
    };
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
    /// Credit changes made under an `Idempotency-Key`.
    pub idempotency: Idempotency,
    /// Usage minutes closed since the object last wrote them (never
    /// stored here: the object moves them into its usage tables).
    pub closed: Closed,
    /// Usage alerts raised since the object last reported (never stored:
    /// the object sends them to the registry with its usage report).
    pub raised: Vec<KeyAlert>,
}

/// A request refused once the key is identified: the error, the key's
/// browser origins so a listed page can read why, and its owner so the
/// refusal counts in the owner's usage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub error: Error,
    /// The key's `allowed_origins`.
    pub allowed_origins: Vec<WebOrigin>,
    /// The key's `owner_id` (never shown to the caller).
    pub owner: Option<String>,
}

impl Refusal {
    /// A refusal that names nothing of a key: it was not identified, or
    /// the refusal came before any key was read.
    pub fn bare(error: Error) -> Self {
        Refusal {
            error,
            allowed_origins: Vec::new(),
            owner: None,
        }
    }

    /// A refusal of the identified key `record`.
    pub fn of(error: Error, record: &KeyRecord) -> Self {
        Refusal {
            error,
            allowed_origins: record.allowed_origins.clone(),
            owner: record.owner_id.clone(),
        }
    }

    /// The object's answer: a key with browser origins or an owner is
    /// refused with them (a listed page can then read why; the Worker
    /// counts the refusal for the owner), any other with the error.
    fn into_reply(self) -> Result<Reply, Error> {
        if self.allowed_origins.is_empty() && self.owner.is_none() {
            Err(self.error)
        } else {
            Ok(Reply::Refused {
                error: self.error,
                allowed_origins: self.allowed_origins,
                owner: self.owner,
            })
        }
    }
}

impl KeyState {
    /// Applies `command` at `now`. On error nothing has changed.
    pub fn apply(&mut self, command: Command, now: Timestamp) -> (Result<Reply, Error>, Writes) {
        if self.damaged {
            return self.apply_damaged(command, now);
        }
        let none = Writes::default();
        match command {
            Command::Create { record, credits } => {
                if self.record.is_some() {
                    return (Err(Error::INTERNAL), none);
                }
                let key = record.view(None, credits, now);
                self.record = Some(record);
                self.activity.credits = credits.map(|credits| Balance {
                    credits,
                    since: now,
                });
                let writes = Writes {
                    activity: credits.is_some(),
                    ..Writes::RECORD
                };
                (Ok(Reply::Key { key }), writes)
            }
            Command::Authorize {
                hash,
                access,
                verifier,
                known,
                lease,
            } => {
                let (answer, mut writes) =
                    self.authorize(Opener::Secret(&hash), &access, verifier, known, lease, now);
                writes.activity |= self.count(&access, &answer, now);
                (answer, writes)
            }
            Command::Resume { access, secret } => {
                let opener = Opener::Session(&secret);
                let (answer, mut writes) = self.authorize(opener, &access, None, None, None, now);
                writes.activity |= self.count(&access, &answer, now);
                (answer, writes)
            }
            Command::Report { outcome } => {
                if self.record.is_none() {
                    return (Err(Error::NOT_FOUND), none);
                }
                self.count_report(outcome, now);
                (Ok(Reply::Returned), Writes::ACTIVITY)
            }
            Command::Return { returned } => {
                let Some(record) = self.record.as_ref() else {
                    return (Err(Error::NOT_FOUND), none);
                };
                // Units lent under an older version go unreturned: an edit
                // or a revocation ends every lease it finds.
                if returned.version == record.version {
                    let activity = &mut self.activity;
                    let lent = &mut activity.lent;
                    activity
                        .usage
                        .credit(lent, returned.unused, returned.granted_at);
                }
                if let Some(t) = returned.last_used {
                    self.activity.used(t);
                }
                self.count_returned(&returned, now);
                (Ok(Reply::Returned), Writes::ACTIVITY)
            }
            Command::Admin { actor, action } => {
                let Some(record) = self.record.as_ref() else {
                    return (Err(Error::NOT_FOUND), none);
                };
                let version = record.version + 1;
                let credits = self.activity.credits.map(|b| b.at(now).credits);
                let permit = match actor.permit(record, credits) {
                    Err(e) => return (Err(e), none),
                    Ok(permit) => permit,
                };
                let activity = &mut self.activity;
                let idempotency = match &action {
                    KeyAction::Credits {
                        op,
                        amount,
                        idempotency_key: Some(key),
                    } => Some((key.clone(), *op, *amount)),
                    _ => None,
                };
                // Checked once the actor may act on the key, so a retry tells
                // nothing to one who may not.
                let replayed = match &idempotency {
                    Some((key, op, amount)) => {
                        match self.idempotency.retried(key, *op, *amount, now) {
                            Err(e) => return (Err(e), none),
                            Ok(replayed) => replayed,
                        }
                    }
                    None => None,
                };
                if let Some(credits) = replayed {
                    // Answered as the first call was, changing nothing.
                    let key = record.view(activity.last_used, Some(credits), now);
                    return (Ok(Reply::Replayed { key }), none);
                }
                let Ran {
                    reply,
                    record: next,
                    credits: new_credits,
                } = match action.run(permit, activity, now) {
                    Err(e) => return (Err(e), none),
                    Ok(ran) => ran,
                };
                let mut writes = none;
                if let Some(credits) = new_credits {
                    if let (Some((key, op, amount)), Some(balance)) = (idempotency, credits) {
                        self.idempotency.remember(Applied {
                            key,
                            op,
                            amount,
                            at: now,
                            result: balance.credits,
                        });
                        writes.idempotency = true;
                    }
                    activity.credits = credits;
                    writes.activity = true;
                }
                if let Some(mut next) = next {
                    next.version = version;
                    self.record = Some(next);
                    writes.record = true;
                }
                (Ok(reply), writes)
            }
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
            return (Err(Error::RECORD_UNREADABLE), Writes::default());
        };
        self.damaged = false;
        let (reply, writes) = self.apply(Command::Admin { actor, action }, now);
        if reply.is_err() {
            self.damaged = true;
        }
        (reply, writes)
    }
}

/// Whether an isolate may be lent units of this key: not if it asked for
/// exact admission; not with rolling windows or named limits (a lease
/// carries units of the fixed minute and day only); and never an admin key, whose revocation must stop
/// the next admin call and not one a lease later.
fn leasable(record: &KeyRecord) -> bool {
    record.admission == Admission::Leased
        && record.limit_set().is_plain()
        && !record
            .grants
            .effective(record.key_type)
            .covers(&Permission::admin())
}

/// What shows which key a decision is for.
#[derive(Clone, Copy, Debug)]
pub enum Opener<'a> {
    /// A presented secret, by its hash.
    Secret(&'a KeyHash),
    /// A dashboard session of the key (see [`Command::Resume`]), by the
    /// fingerprint of the secret it was opened with: it works while that
    /// secret does.
    Session(&'a SecretFingerprint),
}

/// Every check that can refuse a request presenting `hash` before the
/// limiter, in order: the `opener` opens this key; the verifier reaches it;
/// it is not revoked or expired; the client IP is allowed; the route allows
/// the request; a publishable key only reads; the key covers the
/// permission; the cost fits the limits. The key's object and an isolate
/// holding a lease both judge with this one function.
// A refusal is built once per refused request and returned straight up;
// boxing it would add an allocation to that path and save nothing.
#[allow(clippy::result_large_err)]
pub fn screen(
    record: &KeyRecord,
    credits: Option<Credits>,
    opener: Opener<'_>,
    access: &Access,
    verifier: Option<&Actor>,
    now: Timestamp,
) -> Result<(), Refusal> {
    let opens = match opener {
        Opener::Secret(hash) => record.opens_with(hash, now),
        Opener::Session(secret) => record.resumes(secret, now),
    };
    if !opens {
        // Not identified: nothing about the key may show.
        return Err(Refusal::bare(Error::invalid_api_key()));
    }
    check(record, credits, access, verifier, now).map_err(|error| Refusal::of(error, record))
}

/// [`screen`] once the key is identified.
fn check(
    record: &KeyRecord,
    credits: Option<Credits>,
    access: &Access,
    verifier: Option<&Actor>,
    now: Timestamp,
) -> Result<(), Error> {
    if let Some(actor) = verifier {
        actor.permit(record, credits)?;
    }
    match record.status(now) {
        Status::Revoked => return Err(Error::KEY_REVOKED),
        Status::Expired => return Err(Error::KEY_EXPIRED),
        Status::Active => {}
    }
    if !ip::allows(&record.allowed_ips, access.client_ip) {
        return Err(Error::IP_NOT_ALLOWED);
    }
    let requirement = access.requirement.as_ref().map_err(Clone::clone)?;
    if record.key_type == KeyType::Publishable && !access.read_only {
        return Err(Error::insufficient_permissions(
            None,
            "Publishable keys are read-only.".to_owned(),
        ));
    }
    if let Some(permission) = &requirement.permission {
        if !record.grants.effective(record.key_type).covers(permission) {
            return Err(Error::insufficient_permissions(
                Some(permission.to_string()),
                format!("This API key lacks the `{permission}` permission."),
            ));
        }
    }
    record.limit_set().admits(&requirement.charge())
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
