//! Credits: a balance every admitted request spends its cost from, refilled
//! to a set amount every UTC day, every month on a chosen day, or never.
//! Refills are lazy and exact: the balance is brought up to date whenever
//! it is read, and each boundary refills it once, however late it is read.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::limits::Holder;
use crate::time::{civil_from_days, days_from_civil, days_in_month, Timestamp};

const DAY_MS: u64 = 86_400_000;

/// How often the balance is refilled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    /// At 00:00 UTC every day.
    Daily,
    /// At 00:00 UTC on `day_of_month` (the month's last day if shorter).
    Monthly,
    /// Not at all: what is spent is gone until an admin adds more.
    Never,
}

/// The refill rule: the balance is set to `amount` at every boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refill {
    /// The balance after a refill.
    pub amount: u64,
    /// When.
    pub interval: Interval,
    /// For `monthly`: 1-31, clamped to short months (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_of_month: Option<u8>,
}

/// A key's credits: its balance and refill rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credits {
    /// Units left.
    pub remaining: u64,
    /// The refill rule, if any.
    #[serde(default)]
    pub refill: Option<Refill>,
}

/// Most credits a balance or a refill may hold: JavaScript's largest safe
/// integer, so the number survives every JSON reader and the runtime.
pub const MAX_CREDITS: u64 = (1 << 53) - 1;

impl Credits {
    /// Checks the values serde cannot: bounds, and `day_of_month` only
    /// for a monthly refill. `field` names the object in errors.
    pub fn validate(&self, field: &str) -> Result<(), Error> {
        if self.remaining > MAX_CREDITS {
            return Err(Error::invalid(
                format!("{field}.remaining"),
                format!("must be at most {MAX_CREDITS}"),
            ));
        }
        let Some(refill) = self.refill else {
            return Ok(());
        };
        if refill.amount > MAX_CREDITS {
            return Err(Error::invalid(
                format!("{field}.refill.amount"),
                format!("must be at most {MAX_CREDITS}"),
            ));
        }
        match (refill.interval, refill.day_of_month) {
            (Interval::Monthly, Some(d)) if !(1..=31).contains(&d) => Err(Error::invalid(
                format!("{field}.refill.day_of_month"),
                "must be 1-31",
            )),
            (Interval::Daily | Interval::Never, Some(_)) => Err(Error::invalid(
                format!("{field}.refill.day_of_month"),
                "applies to a monthly refill only",
            )),
            _ => Ok(()),
        }
    }
}

impl Refill {
    /// The latest refill boundary at or before `t`, if the rule has any.
    pub fn last_boundary(&self, t: Timestamp) -> Option<Timestamp> {
        let day = t.as_millis() / DAY_MS;
        match self.interval {
            Interval::Never => None,
            Interval::Daily => Some(Timestamp::from_millis(day * DAY_MS)),
            Interval::Monthly => {
                let (y, m, _) = civil_from_days(day as i64);
                let this_month = self.boundary_in(y, m);
                Some(if this_month <= t {
                    this_month
                } else {
                    self.boundary_in(y, m - 1)
                })
            }
        }
    }

    /// The first refill boundary after `t`, if the rule has any.
    pub fn next_boundary(&self, t: Timestamp) -> Option<Timestamp> {
        let day = t.as_millis() / DAY_MS;
        match self.interval {
            Interval::Never => None,
            Interval::Daily => Some(Timestamp::from_millis((day + 1) * DAY_MS)),
            Interval::Monthly => {
                let (y, m, _) = civil_from_days(day as i64);
                let this_month = self.boundary_in(y, m);
                Some(if this_month > t {
                    this_month
                } else {
                    self.boundary_in(y, m + 1)
                })
            }
        }
    }

