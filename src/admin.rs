//! The admin API's route table and its token check. Pure: the edge matches
//! a method and path here, then calls the handler for the route.
//!
//! Routes, under the configured prefix (default `/_keygate`):
//!
//! | method | path | auth |
//! |---|---|---|
//! | `POST` | `/v1/keys` | admin token |
//! | `GET` | `/v1/keys/{id}` | admin token |
//! | `DELETE` | `/v1/keys/{id}` | admin token |
//! | `GET` | `/v1/whoami` | the API key itself |

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::key::KeyId;

/// Largest admin request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A matched admin route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminRoute {
    /// `POST /v1/keys`: issue a key.
    CreateKey,
    /// `GET /v1/keys/{id}`: read a key.
    GetKey(KeyId),
    /// `DELETE /v1/keys/{id}`: revoke a key.
    RevokeKey(KeyId),
    /// `GET /v1/whoami`: describe the presented API key.
    Whoami,
}

impl AdminRoute {
    /// Whether the route is authenticated by the admin token (the others
    /// by the caller's own API key).
    pub fn needs_admin(&self) -> bool {
        !matches!(self, AdminRoute::Whoami)
    }
}

/// Matches `path` against the admin API. `None`: the path is not under the
/// prefix and is an API call to forward. Under the prefix, an unknown path
/// is `not_found` and a known one with the wrong method `method_not_allowed`.
pub fn match_route(prefix: &str, method: &str, path: &str) -> Option<Result<AdminRoute, Error>> {
    let rest = path.strip_prefix(prefix)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let route = match (method, segments.as_slice()) {
        ("POST", ["v1", "keys"]) => Ok(AdminRoute::CreateKey),
        ("GET", ["v1", "whoami"]) => Ok(AdminRoute::Whoami),
        (method, ["v1", "keys", id]) => match id.parse::<KeyId>() {
            Err(_) => Err(Error::NotFound),
            Ok(id) => match method {
                "GET" => Ok(AdminRoute::GetKey(id)),
                "DELETE" => Ok(AdminRoute::RevokeKey(id)),
                _ => Err(Error::MethodNotAllowed),
            },
        },
        (_, ["v1", "keys"] | ["v1", "whoami"]) => Err(Error::MethodNotAllowed),
        _ => Err(Error::NotFound),
    };
    Some(route)
}

/// Checks a presented admin token against the configured one in constant
/// time: both are hashed first, so neither content nor length leaks through
/// timing. `None` configured means admin routes are disabled (503), never
/// open.
pub fn check_admin_token(configured: Option<&str>, authorization: Option<&str>) -> Result<(), Error> {
    let expected = configured.filter(|t| !t.is_empty()).ok_or(Error::AdminDisabled)?;
    let presented = authorization
        .and_then(|h| h.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .unwrap_or("");
    let a = Sha256::digest(expected.as_bytes());
    let b = Sha256::digest(presented.as_bytes());
    let diff = a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    if diff == 0 {
        Ok(())
    } else {
        Err(Error::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/_keygate";

    #[test]
    fn routes() {
        let id = KeyId::generate().unwrap();
        let item = format!("{P}/v1/keys/{id}");
        assert_eq!(match_route(P, "POST", "/_keygate/v1/keys"), Some(Ok(AdminRoute::CreateKey)));
        assert_eq!(match_route(P, "POST", "/_keygate/v1/keys/"), Some(Ok(AdminRoute::CreateKey)));
        assert_eq!(match_route(P, "GET", &item), Some(Ok(AdminRoute::GetKey(id.clone()))));
        assert_eq!(match_route(P, "DELETE", &item), Some(Ok(AdminRoute::RevokeKey(id))));
        assert_eq!(match_route(P, "GET", "/_keygate/v1/whoami"), Some(Ok(AdminRoute::Whoami)));
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert_eq!(match_route(P, "GET", "/_keygate/v2"), Some(Err(Error::NotFound)));
        assert_eq!(match_route(P, "GET", "/_keygate"), Some(Err(Error::NotFound)));
        assert_eq!(match_route(P, "GET", "/_keygate/v1/keys/nope"), Some(Err(Error::NotFound)));
        assert_eq!(match_route(P, "PUT", "/_keygate/v1/keys"), Some(Err(Error::MethodNotAllowed)));
        let item = format!("{P}/v1/keys/{}", KeyId::generate().unwrap());
        assert_eq!(match_route(P, "POST", &item), Some(Err(Error::MethodNotAllowed)));
    }

    #[test]
    fn paths_outside_the_prefix_are_api_calls() {
        assert_eq!(match_route(P, "GET", "/v1/orders"), None);
        assert_eq!(match_route(P, "GET", "/_keygateway/v1/keys"), None);
    }

    #[test]
    fn admin_token() {
        assert_eq!(check_admin_token(None, Some("Bearer x")), Err(Error::AdminDisabled));
        assert_eq!(check_admin_token(Some(""), Some("Bearer ")), Err(Error::AdminDisabled));
        assert_eq!(check_admin_token(Some("s3cret"), Some("Bearer s3cret")), Ok(()));
        assert_eq!(check_admin_token(Some("s3cret"), Some("bearer s3cret ")), Ok(()));
        assert_eq!(check_admin_token(Some("s3cret"), Some("Bearer s3cre")), Err(Error::Unauthorized));
        assert_eq!(check_admin_token(Some("s3cret"), Some("Basic s3cret")), Err(Error::Unauthorized));
        assert_eq!(check_admin_token(Some("s3cret"), None), Err(Error::Unauthorized));
    }
}
