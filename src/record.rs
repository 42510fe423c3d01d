//! `KeyRecord`: everything keygate knows about a key, as its Durable Object
//! stores it; `NewKey`, the validated create request; and `KeyView`, the
//! only shape in which a record leaves the Worker (no secret, no hash).

use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::hash::KeyHash;
use crate::key::{ApiKey, Environment, KeyId, KeyType};
use crate::limit::RateLimits;
use crate::time::Timestamp;

/// Longest accepted key name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest accepted description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1_000;

/// One secret that opens a key. A key has one, or two during a rotation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// SHA-256 of the secret: what KV maps to the key id.
    pub hash: KeyHash,
    /// `sk_live_abc1…xyz9`, safe to list.
    pub display: String,
}

/// What a key's Durable Object stores about it: the authoritative copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Stable id; names the Durable Object.
    pub id: KeyId,
    /// Human name, e.g. the customer or integration.
    pub name: String,
    /// Free text for operators.
    pub description: Option<String>,
    /// Where the key works; picks the origin.
    pub environment: Environment,
    /// Secret, restricted or publishable.
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// This key's limits (defaults filled in at creation).
    pub rate_limits: RateLimits,
    /// When the key was issued.
    pub created_at: Timestamp,
    /// After this the key answers `key_expired`.
    pub expires_at: Option<Timestamp>,
    /// Set once, never cleared: revocation is irreversible.
    pub revoked_at: Option<Timestamp>,
    /// The secrets that open this key.
    pub secrets: Vec<Secret>,
}

/// What KV stores under a key's hash: just enough to find the key's
/// Durable Object, or to refuse a revoked key without calling it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntry {
    /// The key the hash belongs to.
    pub id: KeyId,
    /// Set when the key is revoked. The Durable Object is authoritative;
    /// this only spares it the traffic of a dead key once KV has caught up.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoked: bool,
}

/// A key's lifecycle state at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Usable.
    Active,
    /// Past `expires_at`.
    Expired,
    /// Revoked by an admin.
    Revoked,
}

impl KeyRecord {
    /// The key's status at `now`; revocation wins over expiry.
    pub fn status(&self, now: Timestamp) -> Status {
        if self.revoked_at.is_some() {
            Status::Revoked
        } else if self.expires_at.is_some_and(|t| now >= t) {
            Status::Expired
        } else {
            Status::Active
        }
    }

    /// Whether `hash` is one of this key's secrets.
    pub fn opens_with(&self, hash: &KeyHash) -> bool {
        self.secrets.iter().any(|s| &s.hash == hash)
    }

    /// The public view of this record.
    pub fn view(&self, last_used: Option<Timestamp>, now: Timestamp) -> KeyView {
        KeyView {
            id: self.id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            environment: self.environment.clone(),
            key_type: self.key_type,
            display: self.secrets.last().map(|s| s.display.clone()).unwrap_or_default(),
            rate_limits: self.rate_limits,
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used,
            status: self.status(now),
            revoked_at: self.revoked_at,
        }
    }
}

/// A key as the admin API shows it. Has no field that could hold a secret
/// or a hash, so no code path can leak one through it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyView {
    /// Stable id.
    pub id: KeyId,
    /// Human name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Where the key works.
    pub environment: Environment,
    /// Secret, restricted or publishable.
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// Recognisable redacted form, e.g. `sk_live_abc1…xyz9`.
    pub display: String,
    /// Limits in force.
    pub rate_limits: RateLimits,
    /// Issued at.
    pub created_at: Timestamp,
    /// Expires at, if ever.
    pub expires_at: Option<Timestamp>,
    /// Last admitted request (fresh to the request).
    pub last_used: Option<Timestamp>,
    /// Active, expired or revoked.
    pub status: Status,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// Limits as a create request may give them: either may be left out.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsInput {
    /// Requests per minute; the configured default if absent.
    pub per_minute: Option<NonZeroU32>,
    /// Requests per UTC day; the configured default if absent.
    pub per_day: Option<NonZeroU32>,
}

impl RateLimitsInput {
    /// Fills the gaps from `defaults`.
    pub fn or(self, defaults: RateLimits) -> RateLimits {
        RateLimits {
            per_minute: self.per_minute.unwrap_or(defaults.per_minute),
            per_day: self.per_day.unwrap_or(defaults.per_day),
        }
    }
}

/// The body of `POST /v1/keys`, exactly as the client sent it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// Required, 1–200 characters.
    pub name: String,
    /// Optional, up to 1,000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// One of the configured environments.
    pub environment: Environment,
    /// Defaults to `secret`.
    #[serde(default, rename = "type")]
    pub key_type: Option<KeyType>,
    /// Per-key limits; defaults from configuration.
    #[serde(default)]
    pub rate_limits: Option<RateLimitsInput>,
    /// Optional expiry; must be in the future.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

/// What issuing a key needs besides the request.
pub struct IssueContext<'a> {
    /// Environments this deployment serves.
    pub environments: &'a [Environment],
    /// Limits for keys that give none.
    pub default_limits: RateLimits,
    /// The time of issue.
    pub now: Timestamp,
}

