//! The one canonical form of a request path: what the route table judges
//! and exactly what the origin receives, so that keygate and the origin
//! can never read one request as two different paths.
//!
//! From the path as the runtime serialized it (percent-encoded):
//! - escapes of unreserved characters are decoded (`%41` → `A`, `%7E` → `~`),
//!   every other escape is kept, upper-cased (`%c3%a9` → `%C3%A9`);
//! - `.` segments are dropped, `..` removes the segment before it, empty
//!   segments (`//`) collapse; a trailing `/` is kept;
//! - anything that origins disagree about is refused with 400
//!   `invalid_path`: `;` in a segment (Tomcat/Spring path parameters, as in
//!   `/assets/..;/orders`), an encoded `/`, `\`, `.` or `;`, a raw `\`, NUL,
//!   a malformed escape, and `..` above the root.
//!
//! Matching is case-sensitive on the result.

use crate::error::Error;

/// Why a path is refused: the message of the 400.
fn refuse(why: &str) -> Error {
    Error::invalid_path(format!("The request path is ambiguous: {why}."))
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Decodes one segment's harmless escapes and refuses its ambiguous ones.
fn segment(raw: &str) -> Result<String, Error> {
    let b = raw.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    b.get(i + 1).copied().and_then(hex),
                    b.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(refuse("a malformed percent-escape"));
                };
                let c = hi << 4 | lo;
                match c {
                    b'/' | b'\\' | b'.' | b';' | 0 => {
                        return Err(refuse("an encoded '/', '\\', '.', ';' or NUL"))
                    }
                    c if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'~') => {
                        out.push(c as char)
                    }
                    c => {
                        out.push('%');
                        out.push_str(&format!("{c:02X}"));
                    }
                }
                i += 3;
            }
            b';' => return Err(refuse("';' in a path segment")),
            b'\\' => return Err(refuse("a '\\' in the path")),
            0 => return Err(refuse("a NUL byte")),
            c => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// The canonical form of `raw`, a path starting with `/` (no query).
pub fn canonical(raw: &str) -> Result<String, Error> {
    if !raw.is_ascii() {
        return Err(refuse("raw non-ASCII characters"));
    }
    let mut segments: Vec<String> = Vec::new();
    for part in raw.split('/').filter(|s| !s.is_empty()) {
        let decoded = segment(part)?;
        if decoded == ".." {
            if segments.pop().is_none() {
                return Err(refuse("'..' above the root"));
            }
        } else if decoded != "." {
            segments.push(decoded);
        }
    }
    let mut path = String::with_capacity(raw.len());
    for s in &segments {
        path.push('/');
        path.push_str(s);
    }
    if path.is_empty() || raw.ends_with('/') {
        path.push('/');
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use proptest::prelude::*;

    #[test]
    fn harmless_forms_become_one() {
        for (raw, want) in [
            ("/", "/"),
            ("", "/"),
            ("/v1/orders", "/v1/orders"),
            ("/v1/orders/", "/v1/orders/"),
            ("//v1///orders", "/v1/orders"),
            ("/v1/./orders", "/v1/orders"),
            ("/v1/assets/../orders", "/v1/orders"),
            ("/v1/%6Frders", "/v1/orders"),
            ("/v1/%7euser", "/v1/~user"),
            ("/v1/caf%c3%a9", "/v1/caf%C3%A9"),
            ("/v1/a%20b", "/v1/a%20b"),
        ] {
            assert_eq!(canonical(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn ambiguous_forms_are_refused() {
        for raw in [
            "/v1/assets/..;/orders/42",
            "/v1/assets;x=1/a",
            "/v1/assets/%2e%2e/orders",
            "/v1/assets/%2E/x",
            "/v1/assets%2F..%2Forders",
            "/v1/assets%5c..%5corders",
            "/v1/a\\b",
            "/v1/%00",
            "/v1/%3B",
            "/v1/%zz",
            "/v1/%4",
            "/..",
            "/v1/../../etc",
            "/v1/é",
        ] {
            assert!(
                matches!(canonical(raw), Err(e) if e.kind() == ErrorKind::InvalidPath),
                "{raw}: {:?}",
                canonical(raw)
            );
        }
    }

    proptest! {
        /// Canonical paths are fixed points, and never contain what an
        /// origin could read differently.
        #[test]
        fn fuzz_canonical_is_stable_and_unambiguous(raw in "(/[a-zA-Z0-9%;.\\\\~_-]{0,8}){0,6}/?") {
            if let Ok(c) = canonical(&raw) {
                let again = canonical(&c);
                prop_assert_eq!(again.as_deref(), Ok(c.as_str()));
                prop_assert!(c.starts_with('/'));
                prop_assert!(!c.contains(';') && !c.contains('\\') && !c.contains("//"));
                prop_assert!(c.split('/').all(|s| s != "." && s != ".."));
                let lower = c.to_ascii_lowercase();
                prop_assert!(!lower.contains("%2e") && !lower.contains("%2f") && !lower.contains("%5c"));
            }
        }
    }
}
