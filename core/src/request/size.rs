//! Caps on a request's size, checked first, before any key is parsed or
//! any state is touched, so an oversized request costs keygate nothing.

use crate::error::Error;

/// Longest URL (path and query) accepted.
pub const MAX_URL_BYTES: usize = 8 * 1024;
/// Most header bytes (names and values) accepted.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Default cap on a proxied body, when `MAX_BODY_BYTES` is not set.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;

/// What keygate can see of a request's size without reading it.
pub struct RequestSize {
    /// Bytes of the URL.
    pub url: usize,
    /// Bytes of all header names and values.
    pub headers: usize,
    /// The declared `Content-Length`, if any.
    pub content_length: Option<u64>,
}

/// 414 for a long URL, 431 for large headers, 413 for a declared body over
/// `max_body`.
pub fn check(size: &RequestSize, max_body: u64) -> Result<(), Error> {
    if size.url > MAX_URL_BYTES {
        return Err(Error::uri_too_long(MAX_URL_BYTES));
    }
    if size.headers > MAX_HEADER_BYTES {
        return Err(Error::headers_too_large(MAX_HEADER_BYTES));
    }
    if size.content_length.is_some_and(|n| n > max_body) {
        return Err(Error::payload_too_large(max_body as usize));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(url: usize, headers: usize, body: Option<u64>) -> RequestSize {
        RequestSize {
            url,
            headers,
            content_length: body,
        }
    }

    #[test]
    fn caps() {
        assert_eq!(check(&size(100, 100, Some(10)), 100), Ok(()));
        assert_eq!(
            check(&size(MAX_URL_BYTES, MAX_HEADER_BYTES, Some(100)), 100),
            Ok(())
        );
        assert_eq!(
            check(&size(MAX_URL_BYTES + 1, 0, None), 100)
                .unwrap_err()
                .status(),
            414
        );
        assert_eq!(
            check(&size(10, MAX_HEADER_BYTES + 1, None), 100)
                .unwrap_err()
                .status(),
            431
        );
        assert_eq!(
            check(&size(10, 10, Some(101)), 100).unwrap_err().status(),
            413
        );
    }
}
