//! The two admin requests that produce a record: `NewKey` (the create
//! body, issued into a `KeyRecord` plus its one plaintext secret) and
//! `KeyPatch` (the edit body, applied under a `Permit`). Both end in the
//! same validation and the same admin-key rule.

use std::num::NonZeroU32;

use serde::Deserialize;

use super::record::{KeyRecord, Metadata, Secret, DEFAULT_ROTATION_GRACE_SECS};
use crate::admin::{not_null, whole};
use crate::admission::Admission;
use crate::error::Error;
use crate::key::{ApiKey, Environment, KeyId, KeyType};
use crate::limits::credits::{CreditOp, Credits, MAX_CREDITS};
use crate::limits::{NamedLimit, RateLimits, Tiers, WindowKind};
use crate::policy::actor::{Actor, Given, Permit};
use crate::policy::cors::WebOrigin;
use crate::policy::ip::IpRule;
use crate::policy::permission::{Grants, Hierarchy, Scope};
use crate::registry::shard::ShardCount;
use crate::time::Timestamp;

/// Limits as a create request may give them: either may be left out.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsInput {
    /// Requests per minute; the configured default if absent.
    #[serde(default, deserialize_with = "whole")]
    pub per_minute: Option<NonZeroU32>,
    /// Requests per UTC day; the configured default if absent.
    #[serde(default, deserialize_with = "whole")]
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
    #[serde(default, deserialize_with = "not_null")]
    pub description: Option<String>,
    /// One of the configured environments.
    pub environment: Environment,
    /// Defaults to `secret`.
    #[serde(default, rename = "type", deserialize_with = "not_null")]
    pub key_type: Option<KeyType>,
    /// Per-key limits; defaults from the tier or configuration.
    #[serde(default, deserialize_with = "not_null")]
    pub rate_limits: Option<RateLimitsInput>,
    /// `fixed` (default) or `rolling` windows for limits of an hour or less.
    #[serde(default, deserialize_with = "not_null")]
    pub window: Option<WindowKind>,
    /// Named limits, besides `rate_limits`.
    #[serde(default, deserialize_with = "not_null")]
    pub limits: Option<Vec<NamedLimit>>,
    /// Credits every admitted request spends, and their refill.
    #[serde(default, deserialize_with = "not_null")]
    pub credits: Option<Credits>,
    /// A configured tier whose limits apply unless `rate_limits` overrides.
    #[serde(default, deserialize_with = "not_null")]
    pub tier: Option<String>,
    /// Your customer or tenant id.
    #[serde(default, deserialize_with = "not_null")]
    pub owner_id: Option<String>,
    /// Free-form JSON object, at most 4 KiB.
    #[serde(default, deserialize_with = "not_null")]
    pub metadata: Option<Metadata>,
    /// Flat scopes.
    #[serde(default)]
    pub scopes: Vec<Scope>,
    /// Hierarchical permissions.
    #[serde(default)]
    pub permissions: Hierarchy,
    /// IP allowlist.
    #[serde(default)]
    pub allowed_ips: Vec<IpRule>,
    /// CORS origins (for publishable keys used from browsers).
    #[serde(default)]
    pub allowed_origins: Vec<WebOrigin>,
    /// Optional expiry; must be in the future.
    #[serde(default, deserialize_with = "not_null")]
    pub expires_at: Option<Timestamp>,
    /// `exact` keeps this key from ever being leased.
    #[serde(default, deserialize_with = "not_null")]
    pub admission: Option<Admission>,
}

