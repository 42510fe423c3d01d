//! What happened: the event types and the payload each one sends, in the
//! Standard Webhooks shape `{"type", "timestamp", "data"}`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::lifecycle::record::KeyView;
use crate::time::Timestamp;

/// An event type, as endpoints subscribe to it and payloads name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    /// A key was issued.
    #[serde(rename = "key.created")]
    KeyCreated,
    /// A key was edited, or its credits changed.
    #[serde(rename = "key.updated")]
    KeyUpdated,
    /// A key got a new secret.
    #[serde(rename = "key.rotated")]
    KeyRotated,
    /// A key was revoked by an admin.
    #[serde(rename = "key.revoked")]
    KeyRevoked,
    /// A key was revoked because it was found in the wild.
    #[serde(rename = "key.leaked")]
    KeyLeaked,
    /// A key expires in 7 days, or in 1.
    #[serde(rename = "key.expiring")]
    KeyExpiring,
    /// A key's `expires_at` passed.
    #[serde(rename = "key.expired")]
    KeyExpired,
    /// A key used 80% or 100% of its day limit or of its credits.
    #[serde(rename = "key.usage_threshold")]
    KeyUsageThreshold,
    /// A key was refused for a rate limit (first refusal per window).
    #[serde(rename = "key.rate_limited")]
    KeyRateLimited,
    /// Sent by `POST /v1/webhooks/{id}/test`, to that endpoint only.
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

impl EventType {
    /// Every type an endpoint can subscribe to (the test event always goes
    /// to the endpoint it tests).
    pub const SUBSCRIBABLE: [EventType; 9] = [
        EventType::KeyCreated,
        EventType::KeyUpdated,
        EventType::KeyRotated,
        EventType::KeyRevoked,
        EventType::KeyLeaked,
        EventType::KeyExpiring,
        EventType::KeyExpired,
        EventType::KeyUsageThreshold,
        EventType::KeyRateLimited,
    ];

    /// The type's name, e.g. `key.created`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::KeyCreated => "key.created",
            EventType::KeyUpdated => "key.updated",
            EventType::KeyRotated => "key.rotated",
            EventType::KeyRevoked => "key.revoked",
            EventType::KeyLeaked => "key.leaked",
            EventType::KeyExpiring => "key.expiring",
            EventType::KeyExpired => "key.expired",
            EventType::KeyUsageThreshold => "key.usage_threshold",
            EventType::KeyRateLimited => "key.rate_limited",
            EventType::WebhookTest => "webhook.test",
        }
    }

    /// A subscribable type by name.
    pub fn subscribable(name: &str) -> Option<EventType> {
        EventType::SUBSCRIBABLE
            .into_iter()
            .find(|t| t.as_str() == name)
    }
}

/// A usage alert a key's object raised (see [`crate::webhook::alert`]).
/// Externally tagged on the wire (an internal tag would buffer every
/// value, which costs the wasm several KiB of decoder).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyAlert {
    /// The first refusal by a rate limit in its window.
    RateLimited {
        /// The limit: `minute`, `day` or a named limit.
        limit: String,
        /// When that window resets.
        retry_at: Timestamp,
    },
    /// A day limit or the credits reached a threshold.
    UsageThreshold {
        /// `day` or `credits`.
        limit: String,
        /// 80 or 100.
        percent: u8,
        /// Units used in the window (credits: spent since the last refill).
        used: u64,
        /// The window's limit (credits: the refill amount, or the balance
        /// when there is no refill).
        of: u64,
    },
}

impl KeyAlert {
    /// The event it becomes, and the payload's fields besides the key.
    fn event(&self) -> (EventType, Value) {
        match self {
            KeyAlert::RateLimited { limit, retry_at } => (
                EventType::KeyRateLimited,
                json!({ "limit": limit, "retry_at": retry_at }),
            ),
            KeyAlert::UsageThreshold {
                limit,
                percent,
                used,
                of,
            } => (
                EventType::KeyUsageThreshold,
                json!({ "limit": limit, "percent": percent, "used": used, "of": of }),
            ),
        }
    }
}

