//! Finding the API key in a request: `Authorization: Bearer <key>` first,
//! then `X-API-Key`. Parsing happens here too, so a request that reaches
//! storage always carries a well-formed, checksum-valid key.

use crate::error::Error;
use crate::key::ApiKey;

/// Which header carried the key, so the proxy strips exactly that one and
/// leaves, say, an origin's own `Authorization: Basic` alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `Authorization: Bearer …`.
    Authorization,
    /// `X-API-Key: …`.
    XApiKey,
}

/// Extracts and parses the presented key. Malformed keys are rejected here,
/// before any I/O, with the same message as unknown ones.
pub fn presented_key(
    authorization: Option<&str>,
    x_api_key: Option<&str>,
) -> Result<(ApiKey, KeySource), Error> {
    let bearer = authorization.and_then(|h| {
        let (scheme, token) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    let (text, source) = match (bearer, x_api_key.map(str::trim)) {
        (Some(t), _) if !t.is_empty() => (t, KeySource::Authorization),
        (_, Some(t)) if !t.is_empty() => (t, KeySource::XApiKey),
        _ => return Err(Error::MISSING_API_KEY),
    };
    ApiKey::parse(text)
        .map(|key| (key, source))
        .map_err(|_| Error::invalid_api_key())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyType;

    fn key() -> ApiKey {
        ApiKey::generate(KeyType::Secret, "live".parse().unwrap()).unwrap()
    }

    #[test]
    fn bearer_then_header() {
        let k = key();
        let bearer = format!("Bearer {}", k.expose_secret());
        assert_eq!(
            presented_key(Some(&bearer), None),
            Ok((k.clone(), KeySource::Authorization))
        );
        let lower = format!("bearer  {} ", k.expose_secret());
        assert_eq!(
            presented_key(Some(&lower), None).unwrap().1,
            KeySource::Authorization
        );
        assert_eq!(
            presented_key(Some("Basic dXNlcjpwYXNz"), Some(k.expose_secret())),
            Ok((k.clone(), KeySource::XApiKey))
        );
    }

    #[test]
    fn missing_and_malformed() {
        assert_eq!(presented_key(None, None), Err(Error::MISSING_API_KEY));
        assert_eq!(
            presented_key(Some("Bearer "), Some("  ")),
            Err(Error::MISSING_API_KEY)
        );
        assert_eq!(
            presented_key(Some("Basic abc"), None),
            Err(Error::MISSING_API_KEY)
        );
        assert_eq!(
            presented_key(Some("Bearer sk_live_nope"), None),
            Err(Error::invalid_api_key())
        );
        assert_eq!(
            presented_key(None, Some("hello")),
            Err(Error::invalid_api_key())
        );
    }

    proptest::proptest! {
        #[test]
        fn fuzz_presented_key(auth in proptest::option::of("\\PC{0,80}"), x in proptest::option::of("\\PC{0,80}")) {
            // Whatever arrives, the answer is a key or a 401, never a panic.
            if let Err(e) = presented_key(auth.as_deref(), x.as_deref()) {
                proptest::prop_assert_eq!(e.status(), 401);
            }
        }
    }
}
