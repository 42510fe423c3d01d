//! The signed identity header that lets an origin check a request came
//! through keygate: `X-Keygate-Signature: t=<unix seconds>,v1=<hex>`, an
//! HMAC-SHA256 under the deployment's `ORIGIN_SECRET` over
//!
//! ```text
//! <t>\n<X-Keygate-Key-Id>\n<X-Keygate-Owner-Id or empty>\n<X-Keygate-Environment>
//! ```
//!
//! Origins accept it only when `t` is recent (the README's example allows
//! 60 s), so a captured header is useless soon after.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::time::Timestamp;

/// The header carrying the signature.
pub const HEADER: &str = "X-Keygate-Signature";

/// The shared secret, from `ORIGIN_SECRET`. Its `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    /// A key from the secret's text; `None` when it is empty.
    pub fn new(secret: &str) -> Option<SigningKey> {
        (!secret.is_empty()).then(|| SigningKey(secret.as_bytes().to_vec()))
    }

    /// The header value for a request admitted at `at` with these identity
    /// headers.
    pub fn sign(
        &self,
        at: Timestamp,
        key_id: &str,
        owner_id: Option<&str>,
        environment: &str,
    ) -> String {
        let t = at.as_secs();
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(format!("{t}\n{key_id}\n{}\n{environment}", owner_id.unwrap_or("")).as_bytes());
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rfc_4231_construction() {
        // HMAC-SHA256 test case 2 of RFC 4231: key "Jefe".
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signs_the_identity_and_time() {
        let k = SigningKey::new("s3cret").unwrap();
        let at = Timestamp::from_secs(1_800_000_000);
        let a = k.sign(at, "key_1", Some("acme"), "live");
        assert!(a.starts_with("t=1800000000,v1="));
        assert_eq!(a.len(), "t=1800000000,v1=".len() + 64);
        assert_ne!(a, k.sign(at, "key_1", Some("globex"), "live"));
        assert_ne!(a, k.sign(at, "key_1", None, "live"));
        assert_ne!(
            a,
            k.sign(at.plus_millis(1_000), "key_1", Some("acme"), "live")
        );
        assert_ne!(
            a,
            SigningKey::new("other")
                .unwrap()
                .sign(at, "key_1", Some("acme"), "live")
        );
        assert!(SigningKey::new("").is_none());
        assert!(!format!("{k:?}").contains("s3cret"));
    }
}
