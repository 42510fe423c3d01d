//! Named limits (`"limits": [{"name": "burst", "limit": 10,
//! "window_seconds": 1}]`), the key-wide choice of fixed or rolling
//! windows, and `PolicyName`, the name every limit is reported under
//! (`minute`, `day`, or a named limit's own).

use std::fmt;
use std::num::NonZeroU32;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// Most named limits one key (or tier) may hold.
pub const MAX_NAMED_LIMITS: usize = 16;
/// Longest window a named limit may have: 31 days.
pub const MAX_WINDOW_SECS: u32 = 31 * 86_400;
/// Longest window that rolls when a key chooses rolling windows: an hour.
/// Longer windows stay fixed (aligned to the epoch; a day is a UTC day).
pub const MAX_ROLLING_SECS: u32 = 3_600;
/// Longest limit name, in bytes.
pub const MAX_NAME_LEN: usize = 32;

/// How a key's windows of an hour or less count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowKind {
    /// Windows aligned to the epoch (a minute starts on a whole minute):
    /// a burst may straddle a boundary and see twice the limit in one span.
    #[default]
    Fixed,
    /// No span of the window's length ever holds more than the limit.
    Rolling,
}

/// The name a limit is reported under: `minute`, `day`, or a named
/// limit's name (lowercase letters, digits, `_` and `-`; at most 32
/// bytes). Stored inline, so quotas that carry it stay `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyName {
    len: u8,
    bytes: [u8; MAX_NAME_LEN],
}

impl PolicyName {
    /// The per-minute limit.
    pub const MINUTE: PolicyName = PolicyName::fixed(b"minute");
    /// The per-day limit.
    pub const DAY: PolicyName = PolicyName::fixed(b"day");

    const fn fixed(name: &[u8]) -> PolicyName {
        let mut bytes = [0u8; MAX_NAME_LEN];
        let mut i = 0;
        while i < name.len() {
            bytes[i] = name[i];
            i += 1;
        }
        PolicyName {
            len: name.len() as u8,
            bytes,
        }
    }

    /// `name` if it is a valid limit name.
    pub fn parse(name: &str) -> Option<PolicyName> {
        let valid = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        valid.then(|| PolicyName::fixed(name.as_bytes()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).expect("ASCII")
    }
}

impl Default for PolicyName {
    fn default() -> Self {
        PolicyName::MINUTE
    }
}

impl fmt::Debug for PolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for PolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for PolicyName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PolicyName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        PolicyName::parse(&name).ok_or_else(|| {
            serde::de::Error::custom("must be 1-32 lowercase letters, digits, `_` or `-`")
        })
    }
}

/// One named limit: at most `limit` units per `window_seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedLimit {
    /// Reported in headers and refusals; unique per key.
    pub name: PolicyName,
    /// Units admitted per window.
    pub limit: NonZeroU32,
    /// The window, 1 s to 31 days.
    pub window_seconds: NonZeroU32,
}

/// A route's draw on one named limit (see [`crate::policy::route`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draw {
    /// The named limit.
    pub limit: PolicyName,
    /// Units a request to the route spends in it.
    pub cost: NonZeroU32,
}

/// What a request spends: `cost` in the minute and day limits and the
/// credits, and in named limits either `cost` in each (`draws: None`) or
/// only in those the route lists, at their own costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Charge<'a> {
    /// The route's cost.
    pub cost: u32,
    /// The route's draws on named limits, if it lists them.
    pub draws: Option<&'a [Draw]>,
}

impl Charge<'_> {
    /// `cost` in every limit.
    pub fn flat(cost: u32) -> Charge<'static> {
        Charge { cost, draws: None }
    }

    /// What this request spends in limit `name` (`None`: nothing).
    pub fn in_limit(&self, name: PolicyName) -> Option<u32> {
        match self.draws {
            _ if name == PolicyName::MINUTE || name == PolicyName::DAY => Some(self.cost),
            None => Some(self.cost),
            Some(draws) => draws.iter().find(|d| d.limit == name).map(|d| d.cost.get()),
        }
    }
}