/// The body of `PATCH /v1/keys/{id}`: every field optional; `null` clears
/// `description` and `expires_at`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPatch {
    /// New name.
    #[serde(default, deserialize_with = "not_null")]
    pub name: Option<String>,
    /// New description, or `null` to clear it.
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    /// New limits; a missing half keeps its current (or the new tier's) value.
    #[serde(default, deserialize_with = "not_null")]
    pub rate_limits: Option<RateLimitsInput>,
    /// New window kind.
    #[serde(default, deserialize_with = "not_null")]
    pub window: Option<WindowKind>,
    /// New named limits (replaces the list; `[]` removes them).
    #[serde(default, deserialize_with = "not_null")]
    pub limits: Option<Vec<NamedLimit>>,
    /// New credits (balance and refill), or `null` to stop metering.
    #[serde(default, deserialize_with = "present")]
    pub credits: Option<Option<Credits>>,
    /// New tier (its limits apply, then `rate_limits`), or `null` to detach.
    #[serde(default, deserialize_with = "present")]
    pub tier: Option<Option<String>>,
    /// New owner, or `null`.
    #[serde(default, deserialize_with = "present")]
    pub owner_id: Option<Option<String>>,
    /// New metadata (replaces it), or `null`.
    #[serde(default, deserialize_with = "present")]
    pub metadata: Option<Option<Metadata>>,
    /// New scopes (replaces the list).
    #[serde(default, deserialize_with = "not_null")]
    pub scopes: Option<Vec<Scope>>,
    /// New hierarchical permissions (replaces them).
    #[serde(default, deserialize_with = "not_null")]
    pub permissions: Option<Hierarchy>,
    /// New IP allowlist (`[]` removes it).
    #[serde(default, deserialize_with = "not_null")]
    pub allowed_ips: Option<Vec<IpRule>>,
    /// New CORS origins.
    #[serde(default, deserialize_with = "not_null")]
    pub allowed_origins: Option<Vec<WebOrigin>>,
    /// New expiry, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    pub expires_at: Option<Option<Timestamp>>,
    /// New admission mode.
    #[serde(default, deserialize_with = "not_null")]
    pub admission: Option<Admission>,
}

/// The body of `POST /v1/keys/{id}/credits`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditsRequest {
    /// `set`, `increment` or `decrement`.
    pub op: CreditOp,
    /// By how much.
    pub amount: u64,
}

impl CreditsRequest {
    /// Refuses an amount no balance may hold (422 naming `amount`).
    pub fn validate(&self) -> Result<(), Error> {
        if self.amount > MAX_CREDITS {
            return Err(Error::invalid(
                "amount",
                format!("must be at most {MAX_CREDITS}"),
            ));
        }
        Ok(())
    }
}

/// Longest `Idempotency-Key` accepted, in characters.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// An `Idempotency-Key` header's value, if it is one keygate accepts:
/// 1-255 printable ASCII characters. `None` header → `None`.
pub fn idempotency_key(header: Option<String>) -> Result<Option<String>, Error> {
    match header {
        None => Ok(None),
        Some(k)
            if !k.is_empty()
                && k.len() <= MAX_IDEMPOTENCY_KEY_CHARS
                && k.bytes().all(|b| b.is_ascii_graphic() || b == b' ') =>
        {
            Ok(Some(k))
        }
        Some(_) => Err(Error::invalid(
            "Idempotency-Key",
            format!("must be 1-{MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters"),
        )),
    }
}

/// Longest overlap a rotation may give the previous secret: 365 days.
pub const MAX_ROTATION_GRACE_SECS: u64 = 365 * 86_400;

/// The body of `POST /v1/keys/{id}/rotate` (may be empty).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// How long the previous secret keeps working (0: not at all).
    #[serde(default, deserialize_with = "whole")]
    pub expire_previous_in_seconds: Option<u64>,
}

impl RotateRequest {
    /// The overlap to give the previous secret: 24 h by default, at most
    /// [`MAX_ROTATION_GRACE_SECS`] (longer is 422, so that no rotation can
    /// store a time that does not read back).
    pub fn grace_secs(&self) -> Result<u64, Error> {
        match self.expire_previous_in_seconds {
            None => Ok(DEFAULT_ROTATION_GRACE_SECS),
            Some(s) if s <= MAX_ROTATION_GRACE_SECS => Ok(s),
            Some(_) => Err(Error::invalid(
                "expire_previous_in_seconds",
                format!("must be at most {MAX_ROTATION_GRACE_SECS} (365 days)"),
            )),
        }
    }
}

