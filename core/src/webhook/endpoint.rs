//! A webhook endpoint: the create request and its checks (above all the
//! URL rule), what the registry stores, and what the API shows.

use serde::{Deserialize, Serialize};

use super::event::EventType;
use crate::error::Error;
use crate::time::Timestamp;

/// Most endpoints a deployment may have: each event is one delivery per
/// endpoint, so this bounds the work one event can cause.
pub const MAX_WEBHOOKS: u64 = 20;
/// Longest URL accepted, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest description accepted, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 200;

/// An endpoint's id (`wh_` and 16 base62 characters).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookId(String);

impl WebhookId {
    /// Draws a fresh id.
    pub fn generate() -> Result<Self, getrandom::Error> {
        Ok(WebhookId(format!("wh_{}", crate::key::random_base62(16)?)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WebhookId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.strip_prefix("wh_") {
            Some(rest) if rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                Ok(WebhookId(s))
            }
            _ => Err("not a webhook id".to_owned()),
        }
    }
}

impl std::str::FromStr for WebhookId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        WebhookId::try_from(s.to_owned())
    }
}

impl From<WebhookId> for String {
    fn from(id: WebhookId) -> String {
        id.0
    }
}

/// `POST /v1/webhooks`: where to send, which events, and a note.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// `https://…` (`http://` only to a loopback address).
    pub url: String,
    /// Event types to send; absent: every type.
    #[serde(default, deserialize_with = "crate::admin::not_null")]
    pub events: Option<Vec<String>>,
    /// What the endpoint is for.
    #[serde(default)]
    pub description: Option<String>,
}

/// A stored endpoint, as the API shows it (its secret is kept apart and
/// shown once, at creation). Only ever written: the registry stores its
/// fields as columns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Webhook {
    /// Its id.
    pub id: WebhookId,
    /// Where events go.
    pub url: String,
    /// The types it receives; empty: every type.
    pub events: Vec<EventType>,
    /// What it is for.
    pub description: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
}

impl NewWebhook {
    /// The endpoint this request creates, or 422 naming the field at fault.
    pub fn into_webhook(self, id: WebhookId, now: Timestamp) -> Result<Webhook, Error> {
        check_url(&self.url)?;
        let mut events = Vec::new();
        if let Some(names) = &self.events {
            if names.is_empty() {
                return Err(Error::invalid(
                    "events",
                    "must name at least one event type, or be left out for every type",
                ));
            }
            for (i, name) in names.iter().enumerate() {
                let kind = EventType::subscribable(name).ok_or_else(|| {
                    Error::invalid(
                        format!("events[{i}]"),
                        format!("unknown event type; one of {}", subscribable_list()),
                    )
                })?;
                if !events.contains(&kind) {
                    events.push(kind);
                }
            }
            events.sort();
        }
        if let Some(description) = &self.description {
            if description.chars().count() > MAX_DESCRIPTION_CHARS {
                return Err(Error::invalid(
                    "description",
                    format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
                ));
            }
        }
        Ok(Webhook {
            id,
            url: self.url,
            events,
            description: self.description,
            created_at: now,
        })
    }
}

fn subscribable_list() -> String {
    EventType::SUBSCRIBABLE.map(EventType::as_str).join(", ")
}

impl Webhook {
    /// Whether it receives events of `kind`.
    pub fn wants(&self, kind: EventType) -> bool {
        self.events.is_empty() || self.events.contains(&kind)
    }

    /// Its event types as stored: names, comma-separated.
    pub fn events_text(&self) -> String {
        self.events
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Event types from their stored text (unknown names are skipped).
    pub fn events_from(text: &str) -> Vec<EventType> {
        text.split(',')
            .filter_map(EventType::subscribable)
            .collect()
    }
}

/// **The URL rule.** An absolute `https://` URL with a host, no
/// credentials and no fragment, at most [`MAX_URL_BYTES`]; `http://` only
/// to a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`), for local
/// development. A refusal is 422 naming `url`.
pub fn check_url(url: &str) -> Result<(), Error> {
    let refuse = |why: &str| Err(Error::invalid("url", why));
    if url.len() > MAX_URL_BYTES {
        return refuse(&format!("must be at most {MAX_URL_BYTES} bytes"));
    }
    if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return refuse("must be a URL: it contains spaces or control characters");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return refuse("must be an absolute URL, e.g. https://example.com/webhooks");
    };
    let secure = match scheme.to_ascii_lowercase().as_str() {
        "https" => true,
        "http" => false,
        _ => return refuse("must be an https:// URL"),
    };
    if rest.contains('#') {
        return refuse("must not have a fragment (#…)");
    }
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.contains('@') {
        return refuse("must not contain credentials (user:password@); use the signing secret to authenticate keygate");
    }
    let Some(host) = host_of(authority) else {
        return refuse("must be a URL with a valid host and port");
    };
    if !secure && !is_loopback(&host) {
        return refuse(
            "must be an https:// URL (http:// is allowed only to localhost, for development)",
        );
    }
    Ok(())
}