    /// 00:00 UTC on this rule's day of month `m` of year `y` (`m` may be
    /// 0 or 13: the month before or after the year).
    fn boundary_in(&self, y: i64, m: i64) -> Timestamp {
        let (y, m) = (y + (m - 1).div_euclid(12), (m - 1).rem_euclid(12) + 1);
        let wanted = i64::from(self.day_of_month.unwrap_or(1));
        let day = wanted.min(days_in_month(y, m));
        Timestamp::from_millis(days_from_civil(y, m, day) as u64 * DAY_MS)
    }
}

/// A key's credits as its Durable Object keeps them: the balance, and
/// when it was last set or refilled (a boundary after that refills it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// The balance and rule.
    pub credits: Credits,
    /// When the balance was last set or refilled.
    pub since: Timestamp,
}

impl Balance {
    /// The balance as of `now`: refilled if a boundary passed since it was
    /// last set or refilled (once, however many passed).
    pub fn at(&self, now: Timestamp) -> Balance {
        let due = self
            .credits
            .refill
            .and_then(|r| r.last_boundary(now).map(|b| (r, b)))
            .filter(|(_, b)| *b > self.since);
        match due {
            Some((refill, boundary)) => Balance {
                credits: Credits {
                    remaining: refill.amount,
                    ..self.credits
                },
                since: boundary,
            },
            None => *self,
        }
    }

    /// When the next refill is due after `now`, if ever.
    pub fn next_refill(&self, now: Timestamp) -> Option<Timestamp> {
        self.credits.refill.and_then(|r| r.next_boundary(now))
    }

    /// Spends `cost` at `now`: the new balance, or `credits_exhausted`
    /// (spending nothing) when fewer are left.
    pub fn spend(&self, cost: u32, now: Timestamp) -> Result<Balance, Error> {
        let current = self.at(now);
        match current.credits.remaining.checked_sub(u64::from(cost)) {
            Some(remaining) => Ok(Balance {
                credits: Credits {
                    remaining,
                    ..current.credits
                },
                ..current
            }),
            // A refill too small to pay for the request is no time to retry.
            None => Err(Error::credits_exhausted(
                current
                    .credits
                    .refill
                    .filter(|r| r.amount >= u64::from(cost))
                    .and(current.next_refill(now)),
                Holder::Key,
            )),
        }
    }

    /// Gives back `cost` spent at `spent_at` (a request its owner then
    /// refused), as of `now`: nothing if a refill came in between, since
    /// the refill already replaced the balance it was spent from.
    pub fn refund(&self, cost: u32, spent_at: Timestamp, now: Timestamp) -> Balance {
        let current = self.at(now);
        if current.since > spent_at {
            return current;
        }
        Balance {
            credits: Credits {
                remaining: current
                    .credits
                    .remaining
                    .saturating_add(u64::from(cost))
                    .min(MAX_CREDITS),
                ..current.credits
            },
            ..current
        }
    }

    /// The balance after an admin's `op` at `now`. A decrement below zero
    /// is refused (422 naming `amount`) and changes nothing.
    pub fn adjust(&self, op: CreditOp, amount: u64, now: Timestamp) -> Result<Balance, Error> {
        let current = self.at(now);
        let remaining = match op {
            CreditOp::Set => Some(amount),
            CreditOp::Increment => current.credits.remaining.checked_add(amount),
            CreditOp::Decrement => current.credits.remaining.checked_sub(amount),
        }
        .filter(|r| *r <= MAX_CREDITS)
        .ok_or_else(|| {
            Error::invalid(
                "amount",
                format!(
                    "would take the balance ({}) outside 0-{MAX_CREDITS}",
                    current.credits.remaining
                ),
            )
        })?;
        Ok(Balance {
            credits: Credits {
                remaining,
                ..current.credits
            },
            // An admin's set is a new start: the next boundary refills it.
            since: if op == CreditOp::Set {
                now
            } else {
                current.since
            },
        })
    }
}

