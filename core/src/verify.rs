//! `POST /v1/verify`: the proxy's decision as JSON, for services that call
//! keygate instead of routing through it. Same checks, counted the same.

use std::num::NonZeroU32;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{Detail, Error};
use crate::keystate::Grant;
use crate::limits::quotas_json;
use crate::policy::permission::Permission;
use crate::policy::route::Requirement;
use crate::time::Timestamp;

/// The request body.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The key to check.
    pub key: String,
    /// A permission the key must hold (`orders:read`, `p/s/e:get`).
    #[serde(default, deserialize_with = "crate::admin::not_null")]
    pub permission: Option<Permission>,
    /// Units to consume (default 1).
    #[serde(default, deserialize_with = "crate::admin::whole")]
    pub cost: Option<NonZeroU32>,
    /// The end client's address, checked against the key's IP allowlist.
    #[serde(default, deserialize_with = "crate::admin::not_null")]
    pub ip: Option<String>,
    /// The method of the request being verified (default `GET`): a
    /// publishable key is valid for reads only.
    #[serde(default, deserialize_with = "crate::admin::not_null")]
    pub method: Option<Method>,
}

/// An HTTP method, as `verify` is told it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`.
    Head,
    /// `OPTIONS`.
    Options,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The method's token.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

impl VerifyRequest {
    /// Whether the verified request only reads, by the proxy's own rule.
    pub fn read_only(&self) -> bool {
        crate::policy::method::is_read(self.method.unwrap_or(Method::Get).as_str())
    }

    /// What the request needs.
    pub fn requirement(&self) -> Requirement {
        Requirement {
            permission: self.permission.clone(),
            cost: self.cost.unwrap_or(NonZeroU32::MIN),
            // Verify spends `cost` in every limit, like a route without `limits`.
            draws: None,
        }
    }
}

/// The response body's `data`: `valid` plus either the key's facts or the
/// refusal's code. A refusal is still a 200: the call worked.
pub fn verdict(result: &Result<Grant, Error>, now: Timestamp) -> Value {
    match result {
        Ok(g) => json!({
            "valid": true,
            "code": "valid",
            "key_id": g.key_id,
            "owner_id": g.owner_id,
            "environment": g.environment,
            "type": g.key_type,
            "scopes": g.grants.scopes,
            "permissions": g.grants.permissions,
            "metadata": g.metadata,
            "expires_at": g.expires_at,
            "ratelimit": g.quota().to_json(),
            "limits": quotas_json(&g.quotas),
            "credits": g.credits,
            "owner_credits": g.owner_credits,
        }),
        Err(e) => {
            let mut v = json!({ "valid": false, "code": e.code(), "message": e.message() });
            if let Detail::RateLimit { quota, quotas, .. } = e.detail() {
                v["ratelimit"] = quota.to_json();
                v["limits"] = quotas_json(quotas);
            }
            if let Some(secs) = e.retry_after_secs(now) {
                v["retry_after"] = json!(secs);
            }
            if let Detail::Permission {
                required: Some(r), ..
            } = e.detail()
            {
                v["required"] = json!(r);
            }
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Quota;

    #[test]
    fn refusals_carry_their_code() {
        let now = Timestamp::from_secs(100);
        let v = verdict(&Err(Error::KEY_REVOKED), now);
        assert_eq!(v["valid"], false);
        assert_eq!(v["code"], "key_revoked");
        let limited = Error::rate_limited(
            Quota {
                limit: 5,
                remaining: 0,
                reset: Timestamp::from_secs(130),
                policy: crate::limits::PolicyName::MINUTE,
                window_seconds: 60,
                holder: crate::limits::Holder::Key,
            },
            Timestamp::from_secs(130),
            Vec::new(),
        );
        let v = verdict(&Err(limited), now);
        assert_eq!(v["retry_after"], 30);
        assert_eq!(v["ratelimit"]["limit"], 5);
    }

    #[test]
    fn requests_parse() {
        let r: VerifyRequest =
            serde_json::from_str(r#"{"key":"k","permission":"orders:read","cost":3}"#).unwrap();
        assert_eq!(r.requirement().cost.get(), 3);
        assert!(
            serde_json::from_str::<VerifyRequest>(r#"{"key":"k","permission":"bad perm"}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<VerifyRequest>(r#"{"key":"k","cost":0}"#).is_err());
        assert!(r.read_only());
        let write: VerifyRequest = serde_json::from_str(r#"{"key":"k","method":"POST"}"#).unwrap();
        assert!(!write.read_only());
        assert!(serde_json::from_str::<VerifyRequest>(r#"{"key":"k","method":"get"}"#).is_err());
        assert!(serde_json::from_str::<VerifyRequest>(r#"{"key":"k","method":"MOVE"}"#).is_err());
    }
}
