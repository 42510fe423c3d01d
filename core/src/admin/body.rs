//! Decoding admin request bodies: size cap, JSON, and a 422 that names the
//! field a body gets wrong.

use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::json_text;

/// Largest admin request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Decodes an admin request body: over [`MAX_BODY_BYTES`] → 413, not JSON
/// → 400 `invalid_json`, JSON of the wrong shape → 422 naming the field
/// (e.g. `rate_limits.per_minute`, or the unknown field itself).
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::payload_too_large(MAX_BODY_BYTES));
    }
    serde_json::from_slice(body).map_err(|e| {
        let field = if e.is_data() {
            // Only this closure is generic: the search is compiled once.
            let fails_with =
                |text: &[u8]| serde_json::from_slice::<T>(text).err().map(|e| reason(&e));
            culprit(body, &reason(&e), &fails_with)
        } else {
            String::new()
        };
        json_error(e, field)
    })
}

/// A decoding error's message without serde_json's position suffix.
fn reason(e: &serde_json::Error) -> String {
    let message = e.to_string();
    match message.split_once(" at line ") {
        Some((reason, _)) => reason.to_owned(),
        None => message,
    }
}

/// Which field of `body` makes decoding fail with `reason`, as a path
/// (`rate_limits.per_minute`, `scopes[1]`; empty for the document itself;
/// for a missing field, the object that lacks it).
///
/// serde_json reports where an error was noticed, not for which field, and
/// tracking the path through every decoder costs tens of KiB of wasm. So
/// the field is found by elimination instead: a field is the culprit if
/// the same body without it fails differently (or not at all), and the
/// search goes on inside it. Decoding visits fields in order and reports
/// the first failure, so removing an innocent field leaves that failure
/// as it was.
fn culprit(body: &[u8], reason_seen: &str, fails_with: &dyn Fn(&[u8]) -> Option<String>) -> String {
    // For a missing field, removing a required sibling fails differently
    // too (the sibling is missing instead): that does not make the sibling
    // the culprit. Only the removed member's own absence is exempt.
    let missing = reason_seen.starts_with(MISSING);
    let is_culprit = |text: &[u8], key: Option<&str>| match fails_with(text) {
        None => true,
        Some(r) => {
            let own_absence = key.is_some_and(|k| r == format!("{MISSING}{k}`"));
            r != reason_seen && !(missing && own_absence)
        }
    };
    let mut path = String::new();
    let mut container = json_text::value_at(body, 0);
    // Bounds the work a pathological body can cause.
    let mut tries = 0;
    'descend: while let Some(at) = container {
        for member in json_text::members(body, at) {
            tries += 1;
            if tries > 200 {
                break 'descend;
            }
            let without = [&body[..member.cut.0], &body[member.cut.1..]].concat();
            if is_culprit(&without, member.key.as_deref()) {
                match &member.key {
                    Some(key) if path.is_empty() => path.push_str(key),
                    Some(key) => {
                        path.push('.');
                        path.push_str(key);
                    }
                    None => path.push_str(&format!("[{}]", member.index)),
                }
                container = Some(member.value);
                continue 'descend;
            }
        }
        break;
    }
    path
}

/// For optional body fields that are not nullable: absent is `None` (with
/// `#[serde(default)]`), but an explicit `null` is refused like any other
/// mistyped value, as the API document says.
pub fn not_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    match <Option<T> as serde::Deserialize>::deserialize(d)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom(
            "invalid type: null, this field is not nullable",
        )),
    }
}

/// An integer body field as JSON Schema reads one: `2980` and `2980.0`
/// alike (an integer-valued number is an integer). Absent is `None` (with
/// `#[serde(default)]`); `null`, fractions and out-of-range values are 422.
pub fn whole<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: FromWhole,
{
    struct Whole;
    impl serde::de::Visitor<'_> for Whole {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
            if v.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&v) {
                Ok(v as u64)
            } else {
                Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
            }
        }
    }
    let n = d.deserialize_f64(Whole)?;
    T::from_whole(n).map(Some).ok_or_else(|| {
        serde::de::Error::invalid_value(serde::de::Unexpected::Unsigned(n), &T::RANGE)
    })
}

/// Integer types [`whole`] reads.
pub trait FromWhole: Sized {
    /// The accepted range, for the error message.
    const RANGE: &'static str;
    /// `n` as this type, if it fits.
    fn from_whole(n: u64) -> Option<Self>;
}

impl FromWhole for u64 {
    const RANGE: &'static str = "a whole number";
    fn from_whole(n: u64) -> Option<Self> {
        Some(n)
    }
}

impl FromWhole for std::num::NonZeroU32 {
    const RANGE: &'static str = "a whole number from 1 to 4294967295";
    fn from_whole(n: u64) -> Option<Self> {
        u32::try_from(n).ok().and_then(std::num::NonZeroU32::new)
    }
}

fn json_error(e: serde_json::Error, path: String) -> Error {
    if !e.is_data() {
        return Error::invalid_json(e.to_string());
    }
    let message = reason(&e);
    let field = match message
        .strip_prefix(MISSING)
        .and_then(|rest| rest.split('`').next())
    {
        // Reported inside the object that lacks it.
        Some(name) if path.is_empty() => name.to_owned(),
        Some(name) => format!("{path}.{name}"),
        None if path.is_empty() => ".".to_owned(),
        None => path,
    };
    Error::invalid(field, message)
}

/// How serde begins the message for a missing field (then its name and a backtick).
const MISSING: &str = "missing field `";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Detail, ErrorKind};

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        limits: Option<Limits>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Limits {
        per_minute: std::num::NonZeroU32,
    }

    fn field_of(body: &str) -> String {
        match parse_body::<Body>(body.as_bytes()).map_err(Error::into_detail) {
            Err(Detail::Field { field, .. }) => field,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn bodies() {
        assert!(parse_body::<Body>(br#"{"name":"a"}"#).is_ok());
        for bad in ["", "{", "{\"name\":", "nope", "{\"name\":\"a\"} trailing"] {
            assert!(
                matches!(
                    parse_body::<Body>(bad.as_bytes()),
                    Err(e) if e.kind() == ErrorKind::InvalidJson
                ),
                "{bad}"
            );
        }
        assert_eq!(field_of(r#"{"name":1}"#), "name");
        assert_eq!(field_of(r#"{"name":"a","extra":1}"#), "extra");
        assert_eq!(
            field_of(r#"{"name":"a","limits":{"per_minute":0}}"#),
            "limits.per_minute"
        );
        assert_eq!(
            field_of(r#"{"name":"a","limits":{"burst":1}}"#),
            "limits.burst"
        );
        // A missing field is named inside the object that lacks it.
        assert_eq!(field_of(r#"{"limits":{"per_minute":1}}"#), "name");
        assert_eq!(field_of(r#"{"name":"a","limits":{}}"#), "limits.per_minute");
        assert_eq!(field_of(r#"[]"#), ".");
        let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        assert_eq!(
            parse_body::<Body>(big.as_bytes()).unwrap_err(),
            Error::payload_too_large(MAX_BODY_BYTES)
        );
    }
}
