//! The `RateLimit-Policy` and `RateLimit` header values of the IETF draft
//! (draft-ietf-httpapi-ratelimit-headers-10), serialized as Structured
//! Fields (RFC 9651): a list of items, each a string (the limit's name)
//! with integer parameters. Only the two shapes these headers need are
//! written, so a few lines serve instead of a crate in the wasm.
//!
//! `RateLimit-Policy: "minute";q=60;w=60, "day";q=10000;w=86400`
//! `RateLimit: "minute";r=12;t=48`

use std::fmt::Write;

use super::credits::{Credits, Interval};
use super::{Holder, Quota};
use crate::time::Timestamp;

/// Appends `s` as an sf-string (RFC 9651 §4.1.6): quoted, with `"` and
/// `\` escaped. Callers pass limit names, which are plain ASCII.
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars().filter(|c| (' '..='~').contains(c)) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Appends `;key=value` (an sf-integer parameter, at most 15 digits).
fn param(out: &mut String, key: &str, value: u64) {
    let _ = write!(out, ";{key}={}", value.min(999_999_999_999_999));
}

/// Every limit in `quotas`: its name, quota (`q`) and window in seconds (`w`).
pub fn policy(quotas: &[Quota]) -> String {
    let mut out = String::new();
    for (i, q) in quotas.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        string(&mut out, &q.label());
        param(&mut out, "q", u64::from(q.limit));
        param(&mut out, "w", u64::from(q.window_seconds));
    }
    out
}

/// The `RateLimit-Policy` item for a key's (or, under `holder`, its
/// owner's) credits: `"credits";q=N`, N being the refill amount (or, with
/// no refill, the balance), with `w` the refill period in seconds when it
/// is daily.
pub fn credits(credits: &Credits, holder: Holder) -> String {
    let mut out = String::new();
    string(&mut out, &format!("{}credits", holder.prefix()));
    let refill = credits.refill;
    param(
        &mut out,
        "q",
        refill.map_or(credits.remaining, |r| r.amount),
    );
    if refill.is_some_and(|r| r.interval == Interval::Daily) {
        param(&mut out, "w", 86_400);
    }
    out
}

/// The limit that binds first: its name, the units left (`r`) and the
/// seconds until it resets (`t`).
pub fn ratelimit(quota: &Quota, now: Timestamp) -> String {
    let mut out = String::new();
    string(&mut out, &quota.label());
    param(&mut out, "r", u64::from(quota.remaining));
    param(
        &mut out,
        "t",
        quota.reset.as_secs_ceil().saturating_sub(now.as_secs()),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{
        named::NamedLimit, quotas, LimitSet, PolicyName, RateLimits, Usage, WindowKind,
    };
    use std::num::NonZeroU32;

    #[test]
    fn strings_follow_rfc_9651() {
        // RFC 9651 §3.3.3: `"hello world"`; escapes for DQUOTE and backslash.
        let s = |v: &str| {
            let mut out = String::new();
            string(&mut out, v);
            out
        };
        assert_eq!(s("hello world"), r#""hello world""#);
        assert_eq!(s(r#"say "hi" \ bye"#), r#""say \"hi\" \\ bye""#);
        assert_eq!(s("tab\there"), r#""tabhere""#, "no control characters");
    }

    #[test]
    fn policy_lists_every_limit_and_ratelimit_the_binding_one() {
        let named = [NamedLimit {
            name: PolicyName::parse("burst").unwrap(),
            limit: NonZeroU32::new(10).unwrap(),
            window_seconds: NonZeroU32::new(1).unwrap(),
        }];
        let set = LimitSet {
            rate_limits: Some(RateLimits::DEFAULT),
            window: WindowKind::Fixed,
            named: &named,
        };
        let now = Timestamp::from_millis(1_795_478_312_400);
        assert_eq!(
            policy(&quotas(&set, &Usage::default(), now)),
            r#""minute";q=60;w=60, "day";q=10000;w=86400, "burst";q=10;w=1"#
        );
        let quota = Quota {
            limit: 60,
            remaining: 12,
            reset: Timestamp::from_secs(1_795_478_340),
            policy: PolicyName::MINUTE,
            window_seconds: 60,
            holder: Holder::Key,
        };
        assert_eq!(ratelimit(&quota, now), r#""minute";r=12;t=28"#);
    }

    #[test]
    fn credits_are_listed_with_their_refill() {
        use crate::limits::credits::{Credits, Interval, Refill};
        let refill = |interval| {
            Some(Refill {
                amount: 500,
                interval,
                day_of_month: None,
            })
        };
        let c = |remaining, refill| credits(&Credits { remaining, refill }, Holder::Key);
        assert_eq!(c(7, None), r#""credits";q=7"#);
        assert_eq!(c(7, refill(Interval::Daily)), r#""credits";q=500;w=86400"#);
        assert_eq!(c(7, refill(Interval::Monthly)), r#""credits";q=500"#);
    }
}
