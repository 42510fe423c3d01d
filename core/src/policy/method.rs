//! Request methods as the client sent them. The runtime's own `Method`
//! type reads any method it does not know as `GET`, so keygate judges the
//! raw token instead: only `GET`, `HEAD` and `OPTIONS` read, every other
//! token is forwarded unchanged, and what `fetch` cannot send is refused
//! before any quota is spent.

use crate::error::Error;

/// Methods that only read: all a publishable key may use.
pub fn is_read(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// Refuses, before any lookup, a request keygate could not forward as it
/// was sent: a method `fetch` forbids (`CONNECT`, `TRACE`, `TRACK`), or a
/// body on a `GET` or `HEAD` (which `fetch` cannot carry and origins
/// disagree about).
pub fn check_forwardable(method: &str, has_body: bool) -> Result<(), Error> {
    if ["CONNECT", "TRACE", "TRACK"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(method))
    {
        return Err(Error::METHOD_NOT_SUPPORTED);
    }
    if has_body && matches!(method, "GET" | "HEAD") {
        return Err(Error::BODY_NOT_ALLOWED);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_head_and_options_read() {
        for m in ["GET", "HEAD", "OPTIONS"] {
            assert!(is_read(m), "{m}");
        }
        for m in [
            "POST", "MOVE", "PURGE", "PROPFIND", "QUERY", "get", "SEARCH", "LOCK",
        ] {
            assert!(!is_read(m), "{m}");
        }
    }

    #[test]
    fn what_fetch_cannot_send_is_refused_up_front() {
        assert_eq!(check_forwardable("MOVE", true), Ok(()));
        assert_eq!(check_forwardable("POST", true), Ok(()));
        assert_eq!(check_forwardable("GET", false), Ok(()));
        assert_eq!(check_forwardable("GET", true), Err(Error::BODY_NOT_ALLOWED));
        assert_eq!(
            check_forwardable("HEAD", true),
            Err(Error::BODY_NOT_ALLOWED)
        );
        assert_eq!(
            check_forwardable("trace", false),
            Err(Error::METHOD_NOT_SUPPORTED)
        );
        assert_eq!(
            check_forwardable("CONNECT", false),
            Err(Error::METHOD_NOT_SUPPORTED)
        );
    }
}
