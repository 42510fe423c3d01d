//! The admin guessing guard: how many failed admin authentications one
//! client may make, and what it is told after that.
//!
//! Policy: a client is an IPv4 address or an IPv6 /64 (one subscriber's
//! network: rotating addresses inside it gains nothing). After
//! [`GUARD_PER_MINUTE`] failures in a UTC minute, its further failures are
//! answered 429 until that minute ends. A right credential always passes,
//! so nobody sharing an address (NAT, CI runners, an attacker next door)
//! can lock the real admin out, not even for a minute. That is safe
//! because neither credential can be guessed at any rate: `ADMIN_TOKEN`
//! must be at least [`crate::admin::MIN_ADMIN_TOKEN_CHARS`] characters and
//! API keys carry 190 random bits. The guard bounds what guessing costs.
//!
//! Each client's count lives in its own small Durable Object (sharded by
//! client, so one flood touches one object and never the registry), which
//! deletes itself when the window is over. Successes never reach it. Pure
//! here: the object loads `Usage`, calls [`judge`], and saves what changed;
//! it answers in plain text ([`answer`], [`verdict`]).

use std::net::IpAddr;
use std::num::NonZeroU32;

use crate::error::{Detail, Error};
use crate::limits::{self, Charge, LimitSet, RateLimits, Usage};
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

/// Judges one failed admin authentication from a client with failure
/// history `usage`: counted, unless the client is already throttled (429,
/// not counted again).
pub fn judge(usage: &Usage, now: Timestamp) -> (Result<(), Error>, Usage) {
    match limits::consume(&LimitSet::fixed(GUARD), usage, &Charge::flat(1), now) {
        (limits::Outcome::Admitted(_), next) => (Ok(()), next),
        (limits::Outcome::Limited { quota, retry_at }, _) => {
            let limited = Error::rate_limited(quota, retry_at, Vec::new());
            (Err(limited), usage.clone())
        }
    }
}

/// A guard object's answer: empty for "go on", or the Unix millisecond at
/// which a throttled client may try again.
pub fn answer(verdict: &Result<(), Error>) -> String {
    match verdict.as_ref().map_err(Error::detail) {
        Err(Detail::RateLimit { retry_at, .. }) => retry_at.as_millis().to_string(),
        _ => String::new(),
    }
}

/// Reads an answer back into the verdict; `None` if it is not one.
pub fn verdict(text: &str) -> Option<Result<(), Error>> {
    if text.is_empty() {
        return Some(Ok(()));
    }
    let retry_at = Timestamp::from_millis(text.parse().ok()?);
    let quota = limits::Quota {
        limit: GUARD_PER_MINUTE,
        remaining: 0,
        reset: retry_at,
        policy: limits::PolicyName::MINUTE,
        window_seconds: 60,
        holder: limits::Holder::Key,
    };
    Some(Err(Error::rate_limited(quota, retry_at, Vec::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_secs(1_800_000_000);

    #[test]
    fn twenty_failures_a_minute_then_429_until_the_minute_ends() {
        let mut usage = Usage::default();
        for i in 0..GUARD_PER_MINUTE {
            let (verdict, next) = judge(&usage, T0.plus_millis(u64::from(i)));
            assert_eq!(verdict, Ok(()), "attempt {i}");
            usage = next;
        }
        let (verdict, after) = judge(&usage, T0.plus_millis(100));
        match verdict.map_err(Error::into_detail) {
            // 1_800_000_000 is a whole minute: the window ends 60 s later.
            Err(Detail::RateLimit { retry_at, .. }) => {
                assert_eq!(retry_at, Timestamp::from_secs(1_800_000_060))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(after, usage, "a throttled failure is not counted");
        assert_eq!(judge(&usage, T0.plus_millis(60_000)).0, Ok(()));
    }

    #[test]
    fn verdicts_cross_as_plain_text() {
        let mut usage = Usage::default();
        for _ in 0..GUARD_PER_MINUTE {
            usage = judge(&usage, T0).1;
        }
        let throttled = judge(&usage, T0).0;
        assert!(throttled.is_err());
        assert_eq!(verdict(&answer(&throttled)), Some(throttled));
        assert_eq!(verdict(&answer(&Ok(()))), Some(Ok(())));
        assert_eq!(verdict("soon"), None);
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