/// Tells "field absent" (`None`, via `default`) from "field is null"
/// (`Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl KeyPatch {
    /// The record after this edit, validated like a new key (and by the
    /// same no-escalation rule). The secret, id, type and environment never
    /// change here.
    pub fn apply(
        self,
        permit: &Permit<'_>,
        tiers: &Tiers,
        now: Timestamp,
    ) -> Result<KeyRecord, Error> {
        let record = permit.target();
        let mut next = record.clone();
        if let Some(name) = self.name {
            next.name = name.trim().to_owned();
        }
        if let Some(description) = self.description {
            next.description = description;
        }
        let mut base = record.rate_limits;
        if let Some(tier) = self.tier {
            if let Some(name) = &tier {
                let tier = tiers.get(name)?;
                base = tier.rate_limits();
                next.window = tier.window;
                next.limits = tier.limits.clone();
            }
            next.tier = tier;
        }
        next.rate_limits = self.rate_limits.unwrap_or_default().or(base);
        if let Some(window) = self.window {
            next.window = window;
        }
        if let Some(limits) = self.limits {
            next.limits = limits;
        }
        if let Some(owner_id) = self.owner_id {
            next.owner_id = owner_id;
        }
        if let Some(metadata) = self.metadata {
            next.metadata = metadata;
        }
        if let Some(scopes) = self.scopes {
            next.grants.scopes = scopes;
        }
        if let Some(permissions) = self.permissions {
            next.grants.permissions = permissions;
        }
        if let Some(ips) = self.allowed_ips {
            next.allowed_ips = ips;
        }
        if let Some(origins) = self.allowed_origins {
            next.allowed_origins = origins;
        }
        if let Some(expires_at) = self.expires_at {
            next.expires_at = expires_at;
        }
        if let Some(admission) = self.admission {
            next.admission = admission;
        }
        next.validate(now)?;
        if let Some(Some(credits)) = &self.credits {
            credits.validate("credits")?;
        }
        let credits = self.credits.unwrap_or(permit.credits());
        permit.allows_result(&next, credits)?;
        Ok(next)
    }
}

/// What issuing a key needs besides the request.
pub struct IssueContext<'a> {
    /// Environments this deployment serves.
    pub environments: &'a [Environment],
    /// Limits for keys that give none.
    pub default_limits: RateLimits,
    /// The time of issue.
    pub now: Timestamp,
    /// Who is issuing.
    pub actor: &'a Actor,
    /// Configured tiers.
    pub tiers: &'a Tiers,
    /// The registry shards new keys are spread over.
    pub shards: ShardCount,
}

impl NewKey {
    /// Validates the request and mints the key: the returned `ApiKey` is
    /// the only copy of the secret, for the create response.
    pub fn issue(self, ctx: &IssueContext<'_>) -> Result<(KeyRecord, ApiKey), Error> {
        if !ctx.environments.contains(&self.environment) {
            let known: Vec<&str> = ctx.environments.iter().map(Environment::as_str).collect();
            return Err(Error::invalid(
                "environment",
                format!("must be one of: {}", known.join(", ")),
            ));
        }
        let key_type = self.key_type.unwrap_or(KeyType::Secret);
        let (base, window, limits) = match &self.tier {
            Some(name) => {
                let tier = ctx.tiers.get(name)?;
                (tier.rate_limits(), tier.window, tier.limits.clone())
            }
            None => (ctx.default_limits, WindowKind::Fixed, Vec::new()),
        };
        let key =
            ApiKey::generate(key_type, self.environment.clone()).map_err(|_| Error::INTERNAL)?;
        let given = self.rate_limits.unwrap_or_default();
        let inherited = Given {
            rate_limits: given,
            tier: self.tier.is_some(),
            window: self.window.is_some(),
            limits: self.limits.is_some(),
        };
        let mut record = KeyRecord {
            id: KeyId::generate(ctx.shards).map_err(|_| Error::INTERNAL)?,
            name: self.name.trim().to_owned(),
            description: self.description,
            environment: self.environment,
            key_type,
            rate_limits: given.or(base),
            window: self.window.unwrap_or(window),
            limits: self.limits.unwrap_or(limits),
            tier: self.tier,
            owner_id: self.owner_id,
            metadata: self.metadata,
            grants: Grants {
                scopes: self.scopes,
                permissions: self.permissions,
            },
            allowed_ips: self.allowed_ips,
            allowed_origins: self.allowed_origins,
            created_at: ctx.now,
            expires_at: self.expires_at,
            revoked_at: None,
            revoked_reason: None,
            secrets: vec![Secret::of(&key)],
            admission: self.admission.unwrap_or_default(),
            version: 0,
        };
        ctx.actor.inherit(&mut record, &inherited);
        record.validate(ctx.now)?;
        if let Some(credits) = &self.credits {
            credits.validate("credits")?;
        }
        ctx.actor.allows_new(&record, self.credits)?;
        Ok((record, key))
    }
}

#[cfg(test)]
mod tests;
