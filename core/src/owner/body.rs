//! The body of `PUT /v1/owners/{owner_id}` ([`OwnerLimits`]), its
//! validation, and what `GET` answers ([`view`]).

use serde::{Deserialize, Serialize};

use super::Owner;
use crate::error::Error;
use crate::limits::credits::Credits;
use crate::limits::{named, LimitSet, NamedLimit, Quota, RateLimits, WindowKind};

/// An owner's limits, as `PUT` sets them (replacing any) and as stored.
/// Every field is optional, but at least one limit or credits is needed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerLimits {
    /// Requests per minute and per day across all the owner's keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<RateLimits>,
    /// `fixed` (default) or `rolling` windows for limits of an hour or less.
    #[serde(default)]
    pub window: WindowKind,
    /// Named limits across all the owner's keys.
    #[serde(default)]
    pub limits: Vec<NamedLimit>,
    /// Credits every admitted request of any of the owner's keys spends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<Credits>,
}

impl OwnerLimits {
    /// The limits as the limiter checks them.
    pub fn limit_set(&self) -> LimitSet<'_> {
        LimitSet {
            rate_limits: self.rate_limits,
            window: self.window,
            named: &self.limits,
        }
    }

    /// Checks what serde cannot: the named limits' rules, the credits'
    /// bounds, and that there is something to enforce.
    pub fn validate(&self) -> Result<(), Error> {
        named::validate(&self.limits, "limits")?;
        if let Some(credits) = &self.credits {
            credits.validate("credits")?;
        }
        if self.rate_limits.is_none() && self.limits.is_empty() && self.credits.is_none() {
            return Err(Error::invalid(
                "rate_limits",
                "an owner needs `rate_limits`, `limits` or `credits` (DELETE removes an owner's limits)",
            ));
        }
        Ok(())
    }
}

/// Decodes and validates a `PUT` body; 400/422 naming the field.
pub fn parse(body: &[u8]) -> Result<OwnerLimits, Error> {
    let limits: OwnerLimits = crate::admin::parse_body(body)?;
    limits.validate()?;
    Ok(limits)
}

/// What `GET /v1/owners/{owner_id}` (and `PUT`) answer: `owner`'s limits
/// as set (credits with the balance `credits` left), and `usage`, each
/// limit's `limit`, `remaining` and `reset` (Unix seconds). Built as JSON
/// in the owner's object and passed through by the Worker as it is.
pub fn view(owner: &Owner, quotas: &[Quota], credits: Option<Credits>) -> serde_json::Value {
    serde_json::json!({
        "owner_id": owner.id,
        "rate_limits": owner.limits.rate_limits,
        "window": owner.limits.window,
        "limits": owner.limits.limits,
        "credits": credits,
        "usage": crate::limits::quotas_json(quotas),
        "updated_at": owner.updated_at,
    })
}
