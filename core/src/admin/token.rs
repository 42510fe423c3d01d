//! The admin token: its minimum length and its constant-time check.

use sha2::{Digest, Sha256};

use crate::error::Error;

/// Shortest `ADMIN_TOKEN` keygate accepts: a right credential is never
/// locked out (see [`crate::guard`]), so the token itself must be too long
/// to guess. `openssl rand -hex 32` gives 64 characters.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 24;

/// The configured admin token, if it is long enough to use; a shorter one
/// disables the admin token (and is logged), it never weakens it.
pub fn configured_token(secret: Option<String>) -> Option<String> {
    secret.filter(|t| t.chars().count() >= MIN_ADMIN_TOKEN_CHARS)
}

/// Checks a presented admin token against the configured one in constant
/// time: both are hashed first, so neither content nor length leaks through
/// timing. `None` configured means admin routes are disabled (503), never
/// open.
pub fn check_admin_token(
    configured: Option<&str>,
    authorization: Option<&str>,
) -> Result<(), Error> {
    let expected = configured
        .filter(|t| !t.is_empty())
        .ok_or(Error::ADMIN_DISABLED)?;
    let presented = authorization
        .and_then(|h| h.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .unwrap_or("");
    let a = Sha256::digest(expected.as_bytes());
    let b = Sha256::digest(presented.as_bytes());
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    if diff == 0 {
        Ok(())
    } else {
        Err(Error::UNAUTHORIZED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_token() {
        assert_eq!(
            check_admin_token(None, Some("Bearer x")),
            Err(Error::ADMIN_DISABLED)
        );
        assert_eq!(
            check_admin_token(Some(""), Some("Bearer ")),
            Err(Error::ADMIN_DISABLED)
        );
        assert_eq!(configured_token(Some("short".into())), None);
        assert_eq!(configured_token(Some("x".repeat(23))), None);
        assert_eq!(configured_token(Some("x".repeat(24))), Some("x".repeat(24)));
        assert_eq!(
            check_admin_token(Some("s3cret"), Some("Bearer s3cret")),
            Ok(())
        );
        assert_eq!(
            check_admin_token(Some("s3cret"), Some("bearer s3cret ")),
            Ok(())
        );
        assert_eq!(
            check_admin_token(Some("s3cret"), Some("Bearer s3cre")),
            Err(Error::UNAUTHORIZED)
        );
        assert_eq!(
            check_admin_token(Some("s3cret"), Some("Basic s3cret")),
            Err(Error::UNAUTHORIZED)
        );
        assert_eq!(
            check_admin_token(Some("s3cret"), None),
            Err(Error::UNAUTHORIZED)
        );
    }
}
