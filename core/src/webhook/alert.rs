//! Usage alerts: which of a key's decisions raise `key.rate_limited` and
//! `key.usage_threshold`, each once per window. The key's object keeps
//! [`Alerts`] with its counters and runs this on every decision it makes.
//!
//! - `key.rate_limited`: the first refusal by a rate limit; none again
//!   until the refused window has reset.
//! - `key.usage_threshold`: 80% and 100% of the key's day limit, once
//!   each per day window; and of its credits — of the refill amount when
//!   the credits refill, else of the highest balance seen — once each
//!   until the balance rises again. Units lent to isolates under a lease
//!   count as used (see [`crate::admission`]): an alert may come up to one
//!   lease early, never late.

use serde::{Deserialize, Serialize};

use super::event::KeyAlert;
use crate::error::{Detail, Error};
use crate::limits::credits::Credits;
use crate::limits::{PolicyName, Quota};
use crate::time::Timestamp;

/// The thresholds, in percent of a limit.
pub const THRESHOLDS: [u8; 2] = [80, 100];

/// What a key has been alerted of, so each alert goes once per window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alerts {
    /// The end of the window the last rate-limit alert was about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limited_until: Option<Timestamp>,
    /// The day window (its reset) and the highest threshold alerted in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<(Timestamp, u8)>,
    /// The credits' highest balance seen and the threshold alerted since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<(u64, u8)>,
}

/// The highest threshold `used` of `of` reaches.
fn level(used: u64, of: u64) -> u8 {
    THRESHOLDS
        .into_iter()
        .rev()
        .find(|t| of > 0 && used * 100 >= u64::from(*t) * of)
        .unwrap_or(0)
}

/// The thresholds above `alerted` up to `reached`, as alerts on `limit`.
fn crossed(
    limit: &str,
    alerted: u8,
    reached: u8,
    used: u64,
    of: u64,
) -> impl Iterator<Item = KeyAlert> + '_ {
    THRESHOLDS
        .into_iter()
        .filter(move |t| alerted < *t && *t <= reached)
        .map(move |percent| KeyAlert::UsageThreshold {
            limit: limit.to_owned(),
            percent,
            used,
            of,
        })
}

impl Alerts {
    /// The alert a refusal with `error` at `now` raises, if any.
    pub fn refused(&mut self, error: &Error, now: Timestamp) -> Option<KeyAlert> {
        let Detail::RateLimit {
            quota, retry_at, ..
        } = error.detail()
        else {
            return None;
        };
        if self.rate_limited_until.is_some_and(|until| now < until) {
            return None;
        }
        self.rate_limited_until = Some(*retry_at);
        Some(KeyAlert::RateLimited {
            limit: quota.policy.to_string(),
            retry_at: *retry_at,
        })
    }

