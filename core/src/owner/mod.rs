//! Owner limits: minute/day limits, named limits and credits that every key
//! with the same `owner_id` shares, held by one Durable Object per owner.
//! Pure: the object loads an [`OwnerState`], calls [`OwnerState::apply`]
//! with the time, and saves what changed.
//!
//! # Layout
//!
//! - this file: the owner's state machine and the commands its object takes.
//! - [`body`]: what `PUT /v1/owners/{owner_id}` accepts, and what `GET` shows.
//!
//! # One decision across two objects
//!
//! A request with an owner-limited key is decided by the key's object,
//! which counts it against the key's own limits (so concurrent requests
//! can never spend the same unit), then, still inside that decision,
//! charges the owner's object ([`OwnerCommand::Charge`]). When the owner
//! refuses, or cannot be reached, the key's object takes its count back
//! ([`crate::keystate::KeyState::settle`]): a refused request counts in
//! neither. The owner's object counts a request only when it admits it, so
//! no window is ever counted in one and refused in the other — except when
//! the owner's answer is lost after the owner counted, where the owner's
//! window keeps a unit the request never used (under-admission of one
//! unit; never over-admission).
//!
//! Leases (see [`crate::admission`]) cover owner limits the same way: when
//! the key's object lends an isolate units, the owner lends the same
//! units in the same charge ([`OwnerCharge::lease`], sized like a key's
//! lease), so a lease only holds units counted in both; unused ones go back
//! to both ([`OwnerCommand::Return`]).
//!
//! Keys whose owner has no limits are not slowed down: the owner answers
//! [`OwnerReply::Unbound`] and the key's object does not ask again for
//! [`UNBOUND_RECHECK_MS`].

pub mod body;

use serde::{Deserialize, Serialize};

pub use body::OwnerLimits;

use crate::admission::lease::{self, LeaseAsk};
use crate::error::{Detail, Error};
use crate::limits::credits::{Balance, Credits};
use crate::limits::{self, Charge, Draw, Holder, Outcome, Quota, Usage};
use crate::policy::actor::{Actor, OwnerPermit};
use crate::time::Timestamp;

/// How long a key's object trusts "this owner has no limits" before asking
/// again: owner limits set with `PUT` bind a key that was already running
/// within this (plus `LEASE_TTL_MS` for an isolate's lease on it).
pub const UNBOUND_RECHECK_MS: u64 = 1_000;

/// What a request spends, as sent to the owner's object (an owned
/// [`Charge`]), and whether to spend it or only report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerCharge {
    /// The route's cost.
    pub cost: u32,
    /// The route's draws on named limits, if it lists them (the owner's
    /// named limits of those names are drawn on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draws: Option<Vec<Draw>>,
    /// Spend it (`false`: `whoami` only reports the owner's limits).
    pub consume: bool,
    /// Units the key's object would lend the asking isolate on top (see
    /// [`crate::admission`]): the owner lends what its own limits allow.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lease: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl OwnerCharge {
    /// The charge as the limits see it.
    pub fn charge(&self) -> Charge<'_> {
        Charge {
            cost: self.cost,
            draws: self.draws.as_deref(),
        }
    }
}

/// A command to an owner's Durable Object.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerCommand {
    /// Spend a request admitted by one of the owner's keys (sent by that
    /// key's object only).
    Charge {
        /// What it spends.
        charge: OwnerCharge,
    },
    /// Units of an owner-backed lease, handed back by the key's object
    /// when the isolate holding it returned them.
    Return {
        /// Units not spent.
        unused: u32,
        /// When they were lent (names the windows they were counted in).
        granted_at: Timestamp,
    },
    /// An admin route on the owner. It runs only with an [`OwnerPermit`].
    Admin {
        /// Who acts.
        actor: Actor,
        /// The owner's id (the object's name).
        owner_id: String,
        /// What to do.
        action: OwnerAction,
    },
}

/// What an admin route does to an owner's limits.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerAction {
    /// Read them.
    Get,
    /// Set them (replacing any), as the client sent them (JSON): the
    /// object decodes and validates.
    Put {
        /// The body.
        body: String,
    },
    /// Remove them: the owner's keys are bound by their own limits only.
    Delete,
}

