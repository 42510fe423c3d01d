//! Counting for any window length, fixed or rolling: a `Span` says how a
//! limit's window counts, a tally is its list of `Counter` buckets.
//!
//! A fixed span keeps one bucket, the current window (aligned to the
//! epoch). A rolling span keeps buckets of `length / 60` (at least one
//! second: 1 s buckets for a minute, 1 min buckets for an hour) and counts
//! every bucket that overlaps the last `length`, the partly covered oldest
//! one in full. So no span of `length` ever holds more than the limit: a
//! request admitted at `t` is counted by every later check until `t +
//! length`, and at worst the oldest bucket's units free up one bucket late
//! (under-admission by at most one bucket's worth, never over-admission).

use crate::limits::rate::Counter;
use crate::time::Timestamp;

/// How one limit's window counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// The window's length.
    pub length_ms: u64,
    /// Whether it rolls (else it is fixed and epoch-aligned).
    pub rolling: bool,
}

impl Span {
    /// Bucket length: the whole window when fixed.
    fn bucket_ms(self) -> u64 {
        if self.rolling {
            (self.length_ms / 60).max(1_000)
        } else {
            self.length_ms
        }
    }

    pub(super) fn bucket_of(self, t: Timestamp) -> u64 {
        let b = self.bucket_ms();
        t.as_millis() / b * b
    }

    /// The start of the oldest bucket still counted at `now`.
    fn first_counted(self, now: Timestamp) -> u64 {
        if self.rolling {
            let b = self.bucket_ms();
            now.as_millis().saturating_sub(self.length_ms) / b * b
        } else {
            self.bucket_of(now)
        }
    }

    /// When the units of the bucket starting at `start` stop counting.
    fn drops_at(self, start: u64) -> Timestamp {
        let end = start + self.bucket_ms();
        Timestamp::from_millis(if self.rolling {
            end + self.length_ms
        } else {
            end
        })
    }

    /// Units counted at `now`.
    pub fn used(self, tally: &[Counter], now: Timestamp) -> u32 {
        let first = self.first_counted(now);
        tally
            .iter()
            .filter(|c| c.start_ms >= first)
            .fold(0u32, |n, c| n.saturating_add(c.count))
    }

    /// `tally` with `units` more counted at `now`, and the buckets that
    /// no longer count dropped.
    pub fn charge(self, tally: &[Counter], units: u32, now: Timestamp) -> Vec<Counter> {
        let first = self.first_counted(now);
        let bucket = self.bucket_of(now);
        let mut next: Vec<Counter> = tally
            .iter()
            .filter(|c| c.start_ms >= first)
            .copied()
            .collect();
        match next.last_mut() {
            Some(last) if last.start_ms == bucket => last.count = last.count.saturating_add(units),
            _ => next.push(Counter {
                start_ms: bucket,
                count: units,
            }),
        }
        next
    }

    /// When everything counted at `now` has stopped counting: the
    /// window's reset as `X-RateLimit-Reset` and `RateLimit`'s `t` report
    /// it (for a fixed window, its end).
    pub fn reset(self, tally: &[Counter], now: Timestamp) -> Timestamp {
        if !self.rolling {
            return self.drops_at(self.bucket_of(now));
        }
        let first = self.first_counted(now);
        tally
            .iter()
            .rev()
            .find(|c| c.start_ms >= first && c.count > 0)
            .map_or(now, |c| self.drops_at(c.start_ms))
    }

    /// The earliest time at which `cost` more units fit under `limit`
    /// (`cost <= limit`, checked when the key was configured).
    pub fn retry_at(self, tally: &[Counter], limit: u32, cost: u32, now: Timestamp) -> Timestamp {
        if !self.rolling {
            return self.drops_at(self.bucket_of(now));
        }
        let first = self.first_counted(now);
        let mut used = self.used(tally, now);
        for c in tally.iter().filter(|c| c.start_ms >= first) {
            used = used.saturating_sub(c.count);
            if used.saturating_add(cost) <= limit {
                return self.drops_at(c.start_ms);
            }
        }
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MINUTE_ROLLING: Span = Span {
        length_ms: 60_000,
        rolling: true,
    };
    const T0: Timestamp = Timestamp::from_secs(1_795_478_310);

    #[test]
    fn a_rolling_minute_has_no_boundary_burst() {
        // 10 at 0:59 fill the limit of 10; at 1:00 a fixed window would
        // admit 10 more, the rolling one none until 0:59 + 60 s.
        let at = |ms: u64| T0.plus_millis(ms);
        let tally = MINUTE_ROLLING.charge(&[], 10, at(29_500));
        assert_eq!(MINUTE_ROLLING.used(&tally, at(30_000)), 10);
        assert_eq!(MINUTE_ROLLING.used(&tally, at(89_000)), 10);
        let retry = MINUTE_ROLLING.retry_at(&tally, 10, 1, at(30_000));
        assert_eq!(retry, Timestamp::from_secs(1_795_478_310 + 90));
        assert_eq!(MINUTE_ROLLING.used(&tally, retry), 0);
        assert_eq!(
            MINUTE_ROLLING.used(&tally, Timestamp::from_millis(retry.as_millis() - 1)),
            10
        );
        assert_eq!(MINUTE_ROLLING.reset(&tally, at(30_000)), retry);
    }

    #[test]
    fn buckets_are_a_sixtieth_of_the_window_and_at_least_a_second() {
        let hour = Span {
            length_ms: 3_600_000,
            rolling: true,
        };
        assert_eq!(hour.bucket_ms(), 60_000);
        assert_eq!(MINUTE_ROLLING.bucket_ms(), 1_000);
        let ten = Span {
            length_ms: 10_000,
            rolling: true,
        };
        assert_eq!(ten.bucket_ms(), 1_000);
        // Old buckets are dropped as new ones are charged: at most 61 kept.
        let mut tally = Vec::new();
        for s in 0..500 {
            tally = MINUTE_ROLLING.charge(&tally, 1, T0.plus_millis(s * 1_000));
        }
        assert!(tally.len() <= 61, "{}", tally.len());
    }

    proptest! {
        /// However requests arrive, no span of the window's length holds
        /// more admitted units than the limit.
        #[test]
        fn fuzz_rolling_never_over_admits(
            limit in 1u32..30,
            length_s in 1u64..120,
            arrivals in proptest::collection::vec((0u64..4_000, 1u32..4), 1..200),
        ) {
            let span = Span { length_ms: length_s * 1_000, rolling: true };
            let mut tally = Vec::new();
            let mut now = T0;
            let mut admitted: Vec<(u64, u32)> = Vec::new();
            for (gap, cost) in arrivals {
                now = now.plus_millis(gap);
                let cost = cost.min(limit);
                if span.used(&tally, now) + cost <= limit {
                    tally = span.charge(&tally, cost, now);
                    admitted.push((now.as_millis(), cost));
                } else {
                    prop_assert!(span.retry_at(&tally, limit, cost, now) > now);
                }
            }
            for &(start, _) in &admitted {
                let in_span: u32 = admitted
                    .iter()
                    .filter(|(t, _)| *t >= start && *t < start + span.length_ms)
                    .map(|(_, c)| c)
                    .sum();
                prop_assert!(in_span <= limit, "{} in the span from {}", in_span, start);
            }
        }
    }
}
