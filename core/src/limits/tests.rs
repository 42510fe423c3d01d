//! The all-or-nothing decision: minute/day windows as every key has
//! them, then named limits and rolling windows.

use super::*;
use proptest::prelude::*;
use std::num::NonZeroU32;

/// The generic decision over just `limits`, as every key without
/// named limits or rolling windows has it.
fn consume(l: &RateLimits, usage: &Usage, cost: u32, now: Timestamp) -> (Outcome, Usage) {
    super::consume(&LimitSet::fixed(*l), usage, &Charge::flat(cost), now)
}

fn peek(l: &RateLimits, usage: &Usage, now: Timestamp) -> Quota {
    super::peek(&LimitSet::fixed(*l), usage, now).unwrap()
}

fn limits(per_minute: u32, per_day: u32) -> RateLimits {
    RateLimits {
        per_minute: NonZeroU32::new(per_minute).unwrap(),
        per_day: NonZeroU32::new(per_day).unwrap(),
    }
}

/// 2026-11-23T23:58:30Z: close to both a minute and a day boundary.
const T0: Timestamp = Timestamp::from_secs(1_795_478_310);

/// `per_minute` (and 10,000 a day) and `named`, rolling or fixed.
fn rolling_or_fixed(per_minute: u32, rolling: bool, named: &[NamedLimit]) -> LimitSet<'_> {
    LimitSet {
        rate_limits: Some(limits(per_minute, 10_000)),
        window: if rolling {
            WindowKind::Rolling
        } else {
            WindowKind::Fixed
        },
        named,
    }
}

fn admitted(outcome: Outcome) -> Quota {
    match outcome {
        Outcome::Admitted(q) => q.unwrap(),
        Outcome::Limited { .. } => panic!("expected admission, got {outcome:?}"),
    }
}

#[test]
fn a_cost_above_every_window_is_refused_for_good() {
    assert_eq!(
        LimitSet::fixed(limits(5, 100)).admits(&Charge::flat(5)),
        Ok(())
    );
    assert_eq!(
        LimitSet::fixed(limits(5, 100)).admits(&Charge::flat(6)),
        Err(crate::error::Error::cost_exceeds_limit(6, 5))
    );
    assert_eq!(
        LimitSet::fixed(limits(50, 4)).admits(&Charge::flat(5)),
        Err(crate::error::Error::cost_exceeds_limit(5, 4))
    );
}