/// An owner's object's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerReply {
    /// The owner's limits and their state.
    Owner {
        /// The view, as the API shows it (see [`body::view`]).
        owner: serde_json::Value,
    },
    /// The limits were removed.
    Deleted,
    /// The request is admitted by the owner's limits (and counted, when
    /// it consumes).
    Charged {
        /// The owner's limits after it, labelled as the owner's.
        quotas: Vec<Quota>,
        /// The owner's credits after it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credits: Option<Credits>,
        /// Units lent for the key's lease, already counted here.
        #[serde(default, skip_serializing_if = "is_zero")]
        lent: u32,
    },
    /// The owner has no limits: nothing was counted.
    Unbound,
    /// A lease return was taken.
    Returned,
}

impl OwnerReply {
    /// The reply's name, for logs (which never get its contents).
    pub fn kind(&self) -> &'static str {
        match self {
            OwnerReply::Owner { .. } => "owner",
            OwnerReply::Deleted => "deleted",
            OwnerReply::Charged { .. } => "charged",
            OwnerReply::Unbound => "unbound",
            OwnerReply::Returned => "returned",
        }
    }
}

/// The owner's limits as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The owner's id.
    pub id: String,
    /// Its limits.
    pub limits: OwnerLimits,
    /// When they were last set.
    pub updated_at: Timestamp,
}

/// What the owner's requests have used: changes on every charge.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerActivity {
    /// Window counters across the owner's keys (lent units included).
    pub usage: Usage,
    /// Of those, units lent for keys' leases and not handed back: a return
    /// is credited up to this much, so no return can free a unit twice.
    #[serde(default)]
    pub lent: Usage,
    /// The owner's credits, if it has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<Balance>,
}

/// Which rows a command changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OwnerWrites {
    /// The limits were set.
    pub owner: bool,
    /// The activity changed.
    pub activity: bool,
    /// Everything was removed.
    pub cleared: bool,
}

/// Everything an owner's Durable Object holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnerState {
    /// The limits; `None` until a `PUT` (and after a `DELETE`).
    pub owner: Option<Owner>,
    /// Counters and credits.
    pub activity: OwnerActivity,
}

/// The owner's quotas, labelled as the owner's.
fn owned(quotas: Vec<Quota>) -> Vec<Quota> {
    quotas
        .into_iter()
        .map(|q| Quota {
            holder: Holder::Owner,
            ..q
        })
        .collect()
}

impl OwnerState {
    /// Applies `command` at `now`. On error nothing has changed.
    pub fn apply(
        &mut self,
        command: OwnerCommand,
        now: Timestamp,
    ) -> (Result<OwnerReply, Error>, OwnerWrites) {
        match command {
            OwnerCommand::Return { unused, granted_at } => {
                let activity = &mut self.activity;
                activity
                    .usage
                    .credit(&mut activity.lent, unused, granted_at);
                let writes = OwnerWrites {
                    activity: true,
                    ..OwnerWrites::default()
                };
                (Ok(OwnerReply::Returned), writes)
            }
            OwnerCommand::Charge { charge } => match self.charge(&charge, now) {
                Ok(reply) => {
                    let counted = charge.consume && reply != OwnerReply::Unbound;
                    let writes = OwnerWrites {
                        activity: counted,
                        ..OwnerWrites::default()
                    };
                    (Ok(reply), writes)
                }
                Err(e) => (Err(e), OwnerWrites::default()),
            },
            OwnerCommand::Admin {
                actor,
                owner_id,
                action,
            } => {
                let write = !matches!(action, OwnerAction::Get);
                match actor.owner_permit(&owner_id, write) {
                    Ok(permit) => self.admin(&permit, action, now),
                    Err(e) => (Err(e), OwnerWrites::default()),
                }
            }
        }
    }