/// Checks a key's (or tier's) named limits: at most
/// [`MAX_NAMED_LIMITS`], names unique and not `minute` or `day`, windows
/// of at most 31 days. The error names the offending entry's field.
pub fn validate(limits: &[NamedLimit], field: &str) -> Result<(), Error> {
    if limits.len() > MAX_NAMED_LIMITS {
        return Err(Error::invalid(
            field,
            format!("must hold at most {MAX_NAMED_LIMITS} limits"),
        ));
    }
    for (i, limit) in limits.iter().enumerate() {
        if limit.name == PolicyName::MINUTE || limit.name == PolicyName::DAY {
            return Err(Error::invalid(
                format!("{field}[{i}].name"),
                "`minute` and `day` are the names of `rate_limits`",
            ));
        }
        if limits[..i].iter().any(|l| l.name == limit.name) {
            return Err(Error::invalid(
                format!("{field}[{i}].name"),
                "must be unique",
            ));
        }
        if limit.window_seconds.get() > MAX_WINDOW_SECS {
            return Err(Error::invalid(
                format!("{field}[{i}].window_seconds"),
                format!("must be 1-{MAX_WINDOW_SECS} (31 days)"),
            ));
        }
    }
    Ok(())
}

/// A named limit for tests: `limit` per `secs`.
#[cfg(test)]
pub(crate) fn named(name: &str, limit: u32, secs: u32) -> NamedLimit {
    NamedLimit {
        name: PolicyName::parse(name).unwrap(),
        limit: NonZeroU32::new(limit).unwrap(),
        window_seconds: NonZeroU32::new(secs).unwrap(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_lowercase_tokens() {
        assert_eq!(
            PolicyName::parse("burst-1_a").unwrap().as_str(),
            "burst-1_a"
        );
        for bad in ["", "Burst", "a b", "ä", &"x".repeat(33), "a;b"] {
            assert!(PolicyName::parse(bad).is_none(), "{bad:?}");
        }
        assert_eq!(PolicyName::MINUTE.as_str(), "minute");
        assert_eq!(
            PolicyName::parse(&"x".repeat(32)).unwrap().as_str().len(),
            32
        );
    }

    #[test]
    fn named_limits_decode_strictly() {
        let ok: Vec<NamedLimit> =
            serde_json::from_str(r#"[{"name":"burst","limit":10,"window_seconds":1}]"#).unwrap();
        assert_eq!(ok, vec![named("burst", 10, 1)]);
        for bad in [
            r#"[{"name":"burst","limit":0,"window_seconds":1}]"#,
            r#"[{"name":"burst","limit":1,"window_seconds":0}]"#,
            r#"[{"name":"Burst","limit":1,"window_seconds":1}]"#,
            r#"[{"name":"burst","limit":1,"window_seconds":1,"x":1}]"#,
            r#"[{"name":"burst","limit":1}]"#,
        ] {
            assert!(
                serde_json::from_str::<Vec<NamedLimit>>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn validation_names_the_entry() {
        assert_eq!(
            validate(
                &[named("a", 1, 1), named("b", 1, MAX_WINDOW_SECS)],
                "limits"
            ),
            Ok(())
        );
        let field = |r: Result<(), Error>| {
            r.unwrap_err().body(crate::time::Timestamp::from_secs(0))["error"]["field"].clone()
        };
        assert_eq!(
            field(validate(&[named("a", 1, 1), named("a", 2, 2)], "limits")),
            "limits[1].name"
        );
        assert_eq!(
            field(validate(&[named("minute", 1, 1)], "limits")),
            "limits[0].name"
        );
        assert_eq!(
            field(validate(&[named("a", 1, MAX_WINDOW_SECS + 1)], "limits")),
            "limits[0].window_seconds"
        );
        let many: Vec<NamedLimit> = (0..=MAX_NAMED_LIMITS)
            .map(|i| named(&format!("l{i}"), 1, 1))
            .collect();
        assert_eq!(field(validate(&many, "limits")), "limits");
    }
}