/// One event, as every subscribed endpoint receives it (and as a shard
/// hands it to the hub).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `msg_…`: the `webhook-id`, the same on every retry.
    pub id: String,
    /// Its type.
    pub kind: EventType,
    /// When it happened.
    pub at: Timestamp,
    /// The payload's `data`.
    pub data: Value,
}

/// The key as payloads name it: never its secret or hash.
fn key_ref(key: &KeyView) -> Value {
    json!({
        "id": key.id,
        "name": key.name,
        "display": key.display,
        "owner_id": key.owner_id,
        "environment": key.environment,
    })
}

impl Event {
    /// An event of `kind` about `key`, with `fields` added to its data.
    pub fn about_key(
        kind: EventType,
        key: &KeyView,
        fields: Value,
        at: Timestamp,
    ) -> Result<Event, getrandom::Error> {
        let mut data = json!({ "key": key_ref(key) });
        if let (Some(data), Value::Object(fields)) = (data.as_object_mut(), fields) {
            data.extend(fields);
        }
        Ok(Event {
            id: new_event_id()?,
            kind,
            at,
            data,
        })
    }

    /// The event an alert about `key` becomes.
    pub fn alert(
        alert: &KeyAlert,
        key: &KeyView,
        at: Timestamp,
    ) -> Result<Event, getrandom::Error> {
        let (kind, fields) = alert.event();
        Event::about_key(kind, key, fields, at)
    }

    /// The test event for endpoint `webhook_id`.
    pub fn test(webhook_id: &str, at: Timestamp) -> Result<Event, getrandom::Error> {
        Ok(Event {
            id: new_event_id()?,
            kind: EventType::WebhookTest,
            at,
            data: json!({ "webhook_id": webhook_id }),
        })
    }

    /// The request body every endpoint receives.
    pub fn payload(&self) -> String {
        json!({
            "type": self.kind.as_str(),
            "timestamp": self.at,
            "data": self.data,
        })
        .to_string()
    }
}

/// A fresh `msg_…` id.
fn new_event_id() -> Result<String, getrandom::Error> {
    Ok(format!("msg_{}", crate::key::random_base62(24)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_the_test_event_is_not_subscribable() {
        for t in EventType::SUBSCRIBABLE {
            assert_eq!(EventType::subscribable(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.as_str()));
        }
        assert_eq!(EventType::subscribable("webhook.test"), None);
        assert_eq!(EventType::subscribable("key.deleted"), None);
    }

    #[test]
    fn an_alert_payload_names_the_key_and_the_window() {
        let now = Timestamp::from_secs(61);
        let (state, _) = crate::keystate::testing::issued(
            r#"{"name":"n","environment":"live","owner_id":"acme"}"#,
            now,
        );
        let key = state.record.unwrap().view(None, None, now);
        let alert = KeyAlert::RateLimited {
            limit: "minute".into(),
            retry_at: Timestamp::from_secs(120),
        };
        let event = Event::alert(&alert, &key, now).unwrap();
        assert!(event.id.starts_with("msg_") && event.id.len() == 28);
        let payload: Value = serde_json::from_str(&event.payload()).unwrap();
        assert_eq!(payload["type"], "key.rate_limited");
        assert_eq!(payload["timestamp"], "1970-01-01T00:01:01Z");
        assert_eq!(payload["data"]["key"]["id"], key.id.as_str());
        assert_eq!(payload["data"]["key"]["owner_id"], "acme");
        assert_eq!(payload["data"]["limit"], "minute");
        assert_eq!(payload["data"]["retry_at"], "1970-01-01T00:02:00Z");
        // Only what names the key: no secrets, hashes or previous secrets.
        let key_fields: Vec<&String> = payload["data"]["key"].as_object().unwrap().keys().collect();
        assert_eq!(
            key_fields,
            ["display", "environment", "id", "name", "owner_id"]
        );
    }
}
