//! Time as keygate sees it: `Timestamp` (Unix milliseconds, UTC), RFC 3339
//! text for the API, and the `Clock` trait that the edge implements with the
//! runtime's clock and tests implement by hand.
//!
//! Dates are converted with Howard Hinnant's `days_from_civil` algorithm, so
//! no date crate ships in the wasm bundle.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const MS_PER_SECOND: u64 = 1_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// A point in time: milliseconds since the Unix epoch, UTC. Serialized as
/// RFC 3339 text (`2026-11-23T12:00:00Z`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

/// Where the current time comes from. Logic takes a `Timestamp` argument;
/// only the edge asks a clock.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Timestamp;
}

impl Timestamp {
    /// The latest representable time, 9999-12-31T23:59:59.999Z: RFC 3339
    /// has four-digit years, and every stored time must read back.
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999);

    /// From Unix milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Timestamp(ms)
    }

    /// From Unix seconds.
    pub const fn from_secs(s: u64) -> Self {
        Timestamp(s * MS_PER_SECOND)
    }

    /// Unix milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Unix seconds, rounded down.
    pub const fn as_secs(self) -> u64 {
        self.0 / MS_PER_SECOND
    }

    /// Unix seconds, rounded up: a reset time a client may safely wait for.
    pub const fn as_secs_ceil(self) -> u64 {
        self.0.div_ceil(MS_PER_SECOND)
    }

    /// This time plus `ms` milliseconds, saturating at [`Timestamp::MAX`].
    pub const fn plus_millis(self, ms: u64) -> Self {
        let t = self.0.saturating_add(ms);
        if t > Self::MAX.0 {
            Self::MAX
        } else {
            Timestamp(t)
        }
    }

    /// Parses RFC 3339 (`2026-12-31T23:59:59Z`, `…+02:00`, fractional
    /// seconds allowed). Times before 1970 are rejected.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let year = digits(&b[0..4])?;
        let month = digits(&b[5..7])?;
        let day = digits(&b[8..10])?;
        let hour = digits(&b[11..13])?;
        let minute = digits(&b[14..16])?;
        let second = digits(&b[17..19])?;
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return None;
        }
        let mut rest = &b[19..];
        let mut millis = 0i64;
        if let Some((b'.', frac)) = rest.split_first() {
            let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            let first3: Vec<u8> = frac[..n].iter().copied().chain(*b"000").take(3).collect();
            millis = digits(&first3)?;
            rest = &frac[n..];
        }
        let offset_secs = match rest {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let h = digits(&[*h1, *h2])?;
                let m = digits(&[*m1, *m2])?;
                if h > 23 || m > 59 {
                    return None;
                }
                let off = h * 3600 + m * 60;
                if *sign == b'+' {
                    off
                } else {
                    -off
                }
            }
            _ => return None,
        };
        // A leap second is read as the second after it.
        let secs = days_from_civil(year, month, day) * SECONDS_PER_DAY
            + hour * 3600
            + minute * 60
            + second
            - offset_secs;
        let ms = secs.checked_mul(1000)?.checked_add(millis)?;
        u64::try_from(ms)
            .ok()
            .filter(|&ms| ms <= Self::MAX.0)
            .map(Timestamp)
    }

    /// RFC 3339 in UTC with second precision, e.g. `2026-11-23T12:00:00Z`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.as_secs() as i64;
        let (year, month, day) = civil_from_days(secs.div_euclid(SECONDS_PER_DAY));
        let sod = secs.rem_euclid(SECONDS_PER_DAY);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            sod / 3600,
            sod % 3600 / 60,
            sod % 60
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse_rfc3339(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected an RFC 3339 time such as 2030-01-01T00:00:00Z, got {text:?}"
            ))
        })
    }
}

/// A `Timestamp` as whole milliseconds (`#[serde(with = "crate::time::millis")]`),
/// for the Worker's protocol with its Durable Objects: RFC 3339 text keeps
/// whole seconds, and a lease lasts less than one.
pub mod millis {
    use super::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the milliseconds.
    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(t.as_millis())
    }

    /// Reads the milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        u64::deserialize(d).map(Timestamp::from_millis)
    }
}

fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub(crate) fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants() {
        assert_eq!(Timestamp::from_secs(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::from_secs(1_795_420_800).to_rfc3339(),
            "2026-11-23T08:00:00Z"
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2000-02-29T12:34:56Z"),
            Some(Timestamp::from_secs(951_827_696))
        );
    }

    #[test]
    fn offsets_and_fractions() {
        let utc = Timestamp::parse_rfc3339("2030-01-01T00:00:00Z").unwrap();
        assert_eq!(
            Timestamp::parse_rfc3339("2030-01-01T02:00:00+02:00"),
            Some(utc)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2029-12-31T19:30:00-04:30"),
            Some(utc)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2030-01-01T00:00:00.25Z"),
            Some(utc.plus_millis(250))
        );
    }

    #[test]
    fn years_past_9999_are_refused_even_through_an_offset() {
        assert_eq!(
            Timestamp::parse_rfc3339("9999-12-31T23:59:59.999Z"),
            Some(Timestamp::MAX)
        );
        assert_eq!(Timestamp::parse_rfc3339("9999-12-31T23:59:59-00:01"), None);
        assert_eq!(Timestamp::MAX.to_rfc3339(), "9999-12-31T23:59:59Z");
        assert_eq!(Timestamp::MAX.plus_millis(1), Timestamp::MAX);
    }

    #[test]
    fn rejects_non_rfc3339() {
        for bad in [
            "",
            "2030-01-01",
            "2030-13-01T00:00:00Z",
            "2030-02-30T00:00:00Z",
            "2031-02-29T00:00:00Z",
            "2030-01-01T24:00:00Z",
            "2030-01-01T00:00:00",
            "2030-01-01T00:00:00.Z",
            "2030-01-01T00:00:00+2:00",
            "1969-12-31T23:59:59Z",
            "tomorrow at noon please",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }

    struct FixedClock(Timestamp);
    impl Clock for FixedClock {
        fn now(&self) -> Timestamp {
            self.0
        }
    }

    #[test]
    fn clocks_are_injectable() {
        let clock = FixedClock(Timestamp::from_secs(42));
        assert_eq!(clock.now().as_millis(), 42_000);
    }

    proptest! {
        #[test]
        fn every_time_after_arithmetic_still_round_trips(base in 0u64..=253_402_300_799_999, add in proptest::num::u64::ANY) {
            let t = Timestamp::from_millis(base).plus_millis(add);
            prop_assert!(t <= Timestamp::MAX);
            prop_assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(Timestamp::from_secs(t.as_secs())));
        }

        #[test]
        fn format_then_parse_round_trips(secs in 0u64..253_402_300_799) {
            let t = Timestamp::from_secs(secs);
            prop_assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        }

        #[test]
        fn fuzz_time_parse(s in "\\PC{0,40}") {
            let _ = Timestamp::parse_rfc3339(&s);
        }
    }
}
