//! API keys: the `{sk|rk|pk}_{env}_<body>` format, generation from the
//! platform CSPRNG, and parsing with a checksum so that typos and random
//! strings are rejected before any storage is touched.
//!
//! A body is 32 random base62 characters (≥ 190 bits) followed by a
//! 6-character base62 CRC32 of everything before it. The CRC is not a
//! security feature: it only lets keygate answer "not a key" with zero I/O.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::registry::shard::{Shard, ShardCount};

/// Base62 alphabet used for key bodies, ids and checksums.
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random characters in a key body: 32 × log2(62) ≈ 190.5 bits.
const RANDOM_LEN: usize = 32;
/// Base62 characters of the CRC32 checksum (62^6 > 2^32).
const CHECKSUM_LEN: usize = 6;
/// Random characters in a key id (≈ 95 bits: unique, not secret).
const ID_RANDOM_LEN: usize = 16;
/// Characters after `key_` in a sharded id: the shard, then the random part.
const SHARDED_ID_LEN: usize = 2 + ID_RANDOM_LEN;
/// Longest environment name accepted in a key prefix.
const MAX_ENV_LEN: usize = 16;

/// What a key is allowed to be, visible in its prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// `sk_`: full access to non-admin routes unless narrowed.
    Secret,
    /// `rk_`: explicit scopes only; can never be widened to full access.
    Restricted,
    /// `pk_`: read-only, safe to ship in a browser.
    Publishable,
}

impl KeyType {
    /// The two-letter prefix of keys of this type.
    pub fn prefix(self) -> &'static str {
        match self {
            KeyType::Secret => "sk",
            KeyType::Restricted => "rk",
            KeyType::Publishable => "pk",
        }
    }

    /// The type's name in the API: `secret`, `restricted`, `publishable`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Secret => "secret",
            KeyType::Restricted => "restricted",
            KeyType::Publishable => "publishable",
        }
    }

    fn from_prefix(prefix: &str) -> Option<Self> {
        match prefix {
            "sk" => Some(KeyType::Secret),
            "rk" => Some(KeyType::Restricted),
            "pk" => Some(KeyType::Publishable),
            _ => None,
        }
    }
}

/// An environment name such as `live` or `test`: 1–16 lowercase ASCII
/// letters or digits, so it can sit between underscores in a key prefix.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Environment(String);

impl Environment {
    /// The name as written in keys and configuration.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Environment {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= MAX_ENV_LEN
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok {
            Ok(Environment(s))
        } else {
            Err(format!(
                "environment must be 1-{MAX_ENV_LEN} lowercase letters or digits, got {s:?}"
            ))
        }
    }
}

impl FromStr for Environment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Environment::try_from(s.to_owned())
    }
}

impl From<Environment> for String {
    fn from(e: Environment) -> String {
        e.0
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key's stable identifier (`key_<2 base62 shard><16 base62>`, or
/// `key_<16 base62>` from before sharding). Not secret: it names the key in
/// admin routes, headers to the origin and logs. A rotated key keeps its id,
/// and with it its counters and its registry shard.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

impl KeyId {
    /// Draws a fresh id in `shard` from the platform CSPRNG.
    pub fn generate_in(shard: Shard) -> Result<Self, getrandom::Error> {
        let n = usize::from(shard.index());
        let (hi, lo) = (ALPHABET[n / 62] as char, ALPHABET[n % 62] as char);
        Ok(KeyId(format!(
            "key_{hi}{lo}{}",
            random_base62(ID_RANDOM_LEN)?
        )))
    }

    /// Draws a fresh id in a random shard of `count`.
    pub fn generate(count: ShardCount) -> Result<Self, getrandom::Error> {
        let mut random = [0u8; 4];
        getrandom::fill(&mut random)?;
        KeyId::generate_in(count.pick(u32::from_le_bytes(random)))
    }

    /// The registry shard holding this key: written in the id, or shard 0
    /// for an id from before sharding.
    pub fn shard(&self) -> Shard {
        written_shard(&self.0[4..]).unwrap_or(Shard::HUB)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KeyId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let Some(rest) = s.strip_prefix("key_").filter(|r| r.bytes().all(is_base62)) else {
            return Err("not a key id".to_owned());
        };
        let id = KeyId(s.clone());
        match rest.len() {
            ID_RANDOM_LEN => Ok(id),
            // A shard no deployment can have is no key's.
            SHARDED_ID_LEN if written_shard(rest).is_some() => Ok(id),
            _ => Err("not a key id".to_owned()),
        }
    }
}

impl FromStr for KeyId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        KeyId::try_from(s.to_owned())
    }
}

