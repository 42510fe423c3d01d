//! Expiry notices: `key.expiring` 7 days and 1 day before a key's
//! `expires_at`, and `key.expired` once it has passed. The scheduled sweep
//! (a Cron Trigger) asks [`due`] for each key expiring within the next 7
//! days or since the last day, and the registry remembers what it sent per
//! key and `expires_at` (so a new `expires_at` arms the notices again).

use serde_json::{json, Value};

use super::event::EventType;
use crate::time::Timestamp;

const DAY_MS: u64 = 86_400_000;

/// How far ahead the sweep looks: the earliest notice.
pub const AHEAD_MS: u64 = 7 * DAY_MS;
/// How far back it looks for `key.expired`: a sweep missed for up to a
/// day still sends it; older expiries stay quiet (a new endpoint is not
/// told of every key that ever expired).
pub const BEHIND_MS: u64 = DAY_MS;

/// A notice, in the order a key reaches them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// 7 days before.
    Expiring7Days,
    /// 1 day before.
    Expiring1Day,
    /// At or after `expires_at`.
    Expired,
}

impl Stage {
    /// How the registry stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Expiring7Days => "expiring_7d",
            Stage::Expiring1Day => "expiring_1d",
            Stage::Expired => "expired",
        }
    }

    /// A stored stage.
    pub fn parse(s: &str) -> Option<Stage> {
        [Stage::Expiring7Days, Stage::Expiring1Day, Stage::Expired]
            .into_iter()
            .find(|stage| stage.as_str() == s)
    }

    /// The event it sends, and the payload's fields besides the key.
    pub fn event(self, expires_at: Timestamp) -> (EventType, Value) {
        match self {
            Stage::Expiring7Days => (
                EventType::KeyExpiring,
                json!({ "expires_at": expires_at, "days": 7 }),
            ),
            Stage::Expiring1Day => (
                EventType::KeyExpiring,
                json!({ "expires_at": expires_at, "days": 1 }),
            ),
            Stage::Expired => (EventType::KeyExpired, json!({ "expires_at": expires_at })),
        }
    }
}

/// The notice a key expiring at `expires_at` is due at `now`, given the
/// stages already `sent` for that time: the latest stage reached, if
/// neither it nor a later one was sent. A key found 12 hours before its
/// expiry gets the 1-day notice only.
pub fn due(expires_at: Timestamp, now: Timestamp, sent: &[Stage]) -> Option<Stage> {
    let (at, now) = (expires_at.as_millis(), now.as_millis());
    let reached = if now >= at {
        (now - at <= BEHIND_MS).then_some(Stage::Expired)
    } else if at - now <= DAY_MS {
        Some(Stage::Expiring1Day)
    } else if at - now <= AHEAD_MS {
        Some(Stage::Expiring7Days)
    } else {
        None
    }?;
    (!sent.iter().any(|s| *s >= reached)).then_some(reached)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 100 * DAY_MS;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn each_stage_is_due_once_in_order() {
        let expires = at(T);
        assert_eq!(due(expires, at(T - 8 * DAY_MS), &[]), None);
        assert_eq!(
            due(expires, at(T - 6 * DAY_MS), &[]),
            Some(Stage::Expiring7Days)
        );
        let mut sent = vec![Stage::Expiring7Days];
        assert_eq!(due(expires, at(T - 5 * DAY_MS), &sent), None);
        assert_eq!(
            due(expires, at(T - DAY_MS / 2), &sent),
            Some(Stage::Expiring1Day)
        );
        sent.push(Stage::Expiring1Day);
        assert_eq!(due(expires, at(T - 1), &sent), None);
        assert_eq!(due(expires, at(T), &sent), Some(Stage::Expired));
        sent.push(Stage::Expired);
        assert_eq!(due(expires, at(T + 1), &sent), None);
    }

    #[test]
    fn a_late_find_skips_earlier_stages_and_old_expiries_stay_quiet() {
        let expires = at(T);
        assert_eq!(
            due(expires, at(T - DAY_MS / 2), &[]),
            Some(Stage::Expiring1Day)
        );
        assert_eq!(due(expires, at(T + DAY_MS / 2), &[]), Some(Stage::Expired));
        assert_eq!(due(expires, at(T + 2 * DAY_MS), &[]), None);
        for stage in [Stage::Expiring7Days, Stage::Expiring1Day, Stage::Expired] {
            assert_eq!(Stage::parse(stage.as_str()), Some(stage));
        }
    }
}
