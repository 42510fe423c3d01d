//! Limits: how many units a key may spend, over which windows, and the one
//! all-or-nothing decision that spends them. Pure: no clock, no storage.
//!
//! # Layout
//!
//! - [`rate`]: the minute/day limits every key has (`RateLimits`), tiers,
//!   the stored counters (`Usage`) and what clients are told (`Quota`).
//! - [`named`]: named limits, fixed or rolling windows, `PolicyName`.
//! - [`tally`]: counting over any window, fixed or rolling (`Span`).
//! - [`credits`]: a balance spent by every admitted request, with refills.
//! - [`fields`]: the IETF `RateLimit` and `RateLimit-Policy` header values.
//!
//! A key's limits are its [`LimitSet`]; [`consume`] admits a request only
//! if every limit has room for its cost, and then counts it in all of them.

pub mod credits;
pub mod fields;
pub mod named;
pub mod rate;
pub mod tally;

use std::slice;

pub use named::{Charge, Draw, NamedLimit, PolicyName, WindowKind};
pub use rate::{
    quotas_json, shortest_window_end, Counter, Holder, Quota, RateLimits, Tally, Tiers, Usage,
};

use crate::time::Timestamp;
use named::MAX_ROLLING_SECS;
use tally::Span;

/// Everything that limits one key (or one owner's keys together).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitSet<'a> {
    /// Its minute and day limits (every key has them; an owner may not).
    pub rate_limits: Option<RateLimits>,
    /// Whether its windows of an hour or less roll.
    pub window: WindowKind,
    /// Its named limits.
    pub named: &'a [NamedLimit],
}

impl LimitSet<'_> {
    /// Just `rate_limits`, in fixed windows.
    pub fn fixed(rate_limits: RateLimits) -> LimitSet<'static> {
        LimitSet {
            rate_limits: Some(rate_limits),
            window: WindowKind::Fixed,
            named: &[],
        }
    }

    /// Whether this is only fixed minute and day windows: what a lease can
    /// carry (see [`crate::admission`]).
    pub fn is_plain(&self) -> bool {
        self.window == WindowKind::Fixed && self.named.is_empty()
    }

    /// Every limit: minute, day, then the named ones in order.
    pub fn policies(&self) -> impl Iterator<Item = Policy> + '_ {
        let rolls = |secs: u32| self.window == WindowKind::Rolling && secs <= MAX_ROLLING_SECS;
        self.rate_limits
            .into_iter()
            .flat_map(|r| {
                [
                    (PolicyName::MINUTE, r.per_minute.get(), 60),
                    (PolicyName::DAY, r.per_day.get(), 86_400),
                ]
            })
            .chain(
                self.named
                    .iter()
                    .map(|n| (n.name, n.limit.get(), n.window_seconds.get())),
            )
            .map(move |(name, limit, secs)| Policy {
                name,
                limit,
                window_seconds: secs,
                span: Span {
                    length_ms: u64::from(secs) * 1_000,
                    rolling: rolls(secs),
                },
            })
    }

    /// Refuses a charge no limit could ever admit, so the caller is not
    /// told to wait for a reset that will not help.
    pub fn admits(&self, charge: &Charge<'_>) -> Result<(), crate::error::Error> {
        for p in self.policies() {
            match charge.in_limit(p.name) {
                Some(cost) if cost > p.limit => {
                    return Err(crate::error::Error::cost_exceeds_limit(cost, p.limit))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// One limit as it is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Its name in headers and refusals.
    pub name: PolicyName,
    /// Units per window.
    pub limit: u32,
    /// The window's length.
    pub window_seconds: u32,
    /// How the window counts.
    pub span: Span,
}

impl Policy {
    /// Where this limit's counts live: fixed minute and day windows in
    /// `usage`'s own counters (as every key stored them before named
    /// limits), every other limit in `usage.tallies` under its name.
    fn tally<'u>(&self, usage: &'u Usage) -> &'u [Counter] {
        match self.fixed_slot() {
            Some(Slot::Minute) => slice::from_ref(&usage.minute),
            Some(Slot::Day) => slice::from_ref(&usage.day),
            None => usage
                .tallies
                .iter()
                .find(|t| t.policy == self.name)
                .map_or(&[], |t| t.buckets.as_slice()),
        }
    }

    fn charge(&self, usage: &mut Usage, units: u32, now: Timestamp) {
        let next = self.span.charge(self.tally(usage), units, now);
        match self.fixed_slot() {
            // The bucket just charged (the last one), never an older one.
            Some(Slot::Minute) => usage.minute = *next.last().expect("charged"),
            Some(Slot::Day) => usage.day = *next.last().expect("charged"),
            None => match usage.tallies.iter_mut().find(|t| t.policy == self.name) {
                Some(tally) => tally.buckets = next,
                None => usage.tallies.push(Tally {
                    policy: self.name,
                    buckets: next,
                }),
            },
        }
    }

    fn fixed_slot(&self) -> Option<Slot> {
        match self.name {
            _ if self.span.rolling => None,
            PolicyName::MINUTE => Some(Slot::Minute),
            PolicyName::DAY => Some(Slot::Day),
            _ => None,
        }
    }

    /// This limit's state at `now`.
    pub fn quota(&self, usage: &Usage, now: Timestamp) -> Quota {
        let tally = self.tally(usage);
        Quota {
            limit: self.limit,
            remaining: self.limit.saturating_sub(self.span.used(tally, now)),
            reset: self.span.reset(tally, now),
            policy: self.name,
            window_seconds: self.window_seconds,
            holder: Holder::Key,
        }
    }

    /// Takes back `units` this limit counted at `at`, if the bucket they
    /// went into still counts (a window that ended keeps its counts).
    fn refund(&self, usage: &mut Usage, units: u32, at: Timestamp) {
        let bucket = self.span.bucket_of(at);
        let give_back = |c: &mut Counter| {
            if c.start_ms == bucket {
                c.count = c.count.saturating_sub(units);
            }
        };
        match self.fixed_slot() {
            Some(Slot::Minute) => give_back(&mut usage.minute),
            Some(Slot::Day) => give_back(&mut usage.day),
            None => usage
                .tallies
                .iter_mut()
                .filter(|t| t.policy == self.name)
                .flat_map(|t| t.buckets.iter_mut())
                .for_each(give_back),
        }
    }
}

enum Slot {
    Minute,
    Day,
}

/// What [`consume`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Admitted; the limit that binds first (none when the set is empty:
    /// an owner with credits only).
    Admitted(Option<Quota>),
    /// Refused; nothing was consumed. `quota` is the exhausted limit and
    /// `retry_at` the earliest time the same request could succeed.
    Limited {
        /// The limit that refused the request.
        quota: Quota,
        /// When to retry.
        retry_at: Timestamp,
    },
}

