//! Test helpers shared by the state machine's tests and the lease tests:
//! a key's object holding a freshly issued key, and a request's facts.

use std::num::NonZeroU32;

use super::{Access, Command, KeyState, Reply};
use crate::hash::KeyHash;
use crate::lifecycle::request::{IssueContext, NewKey};
use crate::limits::{RateLimits, Tiers};
use crate::policy::actor::Actor;
use crate::policy::route::Requirement;
use crate::time::Timestamp;

/// The object of a key issued at `now` from the create body `json` (by the
/// admin token), and the hash that opens it.
pub fn issued(json: &str, now: Timestamp) -> (KeyState, KeyHash) {
    let envs = vec!["live".parse().unwrap()];
    let ctx = IssueContext {
        environments: &envs,
        default_limits: RateLimits::DEFAULT,
        now,
        actor: &Actor::AdminToken,
        tiers: &Tiers::default(),
        shards: crate::registry::shard::ShardCount::ONE,
    };
    let new: NewKey = serde_json::from_str(json).unwrap();
    let credits = new.credits;
    let (record, key) = new.issue(&ctx).unwrap();
    let mut state = KeyState::default();
    let (reply, writes) = state.apply(Command::Create { record, credits }, now);
    assert!(matches!(reply, Ok(Reply::Key { .. })));
    assert!(writes.record);
    (state, KeyHash::of(&key))
}

/// A read that needs no permission, costs `cost` and counts if admitted.
pub fn read_costing(cost: u32) -> Access {
    Access {
        requirement: Ok(Requirement {
            permission: None,
            cost: NonZeroU32::new(cost).unwrap(),
            draws: None,
        }),
        read_only: true,
        client_ip: None,
        consume: true,
        country: None,
    }
}
