//! The admin guessing guard: how many failed admin authentications one
//! client may make, and what it is told after that.
//!
//! Policy: a client is an IPv4 address or an IPv6 /64 (one subscriber's
//! network: rotating addresses inside it gains nothing). After
//! [`GUARD_PER_MINUTE`] failures in a UTC minute, every admin request from
//! it gets 429 until that minute ends — even one with the right
//! credential, so that a guess that happens to be right is not revealed.
//! A lock-out therefore never lasts longer than 60 s: a shared address
//! (NAT, CI runners) can delay the real admin by a minute, never by a day.
//!
//! Each client's count lives in its own small Durable Object (sharded by
//! client, so one flood touches one object and never the registry), which
//! deletes it when the window is over. Pure here: the object loads
//! `Usage`, calls [`judge`], and saves what changed.

use std::net::IpAddr;
use std::num::NonZeroU32;

use crate::error::Error;
use crate::limit::{self, RateLimits, Usage};
use crate::time::Timestamp;

/// Failed admin authentications a client may make per UTC minute.
pub const GUARD_PER_MINUTE: u32 = 20;

/// The guard as rate limits: only the minute window binds.
const GUARD: RateLimits = RateLimits {
    per_minute: NonZeroU32::new(GUARD_PER_MINUTE).unwrap(),
    per_day: NonZeroU32::MAX,
};

/// The name of the client an admin request comes from: the IPv4 address,
/// or the IPv6 /64 it belongs to; `unknown` when the runtime gave none.
pub fn client_of(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".to_owned(),
    }
}

/// Judges one admin request from a client with failure history `usage`,
/// after its credential was checked (`failed`). A throttled client gets
/// 429 whatever it sent and is not counted again; otherwise a failure is
/// counted and the request gets its own answer.
pub fn judge(usage: &Usage, failed: bool, now: Timestamp) -> (Result<(), Error>, Usage) {
    let quota = limit::peek(&GUARD, usage, now);
    if quota.remaining == 0 {
        let throttled = Error::RateLimited {
            quota,
            retry_at: quota.reset,
        };
        return (Err(throttled), *usage);
    }
    if !failed {
        return (Ok(()), *usage);
    }
    match limit::consume(&GUARD, usage, 1, now) {
        (limit::Outcome::Admitted(_), next) => (Ok(()), next),
        (limit::Outcome::Limited { quota, retry_at }, _) => {
            (Err(Error::RateLimited { quota, retry_at }), *usage)
        }
    }
}

/// The Worker's report to a guard object: did the credential fail?
/// (`1`/`0`: the exchange is plain text, so no JSON code is needed for it.)
pub fn report(failed: bool) -> &'static str {
    if failed {
        "1"
    } else {
        "0"
    }
}

/// Reads a report; `None` for anything else.
pub fn read_report(text: &str) -> Option<bool> {
    match text {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

/// A guard object's answer: empty for "go on", or the Unix millisecond at
/// which a throttled client may try again.
pub fn answer(verdict: &Result<(), Error>) -> String {
    match verdict {
        Err(Error::RateLimited { retry_at, .. }) => retry_at.as_millis().to_string(),
        _ => String::new(),
    }
}

/// Reads an answer back into the verdict; `None` if it is not one.
pub fn verdict(text: &str) -> Option<Result<(), Error>> {
    if text.is_empty() {
        return Some(Ok(()));
    }
    let retry_at = Timestamp::from_millis(text.parse().ok()?);
    let quota = limit::Quota {
        limit: GUARD_PER_MINUTE,
        remaining: 0,
        reset: retry_at,
    };
    Some(Err(Error::RateLimited { quota, retry_at }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_secs(1_800_000_000);

    #[test]
    fn twenty_failures_a_minute_then_everything_waits_for_the_minute_to_end() {
        let mut usage = Usage::default();
        for i in 0..GUARD_PER_MINUTE {
            let (verdict, next) = judge(&usage, true, T0.plus_millis(u64::from(i)));
            assert_eq!(verdict, Ok(()), "attempt {i}");
            usage = next;
        }
        for failed in [true, false] {
            let (verdict, after) = judge(&usage, failed, T0.plus_millis(100));
            match verdict {
                // 1_800_000_000 is a whole minute: the window ends 60 s later.
                Err(Error::RateLimited { retry_at, .. }) => {
                    assert_eq!(retry_at, Timestamp::from_secs(1_800_000_060))
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(after, usage, "a throttled request is not counted");
        }
        // The right credential works again as soon as the minute is over.
        assert_eq!(judge(&usage, false, T0.plus_millis(60_000)).0, Ok(()));
    }

    #[test]
    fn verdicts_cross_as_plain_text() {
        for failed in [true, false] {
            assert_eq!(read_report(report(failed)), Some(failed));
        }
        assert_eq!(read_report("yes"), None);
        let mut usage = Usage::default();
        for _ in 0..=GUARD_PER_MINUTE {
            usage = judge(&usage, true, T0).1;
        }
        let throttled = judge(&usage, false, T0).0;
        assert!(throttled.is_err());
        assert_eq!(verdict(&answer(&throttled)), Some(throttled));
        assert_eq!(verdict(&answer(&Ok(()))), Some(Ok(())));
        assert_eq!(verdict("soon"), None);
    }

    #[test]
    fn successes_cost_no_write() {
        let usage = Usage::default();
        assert_eq!(judge(&usage, false, T0), (Ok(()), usage));
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(
            client_of(ip("2001:db8:1:2::1")),
            client_of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            client_of(ip("2001:db8:1:2::1")),
            client_of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_of(ip("2001:db8:1:2::1")), "2001:db8:1:2::/64");
        assert_eq!(client_of(ip("203.0.113.7")), "203.0.113.7");
        assert_eq!(client_of(None), "unknown");
    }
}