impl From<KeyId> for String {
    fn from(id: KeyId) -> String {
        id.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a string is not a well-formed key. Kept for tests and messages;
/// clients all get the same `invalid_api_key` answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The prefix is not `sk`, `rk` or `pk` followed by an environment.
    #[error("unknown key prefix")]
    Prefix,
    /// The body has the wrong length or a character outside base62.
    #[error("malformed key body")]
    Body,
    /// The checksum does not match: a typo or a made-up key.
    #[error("key checksum mismatch")]
    Checksum,
}

/// A well-formed API key. Holding one proves only the format and checksum;
/// whether it exists is for storage to say. `Debug` and `Display` are
/// redacted so the secret cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    text: String,
    key_type: KeyType,
    environment: Environment,
}

impl ApiKey {
    /// Generates a new key of the given type and environment.
    pub fn generate(key_type: KeyType, environment: Environment) -> Result<Self, getrandom::Error> {
        let mut text = format!("{}_{}_", key_type.prefix(), environment);
        text.push_str(&random_base62(RANDOM_LEN)?);
        let checksum = base62_fixed(crc32(text.as_bytes()), CHECKSUM_LEN);
        text.push_str(&checksum);
        Ok(ApiKey {
            text,
            key_type,
            environment,
        })
    }

    /// Parses and checksum-verifies a presented key. Pure and cheap: this is
    /// the gate that keeps garbage away from KV and Durable Objects.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let (type_prefix, rest) = text.split_once('_').ok_or(ParseError::Prefix)?;
        let key_type = KeyType::from_prefix(type_prefix).ok_or(ParseError::Prefix)?;
        let (env, body) = rest.split_once('_').ok_or(ParseError::Prefix)?;
        let environment = Environment::from_str(env).map_err(|_| ParseError::Prefix)?;
        if body.len() != RANDOM_LEN + CHECKSUM_LEN || !body.bytes().all(is_base62) {
            return Err(ParseError::Body);
        }
        let (signed, checksum) = text.split_at(text.len() - CHECKSUM_LEN);
        if base62_fixed(crc32(signed.as_bytes()), CHECKSUM_LEN) != checksum {
            return Err(ParseError::Checksum);
        }
        Ok(ApiKey {
            text: text.to_owned(),
            key_type,
            environment,
        })
    }

    /// The key's type, from its prefix.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The key's environment, from its prefix.
    pub fn environment(&self) -> &Environment {
        &self.environment
    }

    /// The full secret. Call sites are few on purpose: hashing, and the
    /// one create/rotate response.
    pub fn expose_secret(&self) -> &str {
        &self.text
    }

    /// A recognisable, non-secret form for listings: `sk_live_abc1…xyz9`.
    pub fn display(&self) -> String {
        let prefix_len = self.text.len() - RANDOM_LEN - CHECKSUM_LEN;
        let head = &self.text[..prefix_len + 4];
        let tail = &self.text[self.text.len() - 4..];
        format!("{head}…{tail}")
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.display())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

/// The shard a sharded id's digits (after `key_`) name, if they name one.
fn written_shard(digits: &str) -> Option<Shard> {
    let value = |c: u8| ALPHABET.iter().position(|&a| a == c).map(|v| v as u16);
    match digits.as_bytes() {
        [hi, lo, rest @ ..] if rest.len() == ID_RANDOM_LEN => {
            Shard::new(value(*hi)? * 62 + value(*lo)?)
        }
        _ => None,
    }
}

fn is_base62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// `len` uniformly random base62 characters. Bytes ≥ 248 are redrawn so
/// that `byte % 62` carries no modulo bias.
pub(crate) fn random_base62(len: usize) -> Result<String, getrandom::Error> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf)?;
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[(b % 62) as usize] as char);
        }
    }
    Ok(out)
}

/// `value` in base62, left-padded with `0` to exactly `len` characters.
fn base62_fixed(mut value: u32, len: usize) -> String {
    let mut digits = vec![b'0'; len];
    for slot in digits.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(digits).expect("base62 alphabet is ASCII")
}

