//! Leases, as the key's Durable Object sees them: what an isolate asks for,
//! what it is lent, what it hands back, and how many units to lend.
//!
//! Sizing keeps the object in charge of the limit: a lease is at most a
//! quarter of what the tightest window has left (so the last units of
//! every window go out one request at a time, exactly as without leases),
//! at most what the isolate's recent demand needs, and at most
//! [`MAX_UNITS`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::analytics::{Countries, Counts};

use crate::limits::shortest_window_end;
use crate::time::Timestamp;

/// `LEASE_TTL_MS` when it is not set: how late an edit or a revocation
/// may reach an isolate that holds a lease.
pub const DEFAULT_TTL_MS: u64 = 1_000;
/// The longest `LEASE_TTL_MS` accepted: unused units are handed back
/// from `waitUntil`, which the runtime cuts off 30 s after the response.
pub const MAX_TTL_MS: u64 = 25_000;
/// Leases end this long before their minute does, so that an isolate whose
/// clock runs behind the object's still spends a minute's units in it.
pub const CLOCK_MARGIN_MS: u64 = 250;
/// A lease holds at most 1/`SHARE` of what the tightest window has left.
const SHARE: u32 = 4;
/// Fewer units than this are not worth a lease: the request is answered alone.
pub const MIN_UNITS: u32 = 2;
/// The most units one lease holds, whatever the demand: bounds what one
/// lost return can cost a window.
pub const MAX_UNITS: u32 = 10_000;

/// What an isolate asks for along with an authorize, after it has seen
/// sustained demand for the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseAsk {
    /// Units the isolate expects to spend within `ttl_ms`.
    pub want: u32,
    /// How long the isolate will use a lease at most.
    pub ttl_ms: u64,
}

impl LeaseAsk {
    /// This ask as a deployment whose own `LEASE_TTL_MS` is `ttl_ms` allows
    /// it (0: no lease at all), whatever the asking isolate's settings.
    pub fn within(self, ttl_ms: u64) -> Option<LeaseAsk> {
        (ttl_ms > 0).then(|| LeaseAsk {
            ttl_ms: self.ttl_ms.min(ttl_ms),
            ..self
        })
    }
}

/// Units lent to an isolate: already counted in every window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// How many.
    pub units: u32,
    /// When the object lent them (names the windows they were counted in).
    #[serde(with = "crate::time::millis")]
    pub granted_at: Timestamp,
    /// Not to be spent from this time on.
    #[serde(with = "crate::time::millis")]
    pub until: Timestamp,
    /// The units were also counted in the key's owner's limits (see
    /// [`crate::owner`]): unused ones go back to the owner too.
    #[serde(default, skip_serializing_if = "is_false")]
    pub owner: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What an isolate hands back when its lease ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseReturn {
    /// The record version the lease was lent under.
    pub version: u64,
    /// The lease's [`Lease::granted_at`].
    #[serde(with = "crate::time::millis")]
    pub granted_at: Timestamp,
    /// Units not spent.
    pub unused: u32,
    /// The last request admitted with it, if any.
    pub last_used: Option<Timestamp>,
    /// The lease's [`Lease::owner`].
    #[serde(default, skip_serializing_if = "is_false")]
    pub owner: bool,
    /// What the isolate decided about the key while it held the lease, by
    /// outcome (see [`crate::analytics`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outcomes: Counts,
    /// Those decisions' countries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub countries: Countries,
}

/// How many units to lend for `ask`, when the tightest window has `left`
/// after the request that carries the ask, whose routes cost `cost` each;
/// `None` below [`MIN_UNITS`] or below one such request.
pub fn size(ask: &LeaseAsk, left: u32, cost: u32) -> Option<u32> {
    let units = ask.want.min(left / SHARE).min(MAX_UNITS);
    (units >= MIN_UNITS.max(cost)).then_some(units)
}

/// A lease of `units` lent at `now` for `ttl_ms` (at most [`MAX_TTL_MS`]):
/// it ends [`CLOCK_MARGIN_MS`] before its minute at the latest; `None`
/// when that leaves no time.
pub fn lend(units: u32, ttl_ms: u64, now: Timestamp) -> Option<Lease> {
    let end = shortest_window_end(now).as_millis() - CLOCK_MARGIN_MS;
    let until = now
        .plus_millis(ttl_ms.min(MAX_TTL_MS))
        .min(Timestamp::from_millis(end));
    (until > now).then_some(Lease {
        units,
        granted_at: now,
        until,
        owner: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_a_quarter_of_what_is_left_at_most() {
        let ask = LeaseAsk {
            want: 1_000,
            ttl_ms: 1_000,
        };
        assert_eq!(size(&ask, 400, 1), Some(100));
        assert_eq!(size(&ask, 100_000, 1), Some(1_000), "demand bounds it");
        let greedy = LeaseAsk {
            want: 50_000,
            ..ask
        };
        assert_eq!(size(&greedy, u32::MAX, 1), Some(MAX_UNITS));
        // The last units of a window go one request at a time.
        assert_eq!(size(&ask, 7, 1), None);
        assert_eq!(size(&ask, 8, 1), Some(2));
        // Never less than one request's cost: such a lease pays for nothing.
        assert_eq!(size(&ask, 39, 10), None);
        assert_eq!(size(&ask, 40, 10), Some(10));
    }

    #[test]
    fn the_deployment_bounds_what_an_isolate_asks_for() {
        let ask = LeaseAsk {
            want: 50,
            ttl_ms: 5_000,
        };
        assert_eq!(ask.within(1_000).map(|a| a.ttl_ms), Some(1_000));
        assert_eq!(ask.within(9_000).map(|a| a.ttl_ms), Some(5_000));
        assert_eq!(ask.within(0), None, "exact admission lends nothing");
    }

    #[test]
    fn lease_times_cross_the_wire_to_the_millisecond() {
        let lease = lend(5, 400, Timestamp::from_millis(1_795_478_174_872)).unwrap();
        let wire = serde_json::to_string(&lease).unwrap();
        assert_eq!(serde_json::from_str::<Lease>(&wire).unwrap(), lease);
        assert_eq!(lease.until, Timestamp::from_millis(1_795_478_175_272));
    }

    #[test]
    fn a_lease_ends_before_its_minute() {
        let until = |ttl, at| lend(5, ttl, Timestamp::from_millis(at)).map(|l| l.until.as_millis());
        assert_eq!(
            until(1_000, 59_000),
            Some(59_750),
            "a margin before the minute ends"
        );
        assert_eq!(until(1_000, 59_750), None, "no time left");
        assert_eq!(until(1_000, 60_000), Some(61_000));
        assert_eq!(until(600_000, 60_000), Some(85_000), "at most MAX_TTL_MS");
    }
}
