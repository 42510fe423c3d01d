//! `POST /v1/keys/revoke-leaked` bodies: leaked key values in keygate's own
//! shape or in the shape GitHub's secret-scanning partner program posts.

use serde::Deserialize;

use crate::error::Error;

/// Most tokens accepted in one report.
pub const MAX_TOKENS: usize = 100;

/// One leaked value and where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leak {
    /// The leaked text (perhaps not a key at all).
    pub token: String,
    /// Where it leaked, if the reporter said.
    pub source: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GitHubMatch {
    token: String,
    #[serde(default, rename = "type", deserialize_with = "crate::admin::not_null")]
    _type: Option<String>,
    #[serde(default, deserialize_with = "crate::admin::not_null")]
    url: Option<String>,
    #[serde(default, deserialize_with = "crate::admin::not_null")]
    source: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
    #[serde(default, deserialize_with = "crate::admin::not_null")]
    key: Option<String>,
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default, deserialize_with = "crate::admin::not_null")]
    source: Option<String>,
}

/// Decodes a leak report: `{"key"|"keys", "source"?}` or GitHub's
/// `[{"token", "type", "url", "source"}]`.
pub fn parse(body: &[u8]) -> Result<Vec<Leak>, Error> {
    let shape = || {
        Error::invalid(
            ".",
            r#"expected {"keys": ["..."], "source": "https://..."} or [{"token": "...", "type": "...", "url": "...", "source": "..."}]"#,
        )
    };
    // Told apart by the first byte rather than with an untagged enum, which
    // would cost the wasm bundle a buffering deserializer; each shape is
    // then decoded with errors that name the field.
    let leaks: Vec<Leak> = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        // GitHub's payload is machine-made: a shape error is all it needs.
        Some(b'[') => serde_json::from_slice::<Vec<GitHubMatch>>(body)
            .map_err(|_| shape())?
            .into_iter()
            .map(|m| Leak {
                token: m.token,
                source: match (m.url, m.source) {
                    (Some(url), Some(src)) => Some(format!("{url} ({src})")),
                    (url, src) => url.or(src),
                },
            })
            .collect(),
        Some(b'{') => {
            let r: Report = crate::admin::parse_body(body)?;
            if r.key.is_none() && r.keys.is_empty() {
                return Err(Error::invalid("keys", "must list at least one value"));
            }
            r.key
                .into_iter()
                .chain(r.keys)
                .map(|token| Leak {
                    token,
                    source: r.source.clone(),
                })
                .collect()
        }
        _ => {
            // Not JSON at all is 400; JSON of another shape is 422.
            crate::admin::parse_body::<serde::de::IgnoredAny>(body)?;
            return Err(shape());
        }
    };
    if leaks.is_empty() {
        return Err(shape());
    }
    if leaks.len() > MAX_TOKENS {
        return Err(Error::invalid(
            "keys",
            format!("at most {MAX_TOKENS} per report"),
        ));
    }
    Ok(leaks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn both_shapes() {
        let own = parse(br#"{"keys":["a","b"],"source":"https://paste.example/1"}"#).unwrap();
        assert_eq!(own.len(), 2);
        assert_eq!(own[1].source.as_deref(), Some("https://paste.example/1"));
        let one = parse(br#"{"key":"a"}"#).unwrap();
        assert_eq!(
            one,
            vec![Leak {
                token: "a".into(),
                source: None
            }]
        );
        let gh = parse(
            br#"[{"token":"sk_x","type":"keygate_secret","url":"https://github.com/o/r/blob/x","source":"content"}]"#,
        )
        .unwrap();
        assert_eq!(gh[0].token, "sk_x");
        assert_eq!(
            gh[0].source.as_deref(),
            Some("https://github.com/o/r/blob/x (content)")
        );
    }

    #[test]
    fn bad_reports() {
        for bad in [
            &br#"{}"#[..],
            br#"[]"#,
            br#"{"tokens":["a"]}"#,
            br#"[{"url":"x"}]"#,
            br#""a""#,
        ] {
            assert!(
                matches!(parse(bad), Err(e) if e.kind() == ErrorKind::Invalid),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(parse(b"{"), Err(e) if e.kind() == ErrorKind::InvalidJson));
        let many = format!(r#"{{"keys":[{}]}}"#, vec!["\"k\""; 101].join(","));
        assert!(matches!(parse(many.as_bytes()), Err(e) if e.field() == Some("keys")));
    }
}