/// CRC-32 (IEEE 802.3), bitwise: keys are short, and a table would cost
/// 1 KB of wasm for no measurable gain.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn live() -> Environment {
        "live".parse().unwrap()
    }

    #[test]
    fn crc32_matches_reference_vector() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn generated_keys_parse_back() {
        for key_type in [KeyType::Secret, KeyType::Restricted, KeyType::Publishable] {
            let key = ApiKey::generate(key_type, live()).unwrap();
            let parsed = ApiKey::parse(key.expose_secret()).unwrap();
            assert_eq!(parsed, key);
            assert_eq!(parsed.key_type(), key_type);
            assert_eq!(parsed.environment().as_str(), "live");
            assert!(key
                .expose_secret()
                .starts_with(&format!("{}_live_", key_type.prefix())));
        }
    }

    #[test]
    fn generated_keys_differ() {
        let a = ApiKey::generate(KeyType::Secret, live()).unwrap();
        let b = ApiKey::generate(KeyType::Secret, live()).unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn every_single_character_flip_is_caught() {
        let key = ApiKey::generate(KeyType::Secret, live()).unwrap();
        let text = key.expose_secret();
        let body_start = "sk_live_".len();
        for i in body_start..text.len() {
            for &c in ALPHABET.iter() {
                if text.as_bytes()[i] == c {
                    continue;
                }
                let mut bytes = text.as_bytes().to_vec();
                bytes[i] = c;
                let flipped = String::from_utf8(bytes).unwrap();
                assert_eq!(
                    ApiKey::parse(&flipped),
                    Err(ParseError::Checksum),
                    "flip at {i} to {} accepted",
                    c as char
                );
            }
        }
    }

    #[test]
    fn changing_the_environment_breaks_the_checksum() {
        let key = ApiKey::generate(KeyType::Secret, live()).unwrap();
        let moved = key.expose_secret().replacen("_live_", "_test_", 1);
        assert_eq!(ApiKey::parse(&moved), Err(ParseError::Checksum));
    }

    #[test]
    fn malformed_keys_are_rejected_with_a_reason() {
        let key = ApiKey::generate(KeyType::Secret, live()).unwrap();
        let text = key.expose_secret();
        assert_eq!(ApiKey::parse(""), Err(ParseError::Prefix));
        assert_eq!(ApiKey::parse("xk_live_abc"), Err(ParseError::Prefix));
        assert_eq!(ApiKey::parse("sk_LIVE_abc"), Err(ParseError::Prefix));
        assert_eq!(ApiKey::parse("sk_live_short"), Err(ParseError::Body));
        assert_eq!(
            ApiKey::parse(&text[..text.len() - 1]),
            Err(ParseError::Body)
        );
        assert_eq!(ApiKey::parse(&format!("{text}0")), Err(ParseError::Body));
        let unicode = format!("{}é", &text[..text.len() - 2]);
        assert_eq!(ApiKey::parse(&unicode), Err(ParseError::Body));
    }

    #[test]
    fn display_and_debug_never_show_the_secret() {
        let key = ApiKey::generate(KeyType::Publishable, live()).unwrap();
        let text = key.expose_secret();
        let shown = key.display();
        assert!(shown.starts_with(&text[..12]));
        assert!(shown.ends_with(&text[text.len() - 4..]));
        assert!(shown.contains('…'));
        assert!(!format!("{key:?}").contains(&text[12..text.len() - 4]));
        assert!(!format!("{key}").contains(&text[12..text.len() - 4]));
    }

    #[test]
    fn key_ids_round_trip_and_reject_garbage() {
        let id = KeyId::generate(ShardCount::ONE).unwrap();
        assert_eq!(id.as_str().parse::<KeyId>().unwrap(), id);
        assert_eq!((id.as_str().len(), id.shard()), (22, Shard::HUB));
        let id = KeyId::generate_in(Shard::new(31).unwrap()).unwrap();
        assert!(id.as_str().starts_with("key_0V"), "{id}");
        assert_eq!(id.as_str().parse::<KeyId>().unwrap().shard().index(), 31);
        let legacy: KeyId = "key_0123456789abcdef".parse().unwrap();
        assert_eq!(legacy.shard(), Shard::HUB);
        // Shard 32 ("0W") and beyond name no shard.
        assert!("key_0W0123456789abcdef".parse::<KeyId>().is_err());
        assert!("key_zz0123456789abcdef".parse::<KeyId>().is_err());
        assert!("key_short".parse::<KeyId>().is_err());
        assert!("kex_0123456789abcdef".parse::<KeyId>().is_err());
        assert!("key_0123456789abcde!".parse::<KeyId>().is_err());
    }

    #[test]
    fn environments_are_validated() {
        assert!("dev".parse::<Environment>().is_ok());
        assert!("".parse::<Environment>().is_err());
        assert!("Live".parse::<Environment>().is_err());
        assert!("li_ve".parse::<Environment>().is_err());
        assert!("a".repeat(17).parse::<Environment>().is_err());
    }

    proptest! {
        #[test]
        fn fuzz_key_parse(s in "\\PC{0,200}") {
            let _ = ApiKey::parse(&s);
        }

        #[test]
        fn fuzz_random_bodies_fail_the_checksum(body in "[0-9A-Za-z]{38}") {
            // A random body passes only if its last 6 characters happen to be
            // the CRC of the rest: about 1 in 4 billion per case.
            prop_assert_eq!(ApiKey::parse(&format!("sk_live_{body}")), Err(ParseError::Checksum));
        }
    }
}
