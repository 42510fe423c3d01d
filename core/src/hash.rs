//! `KeyHash`: the SHA-256 of a full API key, the only form of a key that is
//! ever stored or looked up.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::key::ApiKey;

/// Lowercase hex SHA-256 of a key's full text. Keys carry ≥ 190 random
/// bits, so an unsalted fast hash is enough: there is nothing to brute-force.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyHash(String);

impl KeyHash {
    /// Hashes a parsed key.
    pub fn of(key: &ApiKey) -> Self {
        KeyHash(hex::encode(Sha256::digest(key.expose_secret().as_bytes())))
    }

    /// The hex digest, used as the KV key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A short one-way name of a key's secret (a digest of its hash), which a
/// dashboard session carries so that it stays tied to the secret it was
/// opened with: rotate that secret away and the session ends. It opens
/// nothing and finds no record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretFingerprint(String);

impl SecretFingerprint {
    /// Hex characters in a fingerprint (64 bits: it tells a key's few
    /// live secrets apart, nothing more).
    const LEN: usize = 16;

    /// A fingerprint as the session cookie writes it.
    pub fn parse(s: &str) -> Option<SecretFingerprint> {
        (s.len() == Self::LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| SecretFingerprint(s.to_owned()))
    }

    /// The hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl KeyHash {
    /// This secret's fingerprint.
    pub fn fingerprint(&self) -> SecretFingerprint {
        let digest = Sha256::digest(format!("keygate session\n{}", self.0).as_bytes());
        SecretFingerprint(hex::encode(digest)[..SecretFingerprint::LEN].to_owned())
    }
}

// Hashes are not secrets, but they let anyone with KV access find a record,
// so they stay out of logs too.
impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({}…)", &self.0[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyType;

    #[test]
    fn hash_is_sha256_hex_of_the_full_key() {
        let key = ApiKey::generate(KeyType::Secret, "test".parse().unwrap()).unwrap();
        let hash = KeyHash::of(&key);
        assert_eq!(hash.as_str().len(), 64);
        assert!(hash
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(
            hash,
            KeyHash::of(&ApiKey::parse(key.expose_secret()).unwrap())
        );
        assert!(!hash.as_str().contains(key.expose_secret()));
    }

    #[test]
    fn known_vector() {
        // sha256("abc"), to pin the algorithm and encoding.
        assert_eq!(
            hex::encode(Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn distinct_keys_hash_apart() {
        let env = "live".parse().unwrap();
        let a = ApiKey::generate(KeyType::Secret, env).unwrap();
        let b = ApiKey::generate(KeyType::Secret, "live".parse().unwrap()).unwrap();
        assert_ne!(KeyHash::of(&a), KeyHash::of(&b));
    }
}
