//! Per-key rate limits: fixed per-minute and per-UTC-day windows, and the
//! pure `consume` step that the key's Durable Object runs between loading
//! and saving its counters. No clock, no storage: `now` is an argument.

use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// A key's limits. `NonZeroU32` makes a zero limit unrepresentable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Requests admitted per wall-clock minute.
    pub per_minute: NonZeroU32,
    /// Requests admitted per UTC day.
    pub per_day: NonZeroU32,
}

impl RateLimits {
    /// Built-in defaults when configuration says nothing: 60/min, 10,000/day.
    pub const DEFAULT: RateLimits = RateLimits {
        per_minute: NonZeroU32::new(60).unwrap(),
        per_day: NonZeroU32::new(10_000).unwrap(),
    };

    /// Refuses a cost no window could ever admit, so the caller is not
    /// told to wait for a reset that will not help.
    pub fn admits_cost(&self, cost: u32) -> Result<(), crate::error::Error> {
        let limit = self.per_minute.min(self.per_day).get();
        if cost > limit {
            Err(crate::error::Error::CostExceedsLimit { cost, limit })
        } else {
            Ok(())
        }
    }

    fn limit(&self, window: Window) -> u32 {
        match window {
            Window::Minute => self.per_minute.get(),
            Window::Day => self.per_day.get(),
        }
    }
}

/// Named limit presets ("tiers") from configuration: a key with a `tier`
/// gets its limits unless it overrides them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tiers(pub std::collections::BTreeMap<String, RateLimits>);

impl Default for Tiers {
    /// standard 100/min, premium 1,000/min, enterprise 10,000/min, each
    /// with a daily quota.
    fn default() -> Self {
        let preset = |m: u32, d: u32| RateLimits {
            per_minute: NonZeroU32::new(m).expect("nonzero"),
            per_day: NonZeroU32::new(d).expect("nonzero"),
        };
        Tiers(
            [
                ("standard".to_owned(), preset(100, 50_000)),
                ("premium".to_owned(), preset(1_000, 1_000_000)),
                ("enterprise".to_owned(), preset(10_000, 20_000_000)),
            ]
            .into(),
        )
    }
}

impl Tiers {
    /// The preset named `name`, or a 422 listing the names that exist.
    pub fn get(&self, name: &str) -> Result<RateLimits, crate::error::Error> {
        self.0.get(name).copied().ok_or_else(|| {
            let known: Vec<&str> = self.0.keys().map(String::as_str).collect();
            crate::error::Error::invalid("tier", format!("must be one of: {}", known.join(", ")))
        })
    }
}

/// A fixed window. Windows are aligned to the Unix epoch, so day windows
/// start at UTC midnight and every isolate agrees on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// 60 seconds starting on a whole minute.
    Minute,
    /// 24 hours starting at 00:00 UTC.
    Day,
}

impl Window {
    const ALL: [Window; 2] = [Window::Minute, Window::Day];

    fn length_ms(self) -> u64 {
        match self {
            Window::Minute => 60_000,
            Window::Day => 86_400_000,
        }
    }

    fn start_of(self, now: Timestamp) -> Timestamp {
        let len = self.length_ms();
        Timestamp::from_millis(now.as_millis() / len * len)
    }
}

/// Requests counted in one window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// Start of the window these counts belong to (Unix ms).
    pub start_ms: u64,
    /// Units consumed in that window.
    pub count: u32,
}

/// A key's counters: what its Durable Object persists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// The current (or last used) minute window.
    pub minute: Counter,
    /// The current (or last used) day window.
    pub day: Counter,
}

impl Usage {
    fn counter(&self, window: Window) -> Counter {
        match window {
            Window::Minute => self.minute,
            Window::Day => self.day,
        }
    }

    fn counter_mut(&mut self, window: Window) -> &mut Counter {
        match window {
            Window::Minute => &mut self.minute,
            Window::Day => &mut self.day,
        }
    }

    /// These counts with `units` more in every window current at `now`.
    pub fn plus(&self, units: u32, now: Timestamp) -> Usage {
        let mut next = *self;
        for w in Window::ALL {
            *next.counter_mut(w) = Counter {
                start_ms: w.start_of(now).as_millis(),
                count: self.used(w, now).saturating_add(units),
            };
        }
        next
    }

    /// Takes back up to `units` counted at `at` from every window that is
    /// still the one `at` fell in, but never more than `lent` (the units
    /// lent out in that window) holds; `lent` shrinks by the same amount.
    /// A window that has ended keeps its counts: its units are spent.
    pub fn credit(&mut self, lent: &mut Usage, units: u32, at: Timestamp) {
        for w in Window::ALL {
            let start_ms = w.start_of(at).as_millis();
            let (mine, theirs) = (self.counter_mut(w), lent.counter_mut(w));
            if mine.start_ms == start_ms && theirs.start_ms == start_ms {
                let back = units.min(theirs.count).min(mine.count);
                mine.count -= back;
                theirs.count -= back;
            }
        }
    }

