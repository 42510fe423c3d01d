//! The owner's state machine, and the two-object decision (key's object,
//! then owner's) driven with a fixed clock, lost messages included.

use crate::error::ErrorKind;
use proptest::prelude::*;

use super::*;
use crate::admission::lease::LeaseAsk;
use crate::keystate::testing::{issued, read_costing};
use crate::keystate::{Command, KeyState, Reply};
use crate::policy::actor::Bounds;

const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

fn admin(action: OwnerAction) -> OwnerCommand {
    OwnerCommand::Admin {
        actor: Actor::AdminToken,
        owner_id: "acme".to_owned(),
        action,
    }
}

fn put(body: &str) -> OwnerCommand {
    admin(OwnerAction::Put {
        body: body.to_owned(),
    })
}

fn owner_with(body: &str) -> OwnerState {
    let mut state = OwnerState::default();
    let (reply, writes) = state.apply(put(body), NOW);
    assert!(matches!(reply, Ok(OwnerReply::Owner { .. })), "{reply:?}");
    assert!(writes.owner && writes.activity);
    state
}

fn spend(cost: u32) -> OwnerCommand {
    OwnerCommand::Charge {
        charge: OwnerCharge {
            cost,
            draws: None,
            consume: true,
            lease: 0,
        },
    }
}

fn field(reply: Result<OwnerReply, Error>) -> String {
    match reply.map_err(Error::into_detail) {
        Err(Detail::Field { field, .. }) => field,
        other => panic!("expected 422, got {other:?}"),
    }
}

#[test]
fn an_owner_without_limits_is_unbound_and_counts_nothing() {
    let mut state = OwnerState::default();
    let (reply, writes) = state.apply(spend(1), NOW);
    assert_eq!(reply, Ok(OwnerReply::Unbound));
    assert_eq!(writes, OwnerWrites::default());
    assert_eq!(
        state.apply(admin(OwnerAction::Get), NOW).0,
        Err(Error::NOT_FOUND)
    );
    assert_eq!(
        state.apply(admin(OwnerAction::Delete), NOW).0,
        Err(Error::NOT_FOUND)
    );
}