/// The lowercase host of `authority` (`host[:port]`, IPv6 in brackets),
/// if it is well formed.
fn host_of(authority: &str) -> Option<String> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (inner, after) = v6.split_once(']')?;
            inner.parse::<std::net::Ipv6Addr>().ok()?;
            (format!("[{inner}]"), after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (authority.to_owned(), None),
        },
    };
    if let Some(port) = port {
        port.parse::<u16>().ok().filter(|p| *p > 0)?;
    }
    let valid = !host.is_empty()
        && (host.starts_with('[')
            || host.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }));
    valid.then(|| host.to_ascii_lowercase())
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Detail;

    fn field_of(url: &str) -> Option<String> {
        match check_url(url) {
            Ok(()) => None,
            Err(e) if e.field().is_some() => e.field().map(str::to_owned),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn https_urls_pass_and_http_only_to_loopback() {
        for ok in [
            "https://hooks.example.com/keygate",
            "https://hooks.example.com:8443/a/b?c=d",
            "HTTPS://EXAMPLE.COM",
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://[::1]:8080/",
            "https://[2001:db8::1]/x",
        ] {
            assert_eq!(field_of(ok), None, "{ok}");
        }
    }

    #[test]
    fn bad_urls_are_refused_naming_the_url() {
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        for bad in [
            "not a url",
            "example.com/hook",
            "ftp://example.com/",
            "http://example.com/hook",
            "http://10.0.0.1/hook",
            "https://user:pass@example.com/",
            "https://token@example.com/",
            "https:///path",
            "https://exa mple.com/",
            "https://example.com:99999/",
            "https://example.com:/",
            "https://[::1/",
            "https://example..com/",
            "https://example.com/#frag",
            "javascript://example.com/%0aalert(1)",
            long.as_str(),
        ] {
            assert_eq!(field_of(bad).as_deref(), Some("url"), "{bad}");
        }
    }

    #[test]
    fn events_are_checked_by_name_and_kept_once_each() {
        let new = |json: &str| -> NewWebhook { serde_json::from_str(json).unwrap() };
        let id = WebhookId::generate().unwrap();
        let now = Timestamp::from_secs(0);
        let hook = new(
            r#"{"url":"https://a.example","events":["key.revoked","key.created","key.revoked"]}"#,
        )
        .into_webhook(id.clone(), now)
        .unwrap();
        assert_eq!(hook.events, [EventType::KeyCreated, EventType::KeyRevoked]);
        assert!(hook.wants(EventType::KeyCreated) && !hook.wants(EventType::KeyExpired));
        let all = new(r#"{"url":"https://a.example"}"#)
            .into_webhook(id.clone(), now)
            .unwrap();
        assert!(EventType::SUBSCRIBABLE.iter().all(|t| all.wants(*t)));
        assert_eq!(Webhook::events_from(&hook.events_text()), hook.events);
        assert!(Webhook::events_from(&all.events_text()).is_empty());
        for (json, field) in [
            (
                r#"{"url":"https://a.example","events":["key.created","key.exploded"]}"#,
                "events[1]",
            ),
            (r#"{"url":"https://a.example","events":[]}"#, "events"),
            (
                r#"{"url":"https://a.example","events":["webhook.test"]}"#,
                "events[0]",
            ),
        ] {
            match new(json)
                .into_webhook(id.clone(), now)
                .map_err(Error::into_detail)
            {
                Err(Detail::Field { field: f, .. }) => assert_eq!(f, field, "{json}"),
                other => panic!("{json}: {other:?}"),
            }
        }
        assert!(WebhookId::try_from("wh_short".to_owned()).is_err());
        assert_eq!(id.as_str().parse::<WebhookId>().unwrap(), id);
    }
}
