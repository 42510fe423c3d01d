//! The HTTP side: one call to the admin API (or as an API key), and what a
//! failed one is. Every failure maps to one exit code here.

use std::time::Duration;

use serde_json::Value;
use ureq::http::{Method, Request};

use crate::settings::Settings;

/// Why a command failed, and so its exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The API answered with an error (exit 1).
    #[error("error: {code} (HTTP {status}): {message}{}", field.as_ref().map(|f| format!(" [field: {f}]")).unwrap_or_default())]
    Api {
        /// HTTP status.
        status: u16,
        /// keygate's stable error code.
        code: String,
        /// Its message.
        message: String,
        /// The request field it names, if any.
        field: Option<String>,
    },
    /// The command was refused before anything was sent (exit 1), e.g. a
    /// `verify` that found the key not valid, or a declined confirmation.
    #[error("error: {0}")]
    Refused(String),
    /// The command line or the settings are wrong (exit 2).
    #[error("error: {0}")]
    Usage(String),
    /// Nothing answered at the URL (exit 3).
    #[error("error: could not connect to {url}: {reason}")]
    Connect {
        /// Where.
        url: String,
        /// Why.
        reason: String,
    },
}

impl Failure {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Api { .. } | Failure::Refused(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Connect { .. } => 3,
        }
    }
}

/// A successful answer: its `data` and, on lists, its `meta`.
#[derive(Debug)]
pub struct Answer {
    /// The API's `data`.
    pub data: Value,
    /// The API's `meta` (paging), if any.
    pub meta: Option<Value>,
    /// The whole answer as sent: `Value` sorts an object's fields, this
    /// keeps the API's order for tables.
    pub text: String,
}

/// Talks to one deployment with one credential.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    prefix: String,
    authorization: String,
}

impl Client {
    /// A client acting with the admin token.
    pub fn admin(settings: &Settings) -> Result<Client, Failure> {
        Ok(Client::with(settings, settings.token()?))
    }

    /// A client presenting `credential` (the admin token or an API key).
    pub fn with(settings: &Settings, credential: &str) -> Client {
        let agent = ureq::Agent::config_builder()
            // keygate's JSON errors are read, not thrown.
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .user_agent(concat!("keygate-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client {
            agent,
            base: settings.url.clone(),
            prefix: settings.admin_prefix.clone(),
            authorization: format!("Bearer {credential}"),
        }
    }

    /// `method` on the admin API's `path` (after the prefix, e.g.
    /// `/v1/keys`), with `query`, a JSON `body` and extra `headers`.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, Failure> {
        let url = format!(
            "{}{}{}{}",
            self.base,
            self.prefix,
            path,
            query_string(query)
        );
        let mut request = Request::builder()
            .method(method)
            .uri(&url)
            .header("Authorization", &self.authorization)
            .header("Accept", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let sent = match body {
            Some(body) => self.agent.run(
                request
                    .header("Content-Type", "application/json")
                    .body(body.to_string())
                    .map_err(|e| Failure::Usage(format!("bad request: {e}")))?,
            ),
            None => self.agent.run(
                request
                    .body(())
                    .map_err(|e| Failure::Usage(format!("bad request: {e}")))?,
            ),
        };
        let mut response = sent.map_err(|e| Failure::Connect {
            url: self.base.clone(),
            reason: e.to_string(),
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| Failure::Connect {
                url: self.base.clone(),
                reason: format!("the answer broke off: {e}"),
            })?;
        answer(status, &text, &url)
    }
}

/// `?a=1&b=2` with each value percent-encoded, or `""`.
fn query_string(query: &[(&str, String)]) -> String {
    let pairs: Vec<String> = query
        .iter()
        .map(|(name, value)| format!("{name}={}", percent_encode(value)))
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Reads keygate's envelope: `{"data", "meta"?}` on success, `{"error"}`
/// otherwise. Anything else did not come from keygate.
fn answer(status: u16, text: &str, url: &str) -> Result<Answer, Failure> {
    let not_keygate = || Failure::Api {
        status,
        code: "not_keygate".into(),
        message: format!("{url} did not answer like keygate (is --url right?)"),
        field: None,
    };
    let mut body: Value = serde_json::from_str(text).map_err(|_| not_keygate())?;
    if (200..300).contains(&status) {
        let data = body
            .get_mut("data")
            .map(Value::take)
            .ok_or_else(not_keygate)?;
        let meta = body.get_mut("meta").map(Value::take);
        return Ok(Answer {
            data,
            meta,
            text: text.to_owned(),
        });
    }
    let error = body.get("error").ok_or_else(not_keygate)?;
    let text = |name: &str| error.get(name).and_then(Value::as_str).map(str::to_owned);
    Err(Failure::Api {
        status,
        code: text("code").ok_or_else(not_keygate)?,
        message: text("message").unwrap_or_default(),
        field: text("field"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_the_api_code_message_and_field() {
        let body = r#"{"error":{"code":"invalid_request","message":"must be 1-200 characters","field":"name"}}"#;
        let failure = answer(422, body, "http://x").unwrap_err();
        assert_eq!(failure.exit_code(), 1);
        assert_eq!(
            failure.to_string(),
            "error: invalid_request (HTTP 422): must be 1-200 characters [field: name]"
        );
    }

    #[test]
    fn an_answer_that_is_not_keygate_says_so() {
        let failure = answer(404, "<html>nope</html>", "http://x/_keygate/v1/keys").unwrap_err();
        assert!(
            failure.to_string().contains("did not answer like keygate"),
            "{failure}"
        );
    }

    #[test]
    fn success_keeps_data_and_meta() {
        let ok = answer(200, r#"{"data":[1],"meta":{"total":1}}"#, "http://x").unwrap();
        assert_eq!(ok.data, serde_json::json!([1]));
        assert_eq!(ok.meta, Some(serde_json::json!({"total": 1})));
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            query_string(&[("q", "a b&c".into()), ("page", "2".into())]),
            "?q=a%20b%26c&page=2"
        );
        assert_eq!(query_string(&[]), "");
    }
}