#[test]
fn bad_bodies_are_422_naming_the_field_and_change_nothing() {
    let mut state = owner_with(r#"{"rate_limits":{"per_minute":5,"per_day":100}}"#);
    let before = state.clone();
    for (body, expected) in [
        ("{}", "rate_limits"),
        (
            r#"{"rate_limits":{"per_minute":0,"per_day":1}}"#,
            "rate_limits.per_minute",
        ),
        (r#"{"rate_limits":{"per_minute":1}}"#, "rate_limits.per_day"),
        (
            r#"{"window":"sliding","credits":{"remaining":1}}"#,
            "window",
        ),
        (
            r#"{"limits":[{"name":"burst","limit":1,"window_seconds":0}]}"#,
            "limits[0].window_seconds",
        ),
        (
            r#"{"limits":[{"name":"minute","limit":1,"window_seconds":60}]}"#,
            "limits[0].name",
        ),
        (
            r#"{"credits":{"remaining":1,"refill":{"amount":1,"interval":"daily","day_of_month":3}}}"#,
            "credits.refill.day_of_month",
        ),
        (
            r#"{"credits":{"remaining":9007199254740992}}"#,
            "credits.remaining",
        ),
        (r#"{"per_minute":5}"#, "per_minute"),
    ] {
        let (reply, writes) = state.apply(put(body), NOW);
        assert_eq!(field(reply), expected, "{body}");
        assert_eq!(writes, OwnerWrites::default());
        assert_eq!(state, before);
    }
}

#[test]
fn the_owner_limit_binds_across_charges_and_a_refusal_counts_nothing() {
    let mut state = owner_with(r#"{"rate_limits":{"per_minute":3,"per_day":100}}"#);
    for left in [2, 1, 0] {
        match state.apply(spend(1), NOW).0 {
            Ok(OwnerReply::Charged { quotas, .. }) => {
                assert_eq!(quotas[0].remaining, left);
                assert_eq!(quotas[0].holder, Holder::Owner);
                assert_eq!(quotas[0].label(), "owner.minute");
            }
            other => panic!("{other:?}"),
        }
    }
    let before = state.clone();
    let (reply, writes) = state.apply(spend(1), NOW);
    match reply.map_err(Error::into_detail) {
        Err(Detail::RateLimit { quota, quotas, .. }) => {
            assert_eq!(quota.label(), "owner.minute");
            assert_eq!(quotas.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(writes, OwnerWrites::default());
    assert_eq!(state, before);
    // The next minute has room again.
    assert!(matches!(
        state.apply(spend(1), NOW.plus_millis(60_000)).0,
        Ok(OwnerReply::Charged { .. })
    ));
}

#[test]
fn owner_credits_run_out_as_the_owners() {
    let mut state = owner_with(r#"{"credits":{"remaining":2}}"#);
    assert!(matches!(
        state.apply(spend(2), NOW).0,
        Ok(OwnerReply::Charged { quotas, credits: Some(c), .. }) if quotas.is_empty() && c.remaining == 0
    ));
    let (reply, _) = state.apply(spend(1), NOW);
    assert_eq!(reply, Err(Error::credits_exhausted(None, Holder::Owner)));
    assert_eq!(
        reply.unwrap_err().message(),
        "This API key's owner has no credits left."
    );
}

#[test]
fn reporting_only_never_counts() {
    let mut state = owner_with(r#"{"rate_limits":{"per_minute":1,"per_day":1}}"#);
    let peek = OwnerCommand::Charge {
        charge: OwnerCharge {
            cost: 1,
            draws: None,
            consume: false,
            lease: 0,
        },
    };
    for _ in 0..3 {
        let (reply, writes) = state.apply(peek.clone(), NOW);
        assert!(matches!(reply, Ok(OwnerReply::Charged { .. })));
        assert!(!writes.activity);
    }
    assert!(matches!(
        state.apply(spend(1), NOW).0,
        Ok(OwnerReply::Charged { .. })
    ));
}

#[test]
fn put_keeps_the_counters_and_delete_unbinds() {
    let mut state = owner_with(r#"{"rate_limits":{"per_minute":3,"per_day":100}}"#);
    assert!(state.apply(spend(2), NOW).0.is_ok());
    let (reply, _) = state.apply(
        put(r#"{"rate_limits":{"per_minute":2,"per_day":100}}"#),
        NOW,
    );
    let Ok(OwnerReply::Owner { owner }) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(owner["usage"][0]["remaining"], 0);
    assert_eq!(owner["usage"][0]["policy"], "owner.minute");
    assert!(state.apply(spend(1), NOW).0.is_err());
    let (reply, writes) = state.apply(admin(OwnerAction::Delete), NOW);
    assert_eq!(reply, Ok(OwnerReply::Deleted));
    assert!(writes.cleared);
    assert_eq!(state.apply(spend(1), NOW).0, Ok(OwnerReply::Unbound));
}

#[test]
fn only_the_admin_token_changes_owner_limits() {
    let mut state = owner_with(r#"{"rate_limits":{"per_minute":3,"per_day":100}}"#);
    let key_actor = |owner: Option<&str>| Actor::Key {
        id: issued(r#"{"name":"a","environment":"live"}"#, NOW)
            .0
            .record
            .unwrap()
            .id,
        bounds: Box::new(Bounds {
            grants: serde_json::from_str(r#"{"scopes":["admin"]}"#).unwrap(),
            environment: "live".parse().unwrap(),
            owner_id: owner.map(str::to_owned),
            rate_limits: crate::limits::RateLimits::DEFAULT,
            window: Default::default(),
            limits: Vec::new(),
            credits: None,
            expires_at: None,
            allowed_ips: Vec::new(),
        }),
    };
    let before = state.clone();
    let as_key = |owner, action| OwnerCommand::Admin {
        actor: key_actor(owner),
        owner_id: "acme".to_owned(),
        action,
    };
    for owner in [None, Some("acme"), Some("globex")] {
        for action in [
            OwnerAction::Put {
                body: r#"{"credits":{"remaining":1}}"#.to_owned(),
            },
            OwnerAction::Delete,
        ] {
            let (reply, _) = state.apply(as_key(owner, action), NOW);
            assert!(
                matches!(reply, Err(ref e) if e.kind() == ErrorKind::InsufficientPermissions),
                "{reply:?}"
            );
            assert_eq!(state, before);
        }
    }
    assert!(state.apply(as_key(None, OwnerAction::Get), NOW).0.is_ok());
    assert!(state
        .apply(as_key(Some("acme"), OwnerAction::Get), NOW)
        .0
        .is_ok());
    assert!(matches!(
        state.apply(as_key(Some("globex"), OwnerAction::Get), NOW).0,
        Err(e) if e.kind() == ErrorKind::InsufficientPermissions
    ));
}

/// What happens to the charge a key's object sends its owner.
#[derive(Clone, Copy, Debug)]
enum Delivery {
    /// Delivered and answered.
    Answered,
    /// Never reached the owner.
    Lost,
    /// The owner decided, and its answer was lost.
    AnswerLost,
}

fn delivery() -> impl Strategy<Value = Delivery> {
    prop_oneof![
        8 => Just(Delivery::Answered),
        1 => Just(Delivery::Lost),
        1 => Just(Delivery::AnswerLost),
    ]
}

/// What becomes of a lease's unused units.
#[derive(Clone, Copy, Debug)]
enum Fate {
    /// Handed back to the key's object, which hands the owner's share on.
    Returned,
    /// Handed back to the key's object; its message to the owner is lost.
    OwnerShareLost,
    /// Never handed back (the isolate died).
    Lost,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        6 => Just(Fate::Returned),
        1 => Just(Fate::OwnerShareLost),
        1 => Just(Fate::Lost),
    ]
}

/// One key's object, counting what it admitted and what it lost.
struct Key {
    state: KeyState,
    hash: crate::hash::KeyHash,
    limit: u32,
    admitted: u32,
    /// Lease units never handed back to it.
    lost: u32,
}

fn used(usage: &crate::limits::Usage) -> u32 {
    usage.minute.count
}

/// Units admitted across the owner's keys, and units the owner counted
/// that no request used: charges whose answer was lost, lease units not
/// handed back to it.
#[derive(Default)]
struct Tally {
    admitted: u32,
    lost: u32,
}

/// The owner's answer to one waiting request reaches its key's object;
/// then the isolate spends what it was lent and hands back the rest.
fn settle(
    owner: &mut OwnerState,
    keys: &mut [Key],
    (k, cost, granted, delivery, spend_pct, fate): (usize, u32, Reply, Delivery, u32, Fate),
    now: Timestamp,
    tally: &mut Tally,
) {
    let access = read_costing(cost);
    let charge = OwnerCommand::Charge {
        charge: access.owner_charge(&granted),
    };
    let answer = match delivery {
        Delivery::Lost => Err(Error::UNAVAILABLE),
        Delivery::Answered => owner.apply(charge, now).0,
        Delivery::AnswerLost => {
            if let Ok(OwnerReply::Charged { lent, .. }) = owner.apply(charge, now).0 {
                tally.lost += cost + lent;
            }
            Err(Error::UNAVAILABLE)
        }
    };
    let key = &mut keys[k];
    let (reply, _) = key.state.settle(granted, answer, &access, now, now);
    let Ok(Reply::Granted {
        quotas,
        lease,
        version,
        ..
    }) = reply
    else {
        return;
    };
    assert!(quotas.iter().any(|q| q.holder == Holder::Owner));
    key.admitted += cost;
    tally.admitted += cost;
    let Some(lease) = lease else {
        return;
    };
    assert!(
        lease.owner,
        "a lease of an owner-bound key is backed by the owner"
    );
    let spent = lease.units * spend_pct / 100;
    key.admitted += spent;
    tally.admitted += spent;
    let unused = lease.units - spent;
    let returned = crate::admission::lease::LeaseReturn {
        version,
        granted_at: lease.granted_at,
        unused,
        last_used: None,
        owner: true,
        outcomes: Default::default(),
        countries: Default::default(),
    };
    match fate {
        Fate::Lost => {
            key.lost += unused;
            tally.lost += unused;
        }
        Fate::OwnerShareLost => {
            assert!(key.state.apply(Command::Return { returned }, now).0.is_ok());
            tally.lost += unused;
        }
        Fate::Returned => {
            assert!(key.state.apply(Command::Return { returned }, now).0.is_ok());
            let back = OwnerCommand::Return {
                unused,
                granted_at: lease.granted_at,
            };
            assert_eq!(owner.apply(back, now).0, Ok(OwnerReply::Returned));
        }
    }
}

proptest! {
    /// Requests on several keys of one owner, each decided by its key's
    /// object and then charged to the owner while other requests
    /// interleave (a key's object awaits the owner's answer), with leases
    /// the owner backs, and lost messages and returns. Within the window:
    /// no key and no owner limit is ever exceeded, counting every unit an
    /// isolate spent from a lease; a key's counters hold exactly what it
    /// admitted plus lease units never handed back (a refused request
    /// counts in neither); the owner's hold what was admitted plus the
    /// units no request used — charges whose answer was lost, lease units
    /// not handed back (the stated bound: under-admission, never over).
    #[test]
    fn fuzz_owner_and_key_limits_decide_together(
        key_limits in proptest::collection::vec(1u32..40, 1..4),
        owner_limit in 1u32..60,
        owner_credits in proptest::option::of(1u64..12),
        steps in proptest::collection::vec(
            (0usize..4, 1u32..3, any::<bool>(), delivery(), proptest::option::of(1u32..20), 0u32..=100, fate()),
            1..80,
        ),
    ) {
        let credits = owner_credits.map_or(String::new(), |c| format!(r#","credits":{{"remaining":{c}}}"#));
        let mut owner = owner_with(&format!(
            r#"{{"rate_limits":{{"per_minute":{owner_limit},"per_day":1000}}{credits}}}"#
        ));
        let mut keys: Vec<Key> = key_limits
            .iter()
            .map(|&limit| {
                let (state, hash) = issued(
                    &format!(r#"{{"name":"k","environment":"live","owner_id":"acme","rate_limits":{{"per_minute":{limit},"per_day":1000}}}}"#),
                    NOW,
                );
                Key { state, hash, limit, admitted: 0, lost: 0 }
            })
            .collect();
        // Admitted by a key's object, waiting for the owner's answer.
        let mut pending = Vec::new();
        let mut tally = Tally::default();
        for (i, &(k, cost, settle_now, delivery, want, spend_pct, fate)) in steps.iter().enumerate() {
            let now = NOW.plus_millis(i as u64);
            let k = k % keys.len();
            let key = &mut keys[k];
            let command = Command::Authorize {
                hash: key.hash.clone(),
                access: read_costing(cost),
                verifier: None,
                known: None,
                lease: want.map(|want| LeaseAsk { want, ttl_ms: 1_000 }),
            };
            if let (Ok(granted @ Reply::Granted { .. }), _) = key.state.apply(command, now) {
                pending.push((k, cost, granted, delivery, spend_pct, fate));
            }
            // Settle one waiting request, the newest: others stay pending
            // across later decisions, as when the owner's answer is slow.
            if settle_now {
                if let Some(waiting) = pending.pop() {
                    settle(&mut owner, &mut keys, waiting, now, &mut tally);
                }
            }
        }
        // Every request still waiting gets its answer.
        while let Some(waiting) = pending.pop() {
            settle(&mut owner, &mut keys, waiting, NOW.plus_millis(100), &mut tally);
        }
        for key in &keys {
            prop_assert!(key.admitted <= key.limit);
            prop_assert_eq!(used(&key.state.activity.usage), key.admitted + key.lost);
        }
        prop_assert!(tally.admitted <= owner_limit);
        prop_assert_eq!(used(&owner.activity.usage), tally.admitted + tally.lost);
        if let Some(c) = owner_credits {
            let left = owner.activity.credits.unwrap().credits.remaining;
            prop_assert_eq!(left, c - u64::from(tally.admitted + tally.lost));
        }
    }
}