/// What `POST /v1/keys/{id}/credits` does to the balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CreditOp {
    /// Set it to `amount`.
    Set,
    /// Add `amount`.
    Increment,
    /// Take `amount` away (not below zero).
    Decrement,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Detail, ErrorKind};
    use proptest::prelude::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn balance(remaining: u64, interval: Interval, day: Option<u8>, since: &str) -> Balance {
        Balance {
            credits: Credits {
                remaining,
                refill: Some(Refill {
                    amount: 100,
                    interval,
                    day_of_month: day,
                }),
            },
            since: at(since),
        }
    }

    #[test]
    fn monthly_refills_clamp_to_short_months_and_leap_days() {
        let r = Refill {
            amount: 1,
            interval: Interval::Monthly,
            day_of_month: Some(31),
        };
        assert_eq!(
            r.next_boundary(at("2028-01-31T00:00:00Z")),
            Some(at("2028-02-29T00:00:00Z"))
        );
        assert_eq!(
            r.next_boundary(at("2027-02-01T00:00:00Z")),
            Some(at("2027-02-28T00:00:00Z"))
        );
        assert_eq!(
            r.next_boundary(at("2027-12-31T00:00:00Z")),
            Some(at("2028-01-31T00:00:00Z"))
        );
        assert_eq!(
            r.last_boundary(at("2027-03-30T12:00:00Z")),
            Some(at("2027-02-28T00:00:00Z"))
        );
        assert_eq!(
            r.last_boundary(at("2027-01-15T00:00:00Z")),
            Some(at("2026-12-31T00:00:00Z"))
        );
        let first = Refill {
            day_of_month: None,
            ..r
        };
        assert_eq!(
            first.last_boundary(at("2027-03-01T00:00:00Z")),
            Some(at("2027-03-01T00:00:00Z"))
        );
    }

    #[test]
    fn a_refill_happens_once_per_boundary_and_sets_the_amount() {
        let b = balance(3, Interval::Daily, None, "2026-11-23T10:00:00Z");
        assert_eq!(b.at(at("2026-11-23T23:59:59Z")).credits.remaining, 3);
        let next = b.at(at("2026-11-24T00:00:00Z"));
        assert_eq!(
            (next.credits.remaining, next.since),
            (100, at("2026-11-24T00:00:00Z"))
        );
        // Spending after the refill is not undone by reading again that day.
        let spent = next.spend(40, at("2026-11-24T08:00:00Z")).unwrap();
        assert_eq!(spent.at(at("2026-11-24T23:00:00Z")).credits.remaining, 60);
        // Three days unread: one refill, to the amount.
        assert_eq!(spent.at(at("2026-11-27T05:00:00Z")).credits.remaining, 100);
    }

    #[test]
    fn exhausted_credits_say_when_the_next_refill_is() {
        let b = balance(1, Interval::Monthly, Some(15), "2026-11-23T10:00:00Z");
        let b = b.spend(1, at("2026-11-23T10:00:01Z")).unwrap();
        assert_eq!(
            b.spend(1, at("2026-11-23T10:00:02Z")),
            Err(Error::credits_exhausted(
                Some(at("2026-12-15T00:00:00Z")),
                Holder::Key
            ))
        );
        let never = Balance {
            credits: Credits {
                remaining: 0,
                refill: None,
            },
            since: at("2026-11-23T10:00:00Z"),
        };
        assert_eq!(
            never.spend(1, at("2026-11-23T10:00:02Z")),
            Err(Error::credits_exhausted(None, Holder::Key))
        );
    }

    #[test]
    fn admin_operations_never_leave_zero_to_max() {
        let b = balance(5, Interval::Never, None, "2026-11-23T10:00:00Z");
        let now = at("2026-11-23T11:00:00Z");
        assert_eq!(
            b.adjust(CreditOp::Increment, 7, now)
                .unwrap()
                .credits
                .remaining,
            12
        );
        assert_eq!(
            b.adjust(CreditOp::Decrement, 5, now)
                .unwrap()
                .credits
                .remaining,
            0
        );
        assert!(b.adjust(CreditOp::Decrement, 6, now).is_err());
        assert!(b.adjust(CreditOp::Increment, MAX_CREDITS, now).is_err());
        assert_eq!(b.adjust(CreditOp::Set, 9, now).unwrap().since, now);
    }

    #[test]
    fn a_refund_gives_back_the_spend_unless_a_refill_came_between() {
        let b = balance(5, Interval::Daily, None, "2026-11-23T10:00:00Z");
        let spent_at = at("2026-11-23T23:59:59Z");
        let spent = b.spend(2, spent_at).unwrap();
        assert_eq!(spent.credits.remaining, 3);
        assert_eq!(spent.refund(2, spent_at, spent_at).credits.remaining, 5);
        // Midnight refilled the balance to 100: the spend belonged to the old day.
        let after = at("2026-11-24T00:00:01Z");
        assert_eq!(spent.refund(2, spent_at, after).credits.remaining, 100);
        let full = balance(MAX_CREDITS, Interval::Never, None, "2026-11-23T10:00:00Z");
        assert_eq!(
            full.refund(9, spent_at, spent_at).credits.remaining,
            MAX_CREDITS
        );
    }

    #[test]
    fn validation_names_the_field() {
        let field = |c: Credits| {
            c.validate("credits")
                .unwrap_err()
                .body(Timestamp::from_secs(0))["error"]["field"]
                .clone()
        };
        let refill = |interval, day| {
            Some(Refill {
                amount: 1,
                interval,
                day_of_month: day,
            })
        };
        assert_eq!(
            field(Credits {
                remaining: MAX_CREDITS + 1,
                refill: None
            }),
            "credits.remaining"
        );
        assert_eq!(
            field(Credits {
                remaining: 1,
                refill: refill(Interval::Monthly, Some(32))
            }),
            "credits.refill.day_of_month"
        );
        assert_eq!(
            field(Credits {
                remaining: 1,
                refill: refill(Interval::Daily, Some(3))
            }),
            "credits.refill.day_of_month"
        );
        assert!(Credits {
            remaining: 1,
            refill: refill(Interval::Monthly, Some(31))
        }
        .validate("credits")
        .is_ok());
    }

    proptest! {
        /// Over random spending, reads and admin operations across month
        /// ends and leap days: the balance never goes below zero, spending
        /// never takes more than was left, and the balance is refilled
        /// exactly once for each boundary crossed (never twice, never missed).
        #[test]
        fn fuzz_credits_refill_exactly_once_per_boundary(
            day in 1u8..=31,
            monthly in any::<bool>(),
            steps in proptest::collection::vec((0u64..40 * 86_400_000, 0u32..30), 1..80),
        ) {
            let refill = Refill {
                amount: 50,
                interval: if monthly { Interval::Monthly } else { Interval::Daily },
                day_of_month: monthly.then_some(day),
            };
            let start = at("2027-12-20T00:00:00Z");
            let mut b = Balance { credits: Credits { remaining: 50, refill: Some(refill) }, since: start };
            let mut now = start;
            for (gap, cost) in steps {
                let before = now;
                now = now.plus_millis(gap);
                let crossed = refill.last_boundary(now).is_some_and(|x| x > before && x > b.since);
                let read = b.at(now);
                if crossed {
                    prop_assert_eq!(read.credits.remaining, 50);
                    prop_assert_eq!(Some(read.since), refill.last_boundary(now));
                } else {
                    prop_assert_eq!(read, b);
                }
                match b.spend(cost, now) {
                    Ok(next) => {
                        prop_assert_eq!(next.credits.remaining + u64::from(cost), read.credits.remaining);
                        b = next;
                    }
                    Err(e) if e.kind() == ErrorKind::CreditsExhausted => {
                        let Detail::Credits { retry_at, .. } = *e.detail() else {
                            unreachable!("credits_exhausted carries credits")
                        };
                        prop_assert!(read.credits.remaining < u64::from(cost));
                        prop_assert_eq!(retry_at, refill.next_boundary(now));
                        prop_assert!(retry_at.is_some_and(|t| t > now));
                        b = read;
                    }
                    Err(other) => prop_assert!(false, "{:?}", other),
                }
            }
        }
    }
}
