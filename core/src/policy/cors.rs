//! CORS for publishable keys used from browsers: which origins a key lists,
//! and the headers keygate answers with. A preflight carries no key, so it
//! is answered for any origin and grants nothing by itself; the actual
//! response carries `Access-Control-Allow-Origin` only for an origin the
//! key lists, so browsers elsewhere cannot read it.

use serde::{Deserialize, Serialize};

/// A web origin such as `https://app.example.com` (scheme, host, optional
/// port; no path).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebOrigin(String);

impl TryFrom<String> for WebOrigin {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"));
        let ok = rest.is_some_and(|host| {
            !host.is_empty()
                && host.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        });
        if ok {
            Ok(WebOrigin(s.to_ascii_lowercase()))
        } else {
            Err(format!(
                "{s:?} is not an origin such as https://app.example.com"
            ))
        }
    }
}

impl From<WebOrigin> for String {
    fn from(o: WebOrigin) -> String {
        o.0
    }
}

/// Whether `origin` (the request's `Origin` header) is one of `allowed`.
pub fn is_allowed(allowed: &[WebOrigin], origin: &str) -> bool {
    allowed.iter().any(|o| o.0.eq_ignore_ascii_case(origin))
}

/// Headers for a preflight answer, echoing what the browser asked for.
pub fn preflight_headers(
    origin: &str,
    method: Option<&str>,
    headers: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("Access-Control-Allow-Origin", origin.to_owned()),
        (
            "Access-Control-Allow-Methods",
            method.unwrap_or("GET, HEAD").to_owned(),
        ),
        ("Access-Control-Max-Age", "600".to_owned()),
        ("Vary", "Origin".to_owned()),
    ];
    if let Some(h) = headers {
        out.push(("Access-Control-Allow-Headers", h.to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let list: Vec<WebOrigin> = ["https://app.example.com", "http://localhost:3000"]
            .iter()
            .map(|s| WebOrigin::try_from(s.to_string()).unwrap())
            .collect();
        assert!(is_allowed(&list, "https://app.example.com"));
        assert!(is_allowed(&list, "https://APP.example.com"));
        assert!(is_allowed(&list, "http://localhost:3000"));
        assert!(!is_allowed(&list, "https://evil.example.com"));
        assert!(!is_allowed(&list, "null"));
        for bad in [
            "*",
            "app.example.com",
            "https://a.com/path",
            "ftp://a.com",
            "https://",
        ] {
            assert!(WebOrigin::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn preflight_echoes_the_request() {
        let h = preflight_headers("https://a.com", Some("GET"), Some("x-api-key"));
        assert!(h.contains(&("Access-Control-Allow-Origin", "https://a.com".into())));
        assert!(h.contains(&("Access-Control-Allow-Headers", "x-api-key".into())));
    }
}