impl NewKey {
    /// Validates the request and mints the key: the returned `ApiKey` is
    /// the only copy of the secret, for the create response.
    pub fn issue(self, ctx: &IssueContext<'_>) -> Result<(KeyRecord, ApiKey), Error> {
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(Error::invalid("name", format!("must be 1-{MAX_NAME_CHARS} characters")));
        }
        if let Some(d) = &self.description {
            if d.chars().count() > MAX_DESCRIPTION_CHARS {
                return Err(Error::invalid(
                    "description",
                    format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
                ));
            }
        }
        if !ctx.environments.contains(&self.environment) {
            let known: Vec<&str> = ctx.environments.iter().map(Environment::as_str).collect();
            return Err(Error::invalid(
                "environment",
                format!("must be one of: {}", known.join(", ")),
            ));
        }
        if self.expires_at.is_some_and(|t| t <= ctx.now) {
            return Err(Error::invalid("expires_at", "must be in the future"));
        }
        let key_type = self.key_type.unwrap_or(KeyType::Secret);
        let key = ApiKey::generate(key_type, self.environment.clone()).map_err(|_| Error::Internal)?;
        let record = KeyRecord {
            id: KeyId::generate().map_err(|_| Error::Internal)?,
            name,
            description: self.description,
            environment: self.environment,
            key_type,
            rate_limits: self.rate_limits.unwrap_or_default().or(ctx.default_limits),
            created_at: ctx.now,
            expires_at: self.expires_at,
            revoked_at: None,
            secrets: vec![Secret {
                hash: KeyHash::of(&key),
                display: key.display(),
            }],
        };
        Ok((record, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envs() -> Vec<Environment> {
        vec!["live".parse().unwrap(), "test".parse().unwrap()]
    }

    fn ctx(envs: &[Environment]) -> IssueContext<'_> {
        IssueContext {
            environments: envs,
            default_limits: RateLimits::DEFAULT,
            now: Timestamp::from_secs(1_800_000_000),
        }
    }

    fn new_key(json: &str) -> NewKey {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn issues_a_key_with_defaults() {
        let envs = envs();
        let (record, key) = new_key(r#"{"name":" ci ","environment":"test"}"#)
            .issue(&ctx(&envs))
            .unwrap();
        assert_eq!(record.name, "ci");
        assert_eq!(record.key_type, KeyType::Secret);
        assert_eq!(record.rate_limits, RateLimits::DEFAULT);
        assert!(key.expose_secret().starts_with("sk_test_"));
        assert!(record.opens_with(&KeyHash::of(&key)));
        assert_eq!(record.status(Timestamp::from_secs(1_800_000_000)), Status::Active);
    }

    #[test]
    fn partial_limits_fill_from_defaults() {
        let envs = envs();
        let (record, _) = new_key(
            r#"{"name":"a","environment":"live","type":"restricted","rate_limits":{"per_minute":5}}"#,
        )
        .issue(&ctx(&envs))
        .unwrap();
        assert_eq!(record.rate_limits.per_minute.get(), 5);
        assert_eq!(record.rate_limits.per_day, RateLimits::DEFAULT.per_day);
        assert_eq!(record.key_type, KeyType::Restricted);
    }

    #[test]
    fn invalid_requests_name_the_field() {
        let envs = envs();
        let cases = [
            (r#"{"name":"  ","environment":"live"}"#, "name"),
            (r#"{"name":"a","environment":"dev"}"#, "environment"),
            (
                r#"{"name":"a","environment":"live","expires_at":"2020-01-01T00:00:00Z"}"#,
                "expires_at",
            ),
        ];
        for (json, field) in cases {
            match new_key(json).issue(&ctx(&envs)) {
                Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field, "{json}"),
                other => panic!("{json}: expected invalid {field}, got {other:?}"),
            }
        }
        let long = format!(r#"{{"name":"{}","environment":"live"}}"#, "x".repeat(201));
        assert!(matches!(new_key(&long).issue(&ctx(&envs)), Err(Error::Invalid { .. })));
    }

    #[test]
    fn views_carry_no_secret_or_hash() {
        let envs = envs();
        let (record, key) = new_key(r#"{"name":"a","environment":"live"}"#)
            .issue(&ctx(&envs))
            .unwrap();
        let json = serde_json::to_string(&record.view(None, Timestamp::from_secs(0))).unwrap();
        assert!(!json.contains(key.expose_secret()));
        assert!(!json.contains(KeyHash::of(&key).as_str()));
        assert!(json.contains(&key.display()));
    }

    #[test]
    fn revocation_wins_over_expiry() {
        let envs = envs();
        let (mut record, _) = new_key(
            r#"{"name":"a","environment":"live","expires_at":"2030-01-01T00:00:00Z"}"#,
        )
        .issue(&ctx(&envs))
        .unwrap();
        let later = Timestamp::parse_rfc3339("2031-01-01T00:00:00Z").unwrap();
        assert_eq!(record.status(later), Status::Expired);
        record.revoked_at = Some(later);
        assert_eq!(record.status(later), Status::Revoked);
    }
}
