//! Signing secrets and signatures, as the Standard Webhooks specification
//! defines them: a secret is `whsec_` and the base64 of random bytes; the
//! `webhook-signature` header is `v1,` and the base64 of an HMAC-SHA256,
//! under those bytes, of `{webhook-id}.{webhook-timestamp}.{body}`.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Random bytes in a new secret (the specification asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// An endpoint's signing secret. Stored as hex; shown to the admin once,
/// as [`WebhookSecret::to_text`]. Its `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// Draws a fresh secret from the platform CSPRNG.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = vec![0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(WebhookSecret(bytes))
    }

    /// The secret from its stored (hex) form.
    pub fn from_hex(stored: &str) -> Option<Self> {
        hex::decode(stored).ok().map(WebhookSecret)
    }

    /// Its stored form.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// As the receiver configures it: `whsec_…`.
    pub fn to_text(&self) -> String {
        format!("whsec_{}", base64(&self.0))
    }

    /// The `webhook-signature` value for message `id` sent at `timestamp`
    /// (Unix seconds, as in `webhook-timestamp`) with `body`.
    pub fn sign(&self, id: &str, timestamp: u64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", base64(&mac.finalize().into_bytes()))
    }
}

/// Standard base64 with padding (RFC 4648 §4): a few lines here cost less
/// wasm than a crate, and the receiver's own library checks the result in
/// the integration tests.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn signs_as_the_specification_example_and_its_library_do() {
        // The specification's test vector; `standardwebhooks` (npm) gives
        // the same signature.
        let secret =
            WebhookSecret::from_hex("31f290f6bf06298aab4f08d43c3f082cf648a362da2da4b0").unwrap();
        assert_eq!(secret.to_text(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let signature = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert_eq!(
            WebhookSecret::from_hex(&secret.to_hex()),
            Some(secret.clone())
        );
        assert_eq!(format!("{secret:?}"), "WebhookSecret(..)");
    }
}
