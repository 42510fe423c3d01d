//! Edge admission: how an isolate admits a hot key's requests without a
//! call to the key's Durable Object, and still never admits more than the
//! key's limits.
//!
//! The object may answer an authorize with a [`lease::Lease`]: units it has
//! already counted in every window, valid for at most `LEASE_TTL_MS` and
//! never past the end of the minute. The isolate spends them on later
//! requests with the same key, judged by the same checks the object runs
//! ([`crate::keystate::screen`]) against a snapshot of the record, and
//! hands back what it did not spend. Over-admission is impossible because
//! every unit is counted before it is spent; what can go wrong is only
//! under-admission (units lent and never returned), bounded by the lease
//! sizes ([`lease::size`]).
//!
//! # Layout
//!
//! - [`lease`]: what an object lends and takes back, and how much it lends.
//! - [`table`]: an isolate's record snapshots, leases and demand, and the
//!   local judgement.
//! - `sim` (tests only): many isolates against one object on a fake clock.

pub mod lease;
pub mod table;

#[cfg(test)]
mod sim;

use serde::{Deserialize, Serialize};

/// How a key's requests are admitted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Admission {
    /// Hot keys may be leased: edits and revocation take effect within
    /// `LEASE_TTL_MS`; others behave as `Exact`.
    #[default]
    Leased,
    /// Every request asks the key's object: edits and revocation take
    /// effect on the next request.
    Exact,
}