    /// The alerts an admission leaving `quotas` and `credits` raises.
    pub fn admitted(&mut self, quotas: &[Quota], credits: Option<&Credits>) -> Vec<KeyAlert> {
        let mut raised = Vec::new();
        let day = quotas
            .iter()
            .find(|q| q.policy == PolicyName::DAY && q.holder.is_key());
        if let Some(day) = day {
            let (used, of) = (u64::from(day.limit - day.remaining), u64::from(day.limit));
            let alerted = match self.day {
                Some((reset, alerted)) if reset == day.reset => alerted,
                _ => 0,
            };
            let reached = level(used, of);
            raised.extend(crossed("day", alerted, reached, used, of));
            self.day = Some((day.reset, alerted.max(reached)));
        }
        match credits {
            Some(credits) => {
                let remaining = credits.remaining;
                let (peak, alerted) = self.credits.unwrap_or((0, 0));
                let peak = peak.max(remaining);
                let of = credits.refill.map_or(peak, |r| r.amount);
                let used = of.saturating_sub(remaining);
                let reached = level(used, of);
                raised.extend(crossed("credits", alerted, reached, used, of));
                // A balance that rose (a refill, a top-up) arms the alerts again.
                self.credits = Some((peak, reached));
            }
            None => self.credits = None,
        }
        raised
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Holder;

    fn day(limit: u32, remaining: u32, reset: u64) -> Vec<Quota> {
        vec![Quota {
            limit,
            remaining,
            reset: Timestamp::from_secs(reset),
            policy: PolicyName::DAY,
            window_seconds: 86_400,
            holder: Holder::Key,
        }]
    }

    fn percents(alerts: &[KeyAlert]) -> Vec<u8> {
        alerts
            .iter()
            .map(|a| match a {
                KeyAlert::UsageThreshold { percent, .. } => *percent,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_day_limit_alerts_at_80_and_100_once_per_window() {
        let mut alerts = Alerts::default();
        assert!(alerts.admitted(&day(10, 3, 100), None).is_empty());
        assert_eq!(percents(&alerts.admitted(&day(10, 2, 100), None)), [80]);
        assert!(alerts.admitted(&day(10, 1, 100), None).is_empty());
        assert_eq!(percents(&alerts.admitted(&day(10, 0, 100), None)), [100]);
        assert!(alerts.admitted(&day(10, 0, 100), None).is_empty());
        // The next day is a new window; a jump past both sends both.
        assert_eq!(
            percents(&alerts.admitted(&day(10, 0, 200), None)),
            [80, 100]
        );
    }

    #[test]
    fn credits_alert_against_the_refill_or_the_highest_balance() {
        let credits = |remaining, refill: Option<u64>| Credits {
            remaining,
            refill: refill.map(|amount| crate::limits::credits::Refill {
                amount,
                interval: crate::limits::credits::Interval::Daily,
                day_of_month: None,
            }),
        };
        let mut alerts = Alerts::default();
        assert!(alerts
            .admitted(&[], Some(&credits(50, Some(100))))
            .is_empty());
        assert_eq!(
            percents(&alerts.admitted(&[], Some(&credits(20, Some(100))))),
            [80]
        );
        assert!(alerts
            .admitted(&[], Some(&credits(10, Some(100))))
            .is_empty());
        assert_eq!(
            percents(&alerts.admitted(&[], Some(&credits(0, Some(100))))),
            [100]
        );
        // A refill arms them again.
        assert!(alerts
            .admitted(&[], Some(&credits(99, Some(100))))
            .is_empty());
        assert_eq!(
            percents(&alerts.admitted(&[], Some(&credits(0, Some(100))))),
            [80, 100]
        );
        // Without a refill: against the highest balance seen.
        let mut alerts = Alerts::default();
        assert!(alerts.admitted(&[], Some(&credits(9, None))).is_empty());
        assert_eq!(
            percents(&alerts.admitted(&[], Some(&credits(1, None)))),
            [80]
        );
        match &alerts.admitted(&[], Some(&credits(0, None)))[..] {
            [KeyAlert::UsageThreshold {
                percent: 100,
                used: 9,
                of: 9,
                ..
            }] => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_rate_limit_alerts_on_its_first_refusal_per_window() {
        let limited = |retry_at: u64| {
            Error::rate_limited(
                Quota {
                    limit: 5,
                    remaining: 0,
                    reset: Timestamp::from_secs(retry_at),
                    policy: PolicyName::MINUTE,
                    window_seconds: 60,
                    holder: Holder::Key,
                },
                Timestamp::from_secs(retry_at),
                vec![],
            )
        };
        let mut alerts = Alerts::default();
        let first = alerts.refused(&limited(60), Timestamp::from_secs(10));
        assert!(
            matches!(first, Some(KeyAlert::RateLimited { ref limit, .. }) if limit == "minute")
        );
        assert_eq!(alerts.refused(&limited(60), Timestamp::from_secs(20)), None);
        assert!(alerts
            .refused(&limited(120), Timestamp::from_secs(61))
            .is_some());
        assert_eq!(
            alerts.refused(&Error::KEY_REVOKED, Timestamp::from_secs(62)),
            None
        );
    }
}
