//! The signed identity header that lets an origin check a request came
//! through keygate: `X-Keygate-Signature: t=<unix seconds>,v1=<hex>`, an
//! HMAC-SHA256 under the deployment's `ORIGIN_SECRET` over
//!
//! ```text
//! <t>\n<method>\n<path and query>\n<X-Keygate-Key-Id>\n<X-Keygate-Owner-Id or empty>\n<X-Keygate-Environment>
//! ```
//!
//! Binding the method and the path means a captured header vouches for
//! that one request only; origins accept it only when `t` is recent (the
//! README's example allows 60 s).

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::time::Timestamp;

/// The header carrying the signature.
pub const HEADER: &str = "X-Keygate-Signature";

/// The shared secret, from `ORIGIN_SECRET`. Its `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

/// What the signature vouches for: the request as the origin receives it.
#[derive(Clone, Copy)]
pub struct Signed<'a> {
    /// The method forwarded.
    pub method: &'a str,
    /// The path and query forwarded.
    pub path_and_query: &'a str,
    /// `X-Keygate-Key-Id`.
    pub key_id: &'a str,
    /// `X-Keygate-Owner-Id`, if sent.
    pub owner_id: Option<&'a str>,
    /// `X-Keygate-Environment`.
    pub environment: &'a str,
}

impl SigningKey {
    /// A key from the secret's text; `None` when it is empty.
    pub fn new(secret: &str) -> Option<SigningKey> {
        (!secret.is_empty()).then(|| SigningKey(secret.as_bytes().to_vec()))
    }

    /// The header value for `request`, admitted at `at`.
    pub fn sign(&self, at: Timestamp, request: &Signed<'_>) -> String {
        let t = at.as_secs();
        let Signed {
            method,
            path_and_query,
            key_id,
            owner_id,
            environment,
        } = request;
        let owner = owner_id.unwrap_or("");
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(
            format!("{t}\n{method}\n{path_and_query}\n{key_id}\n{owner}\n{environment}").as_bytes(),
        );
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
    fn signs_the_request_identity_and_time() {
        let k = SigningKey::new("s3cret").unwrap();
        let at = Timestamp::from_secs(1_800_000_000);
        let req = Signed {
            method: "GET",
            path_and_query: "/v1/orders/1?x=2",
            key_id: "key_1",
            owner_id: Some("acme"),
            environment: "live",
        };
        let a = k.sign(at, &req);
        assert!(a.starts_with("t=1800000000,v1="));
        assert_eq!(a.len(), "t=1800000000,v1=".len() + 64);
        for other in [
            Signed {
                owner_id: Some("globex"),
                ..req
            },
            Signed {
                owner_id: None,
                ..req
            },
            Signed {
                method: "DELETE",
                ..req
            },
            Signed {
                path_and_query: "/v1/orders/2",
                ..req
            },
        ] {
            assert_ne!(a, k.sign(at, &other));
        }
        assert_ne!(a, k.sign(at.plus_millis(1_000), &req));
        assert_ne!(a, SigningKey::new("other").unwrap().sign(at, &req));
        assert!(SigningKey::new("").is_none());
        assert!(!format!("{k:?}").contains("s3cret"));
    }
}