    /// Spends `charge` if every owner limit and the owner's credits have
    /// room (all or nothing), else refuses naming the owner's limit.
    fn charge(&mut self, charge: &OwnerCharge, now: Timestamp) -> Result<OwnerReply, Error> {
        let Some(owner) = &self.owner else {
            return Ok(OwnerReply::Unbound);
        };
        let set = owner.limits.limit_set();
        let activity = &mut self.activity;
        let mut lent = 0;
        let credits = match activity.credits {
            Some(balance) if charge.consume => Some(balance.spend(charge.cost, now).map_err(
                |e| match e.detail() {
                    Detail::Credits { retry_at, .. } => {
                        Error::credits_exhausted(*retry_at, Holder::Owner)
                    }
                    _ => e,
                },
            )?),
            other => other.map(|b| b.at(now)),
        };
        if charge.consume {
            match limits::consume(&set, &activity.usage, &charge.charge(), now) {
                (Outcome::Limited { quota, retry_at }, _) => {
                    let quota = Quota {
                        holder: Holder::Owner,
                        ..quota
                    };
                    let quotas = owned(limits::quotas(&set, &activity.usage, now));
                    return Err(Error::rate_limited(quota, retry_at, quotas));
                }
                (Outcome::Admitted(quota), usage) => {
                    activity.usage = usage;
                    activity.credits = credits;
                    // Lent like a key's lease: only from fixed minute and
                    // day windows, never with credits, and sized by what
                    // is left, so the last units go one request at a time.
                    let lendable = set.is_plain() && credits.is_none();
                    let ask = LeaseAsk {
                        want: charge.lease,
                        ttl_ms: 0,
                    };
                    lent = quota
                        .filter(|_| lendable && charge.lease > 0)
                        .and_then(|q| lease::size(&ask, q.remaining, charge.cost))
                        .unwrap_or(0);
                    if lent > 0 {
                        activity.usage = activity.usage.plus(lent, now);
                        activity.lent = activity.lent.plus(lent, now);
                    }
                }
            }
        }
        Ok(OwnerReply::Charged {
            quotas: owned(limits::quotas(&set, &activity.usage, now)),
            credits: credits.map(|b| b.credits),
            lent,
        })
    }

    /// Runs an admin action the owner rule allowed.
    fn admin(
        &mut self,
        permit: &OwnerPermit<'_>,
        action: OwnerAction,
        now: Timestamp,
    ) -> (Result<OwnerReply, Error>, OwnerWrites) {
        let none = OwnerWrites::default();
        match action {
            OwnerAction::Get => (self.view(now).ok_or(Error::NOT_FOUND), none),
            OwnerAction::Put { body } => {
                let limits: OwnerLimits = match body::parse(body.as_bytes()) {
                    Ok(limits) => limits,
                    Err(e) => return (Err(e), none),
                };
                // Setting credits sets the balance; the counters carry on
                // (a new limit applies to what the window has used so far).
                self.activity.credits = limits.credits.map(|credits| Balance {
                    credits,
                    since: now,
                });
                self.owner = Some(Owner {
                    id: permit.owner().to_owned(),
                    limits,
                    updated_at: now,
                });
                let writes = OwnerWrites {
                    owner: true,
                    activity: true,
                    cleared: false,
                };
                (self.view(now).ok_or(Error::INTERNAL), writes)
            }
            OwnerAction::Delete => {
                if self.owner.is_none() {
                    return (Err(Error::NOT_FOUND), none);
                }
                *self = OwnerState::default();
                let writes = OwnerWrites {
                    cleared: true,
                    ..none
                };
                (Ok(OwnerReply::Deleted), writes)
            }
        }
    }

    /// The owner's limits and their state at `now`, if it has any.
    fn view(&self, now: Timestamp) -> Option<OwnerReply> {
        let owner = self.owner.as_ref()?;
        let quotas = owned(limits::quotas(
            &owner.limits.limit_set(),
            &self.activity.usage,
            now,
        ));
        Some(OwnerReply::Owner {
            owner: body::view(
                owner,
                &quotas,
                self.activity.credits.map(|b| b.at(now).credits),
            ),
        })
    }
}

#[cfg(test)]
mod tests;
