//! Delivering an event to an endpoint: what one attempt found, whether and
//! when to try again ([`Schedule`]), and what `GET /v1/webhooks/{id}/deliveries`
//! shows.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// How long an endpoint may take to answer an attempt.
pub const TIMEOUT_MS: u64 = 10_000;
/// Attempts kept per delivery for the API (the latest).
pub const KEPT_ATTEMPTS: usize = 20;
/// Deliveries shown per endpoint (the latest), and how long they are kept.
pub const SHOWN_DELIVERIES: u32 = 50;
/// See [`SHOWN_DELIVERIES`].
pub const DELIVERY_RETENTION_MS: u64 = 30 * 86_400_000;
/// A queued delivery not attempted this long after it was due was lost by
/// the queue (or never reached it): the scheduled sweep queues it again.
pub const OVERDUE_MS: u64 = 15 * 60_000;
/// The longest a queue can delay one retry (Cloudflare Queues' limit).
pub const MAX_DELAY_SECS: u32 = 43_200;
/// The most retries a schedule may hold: the queue's `max_retries` in
/// wrangler.toml must be at least this.
pub const MAX_RETRIES: usize = 20;

/// The waits, in seconds, before each retry of a failed delivery: after
/// the first attempt fails, the first wait; after the last wait's attempt
/// fails, the delivery is a dead letter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule(Vec<u32>);

impl Default for Schedule {
    /// The specification's suggestion: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
    /// 10 h — eight attempts over 27.6 hours.
    fn default() -> Self {
        Schedule(vec![5, 300, 1_800, 7_200, 18_000, 36_000, 36_000])
    }
}

impl Schedule {
    /// Parses `WEBHOOK_RETRY_SCHEDULE`: seconds, comma-separated.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let wrong = || {
            format!(
                "WEBHOOK_RETRY_SCHEDULE must be 1 to {MAX_RETRIES} comma-separated waits in seconds, each from 0 to {MAX_DELAY_SECS}"
            )
        };
        let waits = text
            .split(',')
            .map(|w| {
                w.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|s| *s <= MAX_DELAY_SECS)
            })
            .collect::<Option<Vec<u32>>>()
            .ok_or_else(wrong)?;
        if waits.is_empty() || waits.len() > MAX_RETRIES {
            return Err(wrong());
        }
        Ok(Schedule(waits))
    }

    /// What follows attempt number `attempt` (1 for the first) that
    /// `succeeded` or not.
    pub fn next(&self, attempt: u32, succeeded: bool) -> Next {
        if succeeded {
            return Next::Delivered;
        }
        match self.0.get(attempt.saturating_sub(1) as usize) {
            Some(wait) => Next::RetryIn(*wait),
            None => Next::DeadLetter,
        }
    }

    /// The time between the first attempt and the last, in seconds.
    pub fn span_secs(&self) -> u64 {
        self.0.iter().map(|w| u64::from(*w)).sum()
    }
}

/// What happens to a delivery after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Next {
    /// The endpoint answered 2xx: done.
    Delivered,
    /// Try again in this many seconds.
    RetryIn(u32),
    /// Out of retries: kept as a dead letter.
    DeadLetter,
}

impl Next {
    /// The delivery's state after it.
    pub fn state(self) -> &'static str {
        match self {
            Next::Delivered => "delivered",
            Next::RetryIn(_) => "retrying",
            Next::DeadLetter => "dead_letter",
        }
    }
}

/// One attempt to deliver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it was sent.
    pub at: Timestamp,
    /// The endpoint's status, if it answered.
    pub status: Option<u16>,
    /// Why it failed without a status (`timeout`, `network_error`), or a
    /// refused one (`http_500`).
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
}

impl Attempt {
    /// An attempt the endpoint answered with `status` (or failed to answer:
    /// `Err(reason)`).
    pub fn of(at: Timestamp, answer: Result<u16, &str>, duration_ms: u64) -> Attempt {
        let (status, error) = match answer {
            Ok(status) if (200..300).contains(&status) => (Some(status), None),
            Ok(status) => (Some(status), Some(format!("http_{status}"))),
            Err(reason) => (None, Some(reason.to_owned())),
        };
        Attempt {
            at,
            status,
            error,
            duration_ms,
        }
    }

    /// Whether the endpoint took the event.
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// What the queue's consumer needs to make an attempt: the registry hands
/// it over when the consumer claims a queued delivery. Its `Debug` leaves
/// the secret out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    /// The endpoint's URL.
    pub url: String,
    /// Its signing secret, stored form (hex).
    pub secret: String,
    /// The `webhook-id`.
    pub event_id: String,
    /// The body.
    pub payload: String,
    /// This attempt's number (1 for the first).
    pub attempt: u32,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("url", &self.url)
            .field("event_id", &self.event_id)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// A delivery as `GET /v1/webhooks/{id}/deliveries` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeliveryView {
    /// The delivery.
    pub id: u64,
    /// The `webhook-id` it is sent with.
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// `queued`, `retrying`, `delivered` or `dead_letter`.
    pub state: String,
    /// When the event happened.
    pub created_at: Timestamp,
    /// When the next attempt is due, while one is.
    pub next_attempt_at: Option<Timestamp>,
    /// The latest attempts, oldest first.
    pub attempts: Vec<Attempt>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_retries_for_more_than_a_day_then_gives_up() {
        let schedule = Schedule::default();
        assert!(schedule.span_secs() >= 24 * 3600);
        assert_eq!(schedule.next(1, false), Next::RetryIn(5));
        assert_eq!(schedule.next(7, false), Next::RetryIn(36_000));
        assert_eq!(schedule.next(8, false), Next::DeadLetter);
        assert_eq!(schedule.next(8, true), Next::Delivered);
    }

    #[test]
    fn schedules_parse_within_the_queue_limits() {
        assert_eq!(
            Schedule::parse(" 1, 2 ,3").unwrap(),
            Schedule(vec![1, 2, 3])
        );
        for bad in [
            "",
            "1,,2",
            "-1",
            "43201",
            "1.5",
            &vec!["1"; MAX_RETRIES + 1].join(","),
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_a_2xx_answer_delivers() {
        let at = Timestamp::from_secs(1);
        assert!(Attempt::of(at, Ok(204), 3).succeeded());
        let refused = Attempt::of(at, Ok(500), 3);
        assert_eq!(
            (refused.status, refused.error.as_deref()),
            (Some(500), Some("http_500"))
        );
        assert!(!Attempt::of(at, Ok(302), 3).succeeded());
        assert!(!Attempt::of(at, Err("timeout"), 10_000).succeeded());
    }
}
