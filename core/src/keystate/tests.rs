//! The per-key state machine, driven command by command with a fixed clock.

use super::*;
use crate::admission::lease::LeaseAsk;
use crate::error::ErrorKind;
use crate::key::ApiKey;
use crate::key::KeyId;
use crate::lifecycle::record::Secret;
use crate::limits::{RateLimits, Tiers};
use crate::policy::route::Requirement;
use crate::policy::route::RouteTable;

const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

fn issued(json: &str) -> (KeyState, KeyHash) {
    super::testing::issued(json, NOW)
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
        country: None,
    }
}

/// A plain authorize: no verifier, no snapshot held, no lease asked.
fn authorizing(hash: KeyHash, access: Access) -> Command {
    Command::Authorize {
        hash,
        access,
        verifier: None,
        known: None,
        lease: None,
    }
}

fn authorize(state: &mut KeyState, hash: &KeyHash, now: Timestamp) -> Result<Reply, Error> {
    state.apply(authorizing(hash.clone(), open(true)), now).0
}

#[test]
fn create_twice_is_refused() {
    let (mut state, _) = issued(r#"{"name":"a","environment":"live"}"#);
    let again = state.record.clone().unwrap();
    let before = state.clone();
    let (reply, writes) = state.apply(
        Command::Create {
            record: again,
            credits: None,
        },
        NOW,
    );
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
            Ok(Reply::Granted { quotas, .. }) => assert_eq!(
                crate::limits::binding(&quotas).unwrap().remaining,
                remaining
            ),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(state.activity.last_used, Some(NOW));
    let before = state.clone();
    assert!(matches!(
        authorize(&mut state, &hash, NOW),
        Err(e) if e.kind() == ErrorKind::RateLimited
    ));
    let mut unchanged = state.clone();
    unchanged.activity.traffic = before.activity.traffic.clone();
    unchanged.activity.alerts = before.activity.alerts.clone();
    unchanged.raised = before.raised.clone();
    assert_eq!(
        unchanged, before,
        "a refusal changes nothing but its usage count and alerts"
    );
    let counted = &state.activity.traffic.counts;
    assert_eq!(counted[&crate::analytics::Outcome::RateLimited].count, 1);
    assert_eq!(counted[&crate::analytics::Outcome::Valid].count, 2);
}

#[test]
fn decisions_raise_usage_alerts_once_per_window() {
    let (mut state, hash) =
        issued(r#"{"name":"a","environment":"live","rate_limits":{"per_minute":100,"per_day":5}}"#);
    let alerts = |state: &mut KeyState| -> Vec<String> {
        state
            .take_raised()
            .iter()
            .map(|a| serde_json::to_value(a).unwrap().to_string())
            .collect()
    };
    for _ in 0..3 {
        authorize(&mut state, &hash, NOW).unwrap();
    }
    assert!(alerts(&mut state).is_empty());
    authorize(&mut state, &hash, NOW).unwrap();
    assert_eq!(
        alerts(&mut state),
        [r#"{"usage_threshold":{"limit":"day","of":5,"percent":80,"used":4}}"#]
    );
    authorize(&mut state, &hash, NOW).unwrap();
    assert_eq!(alerts(&mut state).len(), 1, "100% of the day");
    for _ in 0..3 {
        assert!(authorize(&mut state, &hash, NOW).is_err());
    }
    let refused = alerts(&mut state);
    assert_eq!(refused.len(), 1, "the first refusal only: {refused:?}");
    assert!(refused[0].contains(r#"{"rate_limited":{"limit":"day""#));
    // Stored with the activity: a reloaded object does not alert again.
    let stored: Activity =
        serde_json::from_str(&serde_json::to_string(&state.activity).unwrap()).unwrap();
    assert_eq!(stored.alerts, state.activity.alerts);
}

#[test]
fn inspect_consumes_nothing() {
    let (mut state, hash) = issued(r#"{"name":"a","environment":"live"}"#);
    let (reply, writes) = state.apply(authorizing(hash, open(false)), NOW);
    match reply {
        Ok(Reply::Granted { quotas, .. }) => {
            assert_eq!(crate::limits::binding(&quotas).unwrap().remaining, 60)
        }
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
    assert_eq!(authorize(&mut state, &hash, NOW), Err(Error::KEY_REVOKED));
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
    assert_eq!(authorize(&mut state, &hash, at), Err(Error::KEY_EXPIRED));
}

#[test]
fn unknown_ids_are_not_found() {
    let mut empty = KeyState::default();
    assert_eq!(
        empty.apply(as_admin(KeyAction::Get), NOW).0,
        Err(Error::NOT_FOUND)
    );
    assert_eq!(
        empty
            .apply(as_admin(KeyAction::Revoke { reason: None }), NOW)
            .0,
        Err(Error::NOT_FOUND)
    );
}

fn access(table: &RouteTable, method: &str, path: &str, ip: Option<&str>) -> Access {
    Access {
        requirement: table.resolve(method, path),
        read_only: matches!(method, "GET" | "HEAD" | "OPTIONS"),
        client_ip: ip.map(|i| i.parse().unwrap()),
        consume: true,
        country: None,
    }
}

fn decide(state: &mut KeyState, hash: &KeyHash, a: Access) -> Result<Reply, Error> {
    state.apply(authorizing(hash.clone(), a), NOW).0
}

fn code(r: Result<Reply, Error>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

#[test]
fn policy_checks_refuse_without_counting() {
    let table = RouteTable::parse(include_str!("../../../examples/routes-rest.json")).unwrap();
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
        Activity {
            traffic: Default::default(),
            ..state.activity.clone()
        },
        Activity::default(),
        "refusals must not count against any limit"
    );
    assert!(
        state
            .activity
            .traffic
            .counts
            .keys()
            .all(|o| *o != crate::analytics::Outcome::Valid),
        "refusals are counted as what they are"
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
    let table = RouteTable::parse(include_str!("../../../examples/routes-rest.json")).unwrap();
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
    let table = RouteTable::parse(include_str!("../../../examples/routes-rest.json")).unwrap();
    let (mut state, hash) =
        issued(r#"{"name":"a","environment":"live","rate_limits":{"per_minute":7}}"#);
    match decide(&mut state, &hash, access(&table, "POST", "/v1/scans", None)) {
        Ok(Reply::Granted { quotas, .. }) => {
            assert_eq!(crate::limits::binding(&quotas).unwrap().remaining, 2)
        }
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
    let table = RouteTable::parse(include_str!("../../../examples/routes-rest.json")).unwrap();
    let (mut state, hash) =
        issued(r#"{"name":"a","environment":"live","type":"restricted","scopes":["orders:read"]}"#);
    assert_eq!(
        code(decide(
            &mut state,
            &hash,
            access(&table, "POST", "/v1/orders", None)
        )),
        "insufficient_permissions"
    );
    let patch = String::from(r#"{"scopes":["orders:*"]}"#);
    let (r, w) = state.apply(
        as_admin(KeyAction::Update {
            patch,
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
        let patch = String::from(body);
        let (r, w) = state.apply(
            as_admin(KeyAction::Update {
                patch,
                tiers: Tiers::default(),
            }),
            NOW,
        );
        assert_eq!(code(r), "invalid_request", "{body}");
        assert_eq!(w, Writes::default());
    }
    assert_eq!(state, before, "a refused edit changes nothing");

    let limited_admin = Actor::Key {
        id: KeyId::generate(crate::registry::shard::ShardCount::ONE).unwrap(),
        bounds: serde_json::from_value(serde_json::json!({
            "grants": {"scopes": ["admin", "orders:read"]}, "environment": "live", "owner_id": null,
            "rate_limits": RateLimits::DEFAULT, "expires_at": null, "allowed_ips": []
        }))
        .unwrap(),
    };
    let patch = String::from(r#"{"scopes":["orders:write"]}"#);
    let (r, _) = state.apply(
        Command::Admin {
            actor: limited_admin,
            action: KeyAction::Update {
                patch,
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
    let patch = String::from(r#"{"name":"b"}"#);
    let (r, _) = state.apply(
        as_admin(KeyAction::Update {
            patch,
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
        Ok(Reply::Granted { quotas, .. }) => {
            assert_eq!(
                crate::limits::binding(&quotas).unwrap().remaining,
                1,
                "counters are shared"
            )
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
    assert_eq!(r, Err(Error::KEY_REVOKED));
}

#[test]
fn a_record_that_no_longer_decodes_is_reported_and_stays_revocable() {
    let (state, hash) = issued(r#"{"name":"a","environment":"live"}"#);
    // As an older version could store it: a time past year 9999.
    let mut stored = serde_json::to_value(state.record.as_ref().unwrap()).unwrap();
    stored["secrets"][0]["expires_at"] = "10000-01-01T00:00:00Z".into();
    let stored = stored.to_string();
    assert!(serde_json::from_str::<KeyRecord>(&stored).is_err());
    let mut damaged = KeyState {
        record: crate::lifecycle::record::salvage(&stored),
        damaged: true,
        ..KeyState::default()
    };
    let before = damaged.clone();
    for command in [
        authorizing(hash.clone(), open(true)),
        as_admin(KeyAction::Get),
    ] {
        assert_eq!(damaged.apply(command, NOW).0, Err(Error::RECORD_UNREADABLE));
    }
    assert_eq!(damaged, before, "nothing changes on a damaged record");
    let (reply, writes) = damaged.apply(as_admin(KeyAction::Revoke { reason: None }), NOW);
    match reply {
        Ok(Reply::Revoked { hashes, .. }) => assert_eq!(hashes, vec![hash.clone()]),
        other => panic!("{other:?}"),
    }
    assert!(writes.record && !damaged.damaged);
    let written = serde_json::to_string(damaged.record.as_ref().unwrap()).unwrap();
    let read: KeyRecord = serde_json::from_str(&written).expect("the revoked record reads back");
    assert!(read.revoked_at.is_some());
    assert_eq!(authorize(&mut damaged, &hash, NOW), Err(Error::KEY_REVOKED));
}

/// The answer to the second request of a key issued from `json` (with a
/// limit of one per minute), after the first was granted.
fn over_its_limit(json: &str) -> Result<Reply, Error> {
    let (mut state, hash) = issued(json);
    assert!(matches!(
        authorize(&mut state, &hash, NOW),
        Ok(Reply::Granted { .. })
    ));
    authorize(&mut state, &hash, NOW)
}

#[test]
fn an_owned_keys_refusal_names_its_owner_for_the_count() {
    let json =
        r#"{"name":"a","environment":"live","owner_id":"acme","rate_limits":{"per_minute":1}}"#;
    match over_its_limit(json) {
        Ok(Reply::Refused {
            error,
            allowed_origins,
            owner,
        }) => {
            assert_eq!(error.kind(), ErrorKind::RateLimited);
            assert!(allowed_origins.is_empty());
            assert_eq!(owner.as_deref(), Some("acme"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_browser_key_is_refused_with_its_origins_by_the_limit_too() {
    let json = r#"{"name":"a","environment":"live","type":"publishable",
            "allowed_origins":["https://app.example.com"],"rate_limits":{"per_minute":1}}"#;
    match over_its_limit(json) {
        Ok(Reply::Refused {
            error,
            allowed_origins,
            ..
        }) if error.kind() == ErrorKind::RateLimited => assert_eq!(allowed_origins.len(), 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn exact_keys_and_admin_keys_are_never_lent_units() {
    let ask = Some(LeaseAsk {
        want: 100,
        ttl_ms: 1_000,
    });
    let lent = |json: &str| {
        let (mut state, hash) = issued(json);
        let command = Command::Authorize {
            hash,
            access: open(true),
            verifier: None,
            known: None,
            lease: ask,
        };
        match state.apply(command, NOW).0 {
            Ok(Reply::Granted { lease, .. }) => lease.map(|l| l.units),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        lent(r#"{"name":"a","environment":"live"}"#),
        Some(14),
        "a quarter of 59 left"
    );
    assert_eq!(
        lent(r#"{"name":"a","environment":"live","admission":"exact"}"#),
        None
    );
    assert_eq!(
        lent(r#"{"name":"a","environment":"live","scopes":["admin"]}"#),
        None
    );
}

fn credits_action(op: CreditOp, amount: u64, key: Option<&str>) -> Command {
    as_admin(KeyAction::Credits {
        op,
        amount,
        idempotency_key: key.map(str::to_owned),
    })
}

fn remaining(reply: Result<Reply, Error>) -> u64 {
    match reply {
        Ok(Reply::Granted {
            credits: Some(c), ..
        }) => c.remaining,
        Ok(Reply::Key { key }) => key.credits.expect("credits").remaining,
        other => panic!("{other:?}"),
    }
}

#[test]
fn credits_are_spent_all_or_nothing_with_the_limits() {
    let (mut state, hash) = issued(
        r#"{"name":"c","environment":"live","rate_limits":{"per_minute":3,"per_day":100},
            "credits":{"remaining":5}}"#,
    );
    for left in [4, 3, 2] {
        assert_eq!(remaining(authorize(&mut state, &hash, NOW)), left);
    }
    // The minute is full: refused, and no credit spent.
    assert!(matches!(
        authorize(&mut state, &hash, NOW),
        Err(e) if e.kind() == ErrorKind::RateLimited
    ));
    let whoami = state.apply(authorizing(hash.clone(), open(false)), NOW).0;
    assert_eq!(remaining(whoami), 2);
    let later = NOW.plus_millis(60_000);
    assert_eq!(remaining(authorize(&mut state, &hash, later)), 1);
    assert_eq!(remaining(authorize(&mut state, &hash, later)), 0);
    // Out of credits: refused with no retry time (no refill), nothing counted.
    let usage = state.activity.usage.clone();
    assert_eq!(
        authorize(&mut state, &hash, later),
        Err(Error::credits_exhausted(None, crate::limits::Holder::Key))
    );
    assert_eq!(state.activity.usage, usage);
}

#[test]
fn credit_changes_apply_once_per_idempotency_key() {
    let (mut state, _) = issued(r#"{"name":"c","environment":"live","credits":{"remaining":5}}"#);
    let (reply, writes) = state.apply(credits_action(CreditOp::Increment, 10, Some("k1")), NOW);
    assert_eq!(remaining(reply), 15);
    assert!(writes.activity && writes.idempotency && !writes.record);
    // The remembered key is stored apart: the activity every request
    // rewrites stays small.
    assert!(!serde_json::to_string(&state.activity)
        .unwrap()
        .contains("k1"));
    // The retry answers the same and changes nothing.
    let (reply, writes) = state.apply(credits_action(CreditOp::Increment, 10, Some("k1")), NOW);
    assert!(matches!(&reply, Ok(Reply::Replayed { key }) if key.credits.unwrap().remaining == 15));
    assert_eq!(writes, Writes::default());

    // The same key for another change is refused; a new key applies.
    let (reply, _) = state.apply(credits_action(CreditOp::Decrement, 10, Some("k1")), NOW);
    assert!(matches!(reply, Err(e) if e.field() == Some("Idempotency-Key")));
    assert_eq!(
        remaining(
            state
                .apply(credits_action(CreditOp::Decrement, 15, Some("k2")), NOW)
                .0
        ),
        0
    );
    // Below zero is refused and changes nothing.
    let (reply, _) = state.apply(credits_action(CreditOp::Decrement, 1, None), NOW);
    assert!(matches!(reply, Err(e) if e.field() == Some("amount")));
    assert_eq!(state.activity.credits.unwrap().credits.remaining, 0);
    // A day later the key is forgotten: the same key applies again.
    let day = NOW.plus_millis(IDEMPOTENCY_TTL_MS);
    assert_eq!(
        remaining(
            state
                .apply(credits_action(CreditOp::Increment, 10, Some("k1")), day)
                .0
        ),
        10
    );
}

#[test]
fn credits_on_a_key_without_them_are_refused_until_patched_in() {
    let (mut state, hash) = issued(r#"{"name":"c","environment":"live"}"#);
    let (reply, _) = state.apply(credits_action(CreditOp::Set, 3, None), NOW);
    assert!(matches!(reply, Err(e) if e.field() == Some("credits")));
    let patch = KeyAction::Update {
        patch: r#"{"credits":{"remaining":1,"refill":{"amount":1,"interval":"daily"}}}"#.into(),
        tiers: Tiers::default(),
    };
    let (reply, writes) = state.apply(as_admin(patch), NOW);
    assert_eq!(remaining(reply), 1);
    assert!(writes.activity && writes.record);
    assert_eq!(remaining(authorize(&mut state, &hash, NOW)), 0);
    let next_day = Timestamp::from_secs((1_800_000_000 / 86_400 + 1) * 86_400);
    assert_eq!(
        authorize(&mut state, &hash, NOW),
        Err(Error::credits_exhausted(
            Some(next_day),
            crate::limits::Holder::Key
        ))
    );
    assert_eq!(
        remaining(authorize(&mut state, &hash, next_day)),
        0,
        "refilled to 1, then spent"
    );
    let unmetered = KeyAction::Update {
        patch: r#"{"credits":null}"#.into(),
        tiers: Tiers::default(),
    };
    let (reply, _) = state.apply(as_admin(unmetered), NOW);
    assert!(matches!(reply, Ok(Reply::Key { key }) if key.credits.is_none()));
    assert!(state.activity.credits.is_none());
}

#[test]
fn the_binding_limit_is_one_the_route_draws_on() {
    use crate::limits::{named::named, Charge, Draw, PolicyName};
    let (mut state, hash) = issued(r#"{"name":"s","environment":"live"}"#);
    let mut record = state.record.clone().unwrap();
    record.limits = vec![named("search", 1, 60)];
    state.record = Some(record);
    authorize(&mut state, &hash, NOW).unwrap();
    let Ok(Reply::Granted { quotas, .. }) = state.apply(authorizing(hash, open(false)), NOW).0
    else {
        panic!("granted");
    };
    let grant = Grant::new(state.record.as_ref().unwrap(), quotas, None);
    assert_eq!(grant.quota().policy.as_str(), "search", "spent: 0 left");
    let none = Charge {
        cost: 1,
        draws: Some(&[]),
    };
    assert_eq!(grant.quota_for(&none).policy, PolicyName::MINUTE);
    let search = [Draw {
        limit: PolicyName::parse("search").unwrap(),
        cost: std::num::NonZeroU32::MIN,
    }];
    let drawing = Charge {
        cost: 1,
        draws: Some(&search),
    };
    assert_eq!(grant.quota_for(&drawing).policy.as_str(), "search");
}

#[test]
fn a_session_is_judged_like_the_secret_it_was_opened_with() {
    let (mut state, hash) = issued(
        r#"{"name":"ops","environment":"live","scopes":["admin"],"rate_limits":{"per_minute":2}}"#,
    );
    let needs_admin = Access {
        requirement: Ok(Requirement {
            permission: Some(crate::policy::permission::Permission::admin()),
            ..Requirement::OPEN
        }),
        ..open(true)
    };
    // The refusal, however it travels (with a browser key's origins or not).
    let resume = |state: &mut KeyState, secret: &KeyHash, at: Timestamp| {
        let command = Command::Resume {
            access: needs_admin.clone(),
            secret: secret.fingerprint(),
        };
        match state.apply(command, at).0 {
            Ok(Reply::Refused { error, .. }) | Err(error) => Err(error),
            Ok(reply) => Ok(reply),
        }
    };
    // Counted against the key's own limits, like its secret's calls.
    assert!(matches!(
        resume(&mut state, &hash, NOW),
        Ok(Reply::Granted { .. })
    ));
    assert!(matches!(
        resume(&mut state, &hash, NOW),
        Ok(Reply::Granted { .. })
    ));
    assert!(matches!(
        resume(&mut state, &hash, NOW),
        Err(e) if e.kind() == ErrorKind::RateLimited
    ));
    // Rotated: the old secret's session lasts as long as its grace, and
    // not a moment longer; a session of the new secret goes on.
    let (mut state, old) = issued(r#"{"name":"ops","environment":"live","scopes":["admin"]}"#);
    let new_key = ApiKey::generate(KeyType::Secret, "live".parse().unwrap()).unwrap();
    let rotate = KeyAction::Rotate {
        secret: Secret::of(&new_key),
        grace_secs: 30,
    };
    state.apply(as_admin(rotate), NOW).0.unwrap();
    let (during, after) = (NOW.plus_millis(29_000), NOW.plus_millis(30_000));
    assert!(matches!(
        resume(&mut state, &old, during),
        Ok(Reply::Granted { .. })
    ));
    assert_eq!(
        resume(&mut state, &old, after),
        Err(Error::invalid_api_key())
    );
    let new = KeyHash::of(&new_key);
    assert!(matches!(
        resume(&mut state, &new, after),
        Ok(Reply::Granted { .. })
    ));
    // Another key's secret opens no session of this one.
    let (_, stranger) = issued(r#"{"name":"x","environment":"live"}"#);
    assert_eq!(
        resume(&mut state, &stranger, NOW),
        Err(Error::invalid_api_key())
    );
    // Revoked, the session ends with the key.
    let (mut state, hash) = issued(r#"{"name":"ops","environment":"live","scopes":["admin"]}"#);
    state
        .apply(as_admin(KeyAction::Revoke { reason: None }), NOW)
        .0
        .unwrap();
    assert_eq!(resume(&mut state, &hash, NOW), Err(Error::KEY_REVOKED));
    // A key that no longer holds `admin` may not act through its session.
    let (mut state, hash) = issued(r#"{"name":"plain","environment":"live"}"#);
    assert!(matches!(
        resume(&mut state, &hash, NOW),
        Err(e) if e.kind() == ErrorKind::InsufficientPermissions
    ));
}