    /// Units used in `window` as of `now`: a counter from an older window
    /// counts as zero.
    fn used(&self, window: Window, now: Timestamp) -> u32 {
        let c = self.counter(window);
        if c.start_ms == window.start_of(now).as_millis() {
            c.count
        } else {
            0
        }
    }
}

/// The state of one window as reported to clients in `X-RateLimit-*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// The window's limit.
    pub limit: u32,
    /// Units left in the window after this request.
    pub remaining: u32,
    /// When the window resets (Unix seconds in headers).
    pub reset: Timestamp,
}

impl Quota {
    /// The API's `ratelimit` object: `{limit, remaining, reset}` with
    /// `reset` in Unix seconds, as in the `X-RateLimit-*` headers.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "limit": self.limit,
            "remaining": self.remaining,
            "reset": self.reset.as_secs_ceil(),
        })
    }
}

/// What `consume` decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Admitted; `quota` is the window that binds first.
    Admitted(Quota),
    /// Refused; nothing was consumed. `quota` is the exhausted window and
    /// `retry_at` the earliest time the same request could succeed.
    Limited {
        /// The window that refused the request.
        quota: Quota,
        /// When to retry.
        retry_at: Timestamp,
    },
}

fn quota(limits: &RateLimits, usage: &Usage, window: Window, now: Timestamp) -> Quota {
    let limit = limits.limit(window);
    Quota {
        limit,
        remaining: limit.saturating_sub(usage.used(window, now)),
        reset: window.start_of(now).plus_millis(window.length_ms()),
    }
}

/// The window clients should be told about: the one with the fewest units
/// left (on a tie, the minute, which resets sooner).
fn binding(limits: &RateLimits, usage: &Usage, now: Timestamp) -> Quota {
    Window::ALL
        .iter()
        .map(|&w| quota(limits, usage, w, now))
        .min_by_key(|q| q.remaining)
        .expect("two windows")
}

/// The current quota without consuming anything (for `whoami`).
pub fn peek(limits: &RateLimits, usage: &Usage, now: Timestamp) -> Quota {
    binding(limits, usage, now)
}

/// Tries to consume `cost` units from every window at `now`. Either all
/// windows are charged or none is: a refused request costs nothing.
pub fn consume(limits: &RateLimits, usage: &Usage, cost: u32, now: Timestamp) -> (Outcome, Usage) {
    let refusing = Window::ALL
        .iter()
        .map(|&w| quota(limits, usage, w, now))
        .filter(|q| q.remaining < cost)
        .max_by_key(|q| q.reset);
    if let Some(quota) = refusing {
        let outcome = Outcome::Limited {
            quota,
            retry_at: quota.reset,
        };
        return (outcome, *usage);
    }
    let next = usage.plus(cost, now);
    (Outcome::Admitted(binding(limits, &next, now)), next)
}

/// When the shortest window (the minute) that `now` falls in ends: no
/// lease outlives it, so a lease's units all belong to one window of each kind.
pub fn shortest_window_end(now: Timestamp) -> Timestamp {
    Window::Minute
        .start_of(now)
        .plus_millis(Window::Minute.length_ms())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits(per_minute: u32, per_day: u32) -> RateLimits {
        RateLimits {
            per_minute: NonZeroU32::new(per_minute).unwrap(),
            per_day: NonZeroU32::new(per_day).unwrap(),
        }
    }

    /// 2026-11-23T23:58:30Z: close to both a minute and a day boundary.
    const T0: Timestamp = Timestamp::from_secs(1_795_478_310);

    fn admitted(outcome: Outcome) -> Quota {
        match outcome {
            Outcome::Admitted(q) => q,
            Outcome::Limited { .. } => panic!("expected admission, got {outcome:?}"),
        }
    }

    #[test]
    fn a_cost_above_every_window_is_refused_for_good() {
        assert_eq!(limits(5, 100).admits_cost(5), Ok(()));
        assert_eq!(
            limits(5, 100).admits_cost(6),
            Err(crate::error::Error::CostExceedsLimit { cost: 6, limit: 5 })
        );
        assert_eq!(
            limits(50, 4).admits_cost(5),
            Err(crate::error::Error::CostExceedsLimit { cost: 5, limit: 4 })
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
                    prop_assert!(q.remaining <= q.limit);
                } else {
                    prop_assert_eq!(next, usage);
                }
                usage = next;
            }
            prop_assert!(per_min_seen.values().all(|&n| n <= per_minute));
            prop_assert!(per_day_seen.values().all(|&n| n <= per_day));
        }
    }
}
