//! The one pass over a request's headers. The Worker's `entry.js` walks
//! them in JavaScript and hands back one line-based text (one crossing
//! into JavaScript per request, where reading them from wasm took some
//! five per header); [`HeaderPass::read`] turns that text into what the
//! entry point and the gateway judge by.

/// The request headers keygate judges by. A repeated header reads as the
/// runtime joins it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Presented {
    /// `Authorization`.
    pub authorization: Option<String>,
    /// `X-API-Key`.
    pub api_key: Option<String>,
    /// `CF-Connecting-IP`.
    pub client_ip: Option<String>,
    /// `Origin` (a browser's page).
    pub origin: Option<String>,
    /// `Access-Control-Request-Method` (a CORS preflight).
    pub preflight_method: Option<String>,
    /// `Access-Control-Request-Headers` (a CORS preflight).
    pub preflight_headers: Option<String>,
    /// `Cookie` (the dashboard's session).
    pub cookie: Option<String>,
    /// `Sec-Fetch-Site` (which site a browser's request comes from).
    pub fetch_site: Option<String>,
    /// The client's two-letter country: `CF-IPCountry`, which Cloudflare
    /// sets when the zone's IP Geolocation is on; the Worker falls back to
    /// `request.cf.country` (which costs a parse of the whole `cf` object)
    /// only without it. Counted and logged, never judged.
    pub country: Option<String>,
}

/// What the pass over the headers found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderPass {
    /// The headers' size: names and values, in UTF-8 bytes.
    pub bytes: usize,
    /// The declared `Content-Length`, if it is a number.
    pub content_length: Option<u64>,
    /// Whether the body comes with `Transfer-Encoding` (chunked).
    pub chunked: bool,
    /// Client headers to drop: named like keygate's own (`x-keygate-*`),
    /// or method overrides.
    pub dropped: Vec<String>,
    /// `CF-Ray`, the runtime's request id.
    pub request_id: Option<String>,
    /// The headers keygate judges by.
    pub presented: Presented,
}

impl HeaderPass {
    /// Reads `entry.js`'s text: the size in bytes, the dropped names
    /// (comma-separated), then one line per header it reads, in its order
    /// — empty when the header is absent, else `=` and its value. Text of
    /// any other shape reads as far as it goes (a missing line is an
    /// absent header), never panicking.
    pub fn read(text: &str) -> HeaderPass {
        let mut lines = text.split('\n');
        let bytes = lines.next().and_then(|b| b.parse().ok()).unwrap_or(0);
        let dropped = lines
            .next()
            .unwrap_or("")
            .split(',')
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect();
        let mut next = || {
            lines
                .next()
                .and_then(|line| line.strip_prefix('='))
                .map(str::to_owned)
        };
        // The order of `READ` in entry.js.
        let content_length = next().and_then(|v| v.trim().parse().ok());
        let chunked = next().is_some();
        let presented = Presented {
            authorization: next(),
            api_key: next(),
            client_ip: next(),
            origin: next(),
            preflight_method: next(),
            preflight_headers: next(),
            cookie: next(),
            fetch_site: next(),
            country: next(),
        };
        HeaderPass {
            bytes,
            content_length,
            chunked,
            dropped,
            request_id: next(),
            presented,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text `entry.js` makes of these lines (see its `READ`).
    fn text(bytes: usize, dropped: &str, lines: [&str; 12]) -> String {
        format!("{bytes}\n{dropped}\n{}", lines.join("\n"))
    }

    #[test]
    fn every_header_lands_in_its_own_field() {
        let pass = HeaderPass::read(&text(
            321,
            "x-keygate-key-id,x-http-method",
            [
                "=12",
                "=chunked",
                "=Bearer sk",
                "=sk_x",
                "=203.0.113.9",
                "=https://app.example",
                "=PUT",
                "=x-a",
                "=s=1",
                "=same-site",
                "=NL",
                "=8f0a-AMS",
            ],
        ));
        assert_eq!(pass.bytes, 321);
        assert_eq!(pass.dropped, ["x-keygate-key-id", "x-http-method"]);
        assert_eq!(pass.content_length, Some(12));
        assert!(pass.chunked);
        assert_eq!(pass.request_id.as_deref(), Some("8f0a-AMS"));
        let p = pass.presented;
        assert_eq!(p.authorization.as_deref(), Some("Bearer sk"));
        assert_eq!(p.api_key.as_deref(), Some("sk_x"));
        assert_eq!(p.client_ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(p.origin.as_deref(), Some("https://app.example"));
        assert_eq!(p.preflight_method.as_deref(), Some("PUT"));
        assert_eq!(p.preflight_headers.as_deref(), Some("x-a"));
        assert_eq!(p.cookie.as_deref(), Some("s=1"));
        assert_eq!(p.fetch_site.as_deref(), Some("same-site"));
        assert_eq!(p.country.as_deref(), Some("NL"));
    }

    #[test]
    fn an_absent_header_is_none_and_an_empty_one_is_empty() {
        let mut lines = [""; 12];
        lines[2] = "=";
        let pass = HeaderPass::read(&text(15, "", lines));
        assert_eq!(pass.presented.authorization.as_deref(), Some(""));
        assert_eq!(pass.presented.api_key, None);
        assert!(!pass.chunked);
        assert_eq!(pass.content_length, None);
        assert!(pass.dropped.is_empty());
    }

    #[test]
    fn a_value_may_hold_an_equals_sign_and_commas() {
        let mut lines = [""; 12];
        lines[8] = "=a=1, b=2";
        let pass = HeaderPass::read(&text(9, "", lines));
        assert_eq!(pass.presented.cookie.as_deref(), Some("a=1, b=2"));
    }

    #[test]
    fn a_content_length_that_is_no_number_is_not_declared() {
        let mut lines = [""; 12];
        lines[0] = "= 12 ";
        assert_eq!(
            HeaderPass::read(&text(1, "", lines)).content_length,
            Some(12)
        );
        lines[0] = "=12abc";
        assert_eq!(HeaderPass::read(&text(1, "", lines)).content_length, None);
    }

    #[test]
    fn short_or_empty_text_reads_as_no_headers() {
        assert_eq!(HeaderPass::read(""), HeaderPass::default());
        assert_eq!(
            HeaderPass::read("7"),
            HeaderPass {
                bytes: 7,
                ..HeaderPass::default()
            }
        );
    }
}