/// Every limit's state at `now`, in [`LimitSet::policies`] order.
pub fn quotas(set: &LimitSet<'_>, usage: &Usage, now: Timestamp) -> Vec<Quota> {
    set.policies().map(|p| p.quota(usage, now)).collect()
}

/// The limit clients are told about: the one with the fewest units left
/// (on a tie, the first: the minute, which resets soonest). A key's own
/// limits come before its owner's, so a tie names the key's.
pub fn binding<'q>(quotas: impl IntoIterator<Item = &'q Quota>) -> Option<Quota> {
    quotas.into_iter().copied().min_by_key(|q| q.remaining)
}

/// [`binding`] among `set`'s limits at `now`.
pub fn peek(set: &LimitSet<'_>, usage: &Usage, now: Timestamp) -> Option<Quota> {
    binding(&quotas(set, usage, now))
}

/// Tries to spend `charge` in every limit it draws on at `now`. Either all
/// are charged or none is: a refused request costs nothing anywhere. A
/// refusal names the limit that frees up last (retrying earlier cannot
/// succeed).
pub fn consume(
    set: &LimitSet<'_>,
    usage: &Usage,
    charge: &Charge<'_>,
    now: Timestamp,
) -> (Outcome, Usage) {
    let drawn = || {
        set.policies()
            .filter_map(|p| Some((p, charge.in_limit(p.name)?)))
    };
    let refusing = drawn()
        .filter_map(|(p, cost)| {
            let quota = p.quota(usage, now);
            (quota.remaining < cost).then(|| {
                let retry_at = p.span.retry_at(p.tally(usage), p.limit, cost, now);
                (quota, retry_at)
            })
        })
        .max_by_key(|(_, retry_at)| *retry_at);
    if let Some((quota, retry_at)) = refusing {
        return (Outcome::Limited { quota, retry_at }, usage.clone());
    }
    let mut next = usage.clone();
    // Tallies of limits the key no longer has are dropped.
    next.tallies
        .retain(|t| set.policies().any(|p| p.name == t.policy));
    for (p, cost) in drawn() {
        p.charge(&mut next, cost, now);
    }
    let binding = peek(set, &next, now);
    (Outcome::Admitted(binding), next)
}

/// Takes back what [`consume`] spent for `charge` at `at`: for a request
/// admitted here and then refused elsewhere (its owner's limits), so it
/// counts nowhere. Buckets that have stopped counting keep their units.
pub fn refund(set: &LimitSet<'_>, usage: &Usage, charge: &Charge<'_>, at: Timestamp) -> Usage {
    let mut next = usage.clone();
    for p in set.policies() {
        if let Some(cost) = charge.in_limit(p.name) {
            p.refund(&mut next, cost, at);
        }
    }
    next
}

#[cfg(test)]
mod tests;