#[test]
fn admits_exactly_the_limit_then_refuses_until_the_next_minute() {
    let l = limits(3, 100);
    let mut usage = Usage::default();
    for expected_remaining in [2, 1, 0] {
        let (outcome, next) = consume(&l, &usage, 1, T0);
        let q = admitted(outcome);
        assert_eq!(q.remaining, expected_remaining);
        assert_eq!(q.limit, 3);
        assert_eq!(q.reset, Timestamp::from_secs(1_795_478_340));
        usage = next;
    }
    let (outcome, after) = consume(&l, &usage, 1, T0.plus_millis(29_999));
    assert_eq!(after, usage, "a refused request consumes nothing");
    match outcome {
        Outcome::Limited { quota, retry_at } => {
            assert_eq!(quota.remaining, 0);
            assert_eq!(retry_at, Timestamp::from_secs(1_795_478_340));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // One millisecond into the next minute the window is fresh.
    let (outcome, _) = consume(&l, &usage, 1, T0.plus_millis(30_000));
    assert_eq!(admitted(outcome).remaining, 2);
}

#[test]
fn day_window_resets_at_utc_midnight_not_24h_after_first_use() {
    let l = limits(100, 2);
    let (o1, u1) = consume(&l, &Usage::default(), 1, T0);
    assert_eq!(admitted(o1).remaining, 1);
    let (o2, u2) = consume(&l, &u1, 1, T0.plus_millis(1_000));
    let q = admitted(o2);
    assert_eq!(q.remaining, 0);
    let midnight = Timestamp::from_secs(1_795_478_400);
    assert_eq!(midnight.to_rfc3339(), "2026-11-24T00:00:00Z");
    assert_eq!(q.reset, midnight, "the day window binds: 0 left");
    let (o3, _) = consume(&l, &u2, 1, T0.plus_millis(60_000));
    match o3 {
        Outcome::Limited { quota, retry_at } => {
            assert_eq!(quota.limit, 2);
            assert_eq!(retry_at, midnight);
        }
        other => panic!("expected day refusal, got {other:?}"),
    }
    // 90 s after T0 is 00:00:00 the next day: both windows are fresh.
    let (o4, u4) = consume(&l, &u2, 1, T0.plus_millis(90_000));
    assert_eq!(admitted(o4).remaining, 1);
    assert_eq!(u4.day.count, 1);
}

#[test]
fn binding_window_is_the_one_with_fewest_left() {
    let l = limits(10, 1_000);
    let (o, _) = consume(&l, &Usage::default(), 1, T0);
    let q = admitted(o);
    assert_eq!((q.limit, q.remaining), (10, 9));
    let l = limits(10, 5);
    let (o, _) = consume(&l, &Usage::default(), 1, T0);
    assert_eq!(admitted(o).limit, 5);
}

#[test]
fn cost_counts_as_many_units_and_is_all_or_nothing() {
    let l = limits(10, 1_000);
    let (o, u) = consume(&l, &Usage::default(), 7, T0);
    assert_eq!(admitted(o).remaining, 3);
    let (o, u2) = consume(&l, &u, 4, T0);
    assert!(matches!(o, Outcome::Limited { .. }));
    assert_eq!(u2, u);
    let (o, _) = consume(&l, &u, 3, T0);
    assert_eq!(admitted(o).remaining, 0);
}

#[test]
fn peek_does_not_consume() {
    let l = limits(5, 50);
    let (_, u) = consume(&l, &Usage::default(), 2, T0);
    assert_eq!(peek(&l, &u, T0).remaining, 3);
    assert_eq!(peek(&l, &u, T0.plus_millis(60_000)).remaining, 5);
}

proptest! {
    /// However requests are spaced, no minute window ever admits more
    /// than its limit and no day window more than its quota.
    #[test]
    fn fuzz_limiter_never_over_admits(
        per_minute in 1u32..20,
        per_day in 1u32..60,
        gaps in proptest::collection::vec(0u64..20_000, 1..120),
    ) {
        let l = limits(per_minute, per_day);
        let mut usage = Usage::default();
        let mut now = T0;
        let mut per_min_seen = std::collections::HashMap::<u64, u32>::new();
        let mut per_day_seen = std::collections::HashMap::<u64, u32>::new();
        for gap in gaps {
            now = now.plus_millis(gap);
            let (outcome, next) = consume(&l, &usage, 1, now);
            if let Outcome::Admitted(q) = outcome {
                *per_min_seen.entry(now.as_millis() / 60_000).or_default() += 1;
                *per_day_seen.entry(now.as_millis() / 86_400_000).or_default() += 1;
                let q = q.unwrap();
                prop_assert!(q.remaining <= q.limit);
            } else {
                prop_assert_eq!(&next, &usage);
            }
            usage = next;
        }
        prop_assert!(per_min_seen.values().all(|&n| n <= per_minute));
        prop_assert!(per_day_seen.values().all(|&n| n <= per_day));
    }
}

use super::named::named;

#[test]
fn named_limits_are_all_or_nothing_and_the_refusal_names_the_limit() {
    let named = [named("burst", 3, 1), named("hourly", 5, 3_600)];
    let set = LimitSet {
        rate_limits: Some(limits(100, 1_000)),
        window: WindowKind::Fixed,
        named: &named,
    };
    let mut usage = Usage::default();
    for _ in 0..3 {
        let (o, next) = super::consume(&set, &usage, &Charge::flat(1), T0);
        admitted(o);
        usage = next;
    }
    // The burst limit is full for this second; nothing else is charged.
    let (o, after) = super::consume(&set, &usage, &Charge::flat(1), T0.plus_millis(500));
    assert_eq!(after, usage);
    match o {
        Outcome::Limited { quota, retry_at } => {
            assert_eq!(quota.policy.as_str(), "burst");
            assert_eq!(retry_at, Timestamp::from_secs(1_795_478_311));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Next second: 2 more fit the hourly limit, then it binds.
    let (o, usage) = super::consume(&set, &usage, &Charge::flat(2), T0.plus_millis(1_000));
    let q = admitted(o);
    assert_eq!((q.policy.as_str(), q.remaining), ("hourly", 0));
    let states = quotas(&set, &usage, T0.plus_millis(1_000));
    let names: Vec<&str> = states.iter().map(|q| q.policy.as_str()).collect();
    assert_eq!(names, ["minute", "day", "burst", "hourly"]);
    assert_eq!(states[0].remaining, 95);
    assert_eq!(states[1].remaining, 995);
}

#[test]
fn rolling_applies_to_windows_of_an_hour_or_less() {
    let named = [named("hour", 5, 3_600), named("week", 5, 7 * 86_400)];
    let set = LimitSet {
        rate_limits: Some(limits(10, 1_000)),
        window: WindowKind::Rolling,
        named: &named,
    };
    let rolling: Vec<(String, bool)> = set
        .policies()
        .map(|p| (p.name.to_string(), p.span.rolling))
        .collect();
    assert_eq!(
        rolling,
        [
            ("minute", true),
            ("day", false),
            ("hour", true),
            ("week", false)
        ]
        .map(|(n, r)| (n.to_owned(), r))
    );
    assert!(!set.is_plain());
    assert!(LimitSet::fixed(limits(1, 1)).is_plain());
}

proptest! {
    /// Over random arrivals and costs against a key with rolling windows
    /// and named limits: a request is charged in every limit or in none,
    /// and no limit's window (any span of its length, for a rolling one;
    /// each aligned window, for a fixed one) ever holds more than its limit.
    #[test]
    fn fuzz_named_and_rolling_never_over_admit(
        per_minute in 1u32..20,
        burst in 1u32..6,
        burst_secs in 1u32..5,
        hourly in 1u32..40,
        rolling in any::<bool>(),
        arrivals in proptest::collection::vec((0u64..6_000, 1u32..3), 1..150),
    ) {
        let named = [named("burst", burst, burst_secs), named("hourly", hourly, 3_600)];
        let set = rolling_or_fixed(per_minute, rolling, &named);
        let mut usage = Usage::default();
        let mut now = T0;
        let mut admitted_at: Vec<(u64, u32)> = Vec::new();
        for (gap, cost) in arrivals {
            now = now.plus_millis(gap);
            if set.admits(&Charge::flat(cost)).is_err() {
                continue;
            }
            let before = quotas(&set, &usage, now);
            let (outcome, next) = super::consume(&set, &usage, &Charge::flat(cost), now);
            let after = quotas(&set, &next, now);
            match outcome {
                Outcome::Admitted(_) => {
                    for (b, a) in before.iter().zip(&after) {
                        prop_assert_eq!(b.remaining - a.remaining, cost, "{} not charged", b.policy);
                    }
                    admitted_at.push((now.as_millis(), cost));
                }
                Outcome::Limited { retry_at, .. } => {
                    prop_assert_eq!(&next, &usage, "a refusal charged something");
                    prop_assert!(retry_at > now);
                }
            }
            usage = next;
        }
        for p in set.policies() {
            let len = p.span.length_ms;
            for &(t, _) in &admitted_at {
                let start = if p.span.rolling { t } else { t / len * len };
                let held: u32 = admitted_at
                    .iter()
                    .filter(|(u, _)| *u >= start && *u < start + len)
                    .map(|(_, c)| c)
                    .sum();
                prop_assert!(held <= p.limit, "{}: {} in a window of limit {}", p.name, held, p.limit);
            }
        }
    }
}

#[test]
fn a_route_draws_only_on_the_named_limits_it_lists() {
    let named = [named("search", 10, 60), named("writes", 2, 60)];
    let set = LimitSet {
        rate_limits: Some(limits(100, 1_000)),
        window: WindowKind::Fixed,
        named: &named,
    };
    let draws = [Draw {
        limit: PolicyName::parse("search").unwrap(),
        cost: NonZeroU32::new(4).unwrap(),
    }];
    let search = Charge {
        cost: 1,
        draws: Some(&draws),
    };
    let (o, usage) = super::consume(&set, &Usage::default(), &search, T0);
    admitted(o);
    let left: Vec<u32> = quotas(&set, &usage, T0)
        .iter()
        .map(|q| q.remaining)
        .collect();
    assert_eq!(
        left,
        [99, 999, 6, 2],
        "minute and day at cost, search at 4, writes untouched"
    );
    let (o, usage) = super::consume(&set, &usage, &search, T0);
    admitted(o);
    match super::consume(&set, &usage, &search, T0).0 {
        Outcome::Limited { quota, .. } => assert_eq!(quota.policy.as_str(), "search"),
        other => panic!("{other:?}"),
    }
    // `{}`: no named limit at all.
    let none = Charge {
        cost: 1,
        draws: Some(&[]),
    };
    assert!(matches!(
        super::consume(&set, &usage, &none, T0).0,
        Outcome::Admitted(_)
    ));
    let too_much = [Draw {
        limit: PolicyName::parse("writes").unwrap(),
        cost: NonZeroU32::new(3).unwrap(),
    }];
    assert_eq!(
        set.admits(&Charge {
            cost: 1,
            draws: Some(&too_much)
        }),
        Err(crate::error::Error::cost_exceeds_limit(3, 2))
    );
}

proptest! {
    // Refused charges (about one case in thirty) are outside the property:
    // a million cases reject far more than proptest's default 1,024.
    #![proptest_config(ProptestConfig {
        max_global_rejects: 1 << 20,
        ..ProptestConfig::default()
    })]

    /// A refund at the time of the charge takes back exactly what the
    /// charge added, in every limit, fixed or rolling; a refund never
    /// touches another window's (or bucket's) counts.
    #[test]
    fn fuzz_refund_takes_back_exactly_the_charge(
        per_minute in 5u32..20,
        burst in 5u32..10,
        rolling in any::<bool>(),
        earlier in proptest::collection::vec((0u64..3_000, 1u32..3), 0..4),
        cost in 1u32..3,
    ) {
        let named = [named("burst", burst, 2), named("hourly", 1_000, 3_600)];
        let set = rolling_or_fixed(per_minute, rolling, &named);
        let mut usage = Usage::default();
        let mut now = T0;
        for (gap, c) in earlier {
            now = now.plus_millis(gap);
            usage = super::consume(&set, &usage, &Charge::flat(c), now).1;
        }
        let (outcome, charged) = super::consume(&set, &usage, &Charge::flat(cost), now);
        prop_assume!(matches!(outcome, Outcome::Admitted(_)));
        let back = refund(&set, &charged, &Charge::flat(cost), now);
        prop_assert_eq!(quotas(&set, &back, now), quotas(&set, &usage, now));
        // A bucket that is not the charge's is never touched.
        let fresh = Usage::default();
        let next_minute = Timestamp::from_millis((now.as_millis() / 60_000 + 1) * 60_000);
        let after = super::consume(&set, &fresh, &Charge::flat(1), next_minute).1;
        let untouched = refund(&set, &after, &Charge::flat(cost), now);
        prop_assert_eq!(
            quotas(&set, &untouched, next_minute)[0].remaining,
            quotas(&set, &after, next_minute)[0].remaining
        );
    }
}
