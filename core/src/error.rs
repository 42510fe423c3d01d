//! Every way a request can fail, and the one place that maps each to an
//! HTTP status, a stable `code` and a JSON body.
//!
//! Messages are written for the API's caller: they never carry internal
//! details, and never a key, hash or token.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::limits::{Holder, Quota};
use crate::time::Timestamp;

/// A request that keygate answers itself instead of forwarding.
///
/// Crosses the Worker ↔ Durable Object boundary as a flat [`Wire`] record
/// keyed by its `code`: an enum of this many variants costs the wasm
/// bundle far more to deserialize.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(into = "Wire", try_from = "Wire")]
pub enum Error {
    /// No key in `Authorization: Bearer` or `X-API-Key`.
    #[error("missing api key")]
    MissingApiKey,
    /// Malformed, failed checksum, unknown, or for another environment.
    /// The message says which only when it helps an honest caller.
    #[error("invalid api key")]
    InvalidApiKey {
        /// Caller-facing explanation.
        message: String,
    },
    /// The key's `expires_at` has passed.
    #[error("key expired")]
    KeyExpired,
    /// The key was revoked.
    #[error("key revoked")]
    KeyRevoked,
    /// A rate-limit window is exhausted; nothing was consumed.
    #[error("rate limited")]
    RateLimited {
        /// The exhausted limit, for `X-RateLimit-*` and `RateLimit`.
        quota: Quota,
        /// When the request could succeed.
        retry_at: Timestamp,
        /// Every limit of the key, for `RateLimit-Policy` (empty when the
        /// limit is keygate's own, e.g. the admin guard's).
        quotas: Vec<Quota>,
    },
    /// The key's (or its owner's) credits cannot pay for the request.
    #[error("credits exhausted")]
    CreditsExhausted {
        /// When the next refill is due, if there is one.
        retry_at: Option<Timestamp>,
        /// Whose credits ran out.
        holder: Holder,
    },
    /// No route in the table matches, and unmatched routes are denied.
    #[error("route not allowed")]
    RouteNotAllowed,
    /// The key does not hold what the route (or the admin action) needs.
    #[error("insufficient permissions")]
    InsufficientPermissions {
        /// The permission that was needed, when there is one to name.
        required: Option<String>,
        /// Caller-facing explanation.
        message: String,
    },
    /// The key has an IP allowlist and the client is not on it.
    #[error("ip not allowed")]
    IpNotAllowed,
    /// Admin route without a valid admin token.
    #[error("unauthorized")]
    Unauthorized,
    /// A genuine dashboard session past its time: sign in again.
    #[error("session expired")]
    SessionExpired,
    /// A write carried the dashboard's session cookie from another origin.
    #[error("cross-site request")]
    CrossSiteRequest,
    /// Admin routes are off because no `ADMIN_TOKEN` is configured.
    #[error("admin disabled")]
    AdminDisabled,
    /// No such route or key.
    #[error("not found")]
    NotFound,
    /// The route exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed {
        /// The methods the route has, for the `Allow` header.
        allow: String,
    },
    /// A method keygate cannot forward (`CONNECT`, `TRACE`, `TRACK`).
    #[error("method not supported")]
    MethodNotSupported,
    /// A `GET` or `HEAD` request with a body.
    #[error("body not allowed")]
    BodyNotAllowed,
    /// The route costs more than the key's limit: it can never pass.
    #[error("cost exceeds limit")]
    CostExceedsLimit {
        /// The route's cost.
        cost: u32,
        /// The smallest of the key's limits.
        limit: u32,
    },
    /// The origin did not answer in time.
    #[error("gateway timeout")]
    GatewayTimeout,
    /// The body is not JSON.
    #[error("invalid json")]
    InvalidJson {
        /// Where parsing stopped.
        message: String,
    },
    /// The body is JSON but a field is wrong, missing or unknown.
    #[error("invalid field {field}")]
    Invalid {
        /// Dotted path of the offending field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The path could be read two ways (see [`crate::policy::path`]).
    #[error("invalid path")]
    InvalidPath {
        /// What is ambiguous about it.
        message: String,
    },
    /// The URL exceeds [`crate::size::MAX_URL_BYTES`].
    #[error("uri too long")]
    UriTooLong {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The headers exceed [`crate::size::MAX_HEADER_BYTES`].
    #[error("headers too large")]
    HeadersTooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The body exceeds the documented cap.
    #[error("payload too large")]
    PayloadTooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// Key state (KV or Durable Object) could not be reached: fail closed.
    #[error("unavailable")]
    Unavailable,
    /// The origin could not be reached.
    #[error("bad gateway")]
    BadGateway,
    /// The deployment's configuration is invalid.
    #[error("misconfigured")]
    Misconfigured,
    /// The key's stored record cannot be read: only revoking it (with the
    /// admin token) works.
    #[error("record unreadable")]
    RecordUnreadable,
    /// A bug or an impossible state; details go to the log, not the client.
    #[error("internal error")]
    Internal,
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The message every unusable-but-well-formed or malformed key gets, so
    /// that answers do not help anyone probe for keys.
    pub fn invalid_api_key() -> Self {
        Error::InvalidApiKey {
            message: "The API key is not valid.".to_owned(),
        }
    }

    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Error::MissingApiKey
            | Error::InvalidApiKey { .. }
            | Error::KeyExpired
            | Error::KeyRevoked
            | Error::Unauthorized
            | Error::SessionExpired => 401,
            Error::RouteNotAllowed
            | Error::CrossSiteRequest
            | Error::InsufficientPermissions { .. }
            | Error::IpNotAllowed => 403,
            Error::NotFound => 404,
            Error::MethodNotAllowed { .. } => 405,
            Error::MethodNotSupported => 501,
            Error::CostExceedsLimit { .. } => 403,
            Error::GatewayTimeout => 504,
            Error::InvalidJson { .. } | Error::InvalidPath { .. } | Error::BodyNotAllowed => 400,
            Error::Invalid { .. } => 422,
            Error::PayloadTooLarge { .. } => 413,
            Error::UriTooLong { .. } => 414,
            Error::HeadersTooLarge { .. } => 431,
            Error::RateLimited { .. } | Error::CreditsExhausted { .. } => 429,
            Error::Internal | Error::Misconfigured | Error::RecordUnreadable => 500,
            Error::BadGateway => 502,
            Error::AdminDisabled | Error::Unavailable => 503,
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MissingApiKey => "missing_api_key",
            Error::InvalidApiKey { .. } => "invalid_api_key",
            Error::KeyExpired => "key_expired",
            Error::KeyRevoked => "key_revoked",
            Error::RateLimited { .. } => "rate_limited",
            Error::CreditsExhausted { .. } => "credits_exhausted",
            Error::RouteNotAllowed => "route_not_allowed",
            Error::InsufficientPermissions { .. } => "insufficient_permissions",
            Error::IpNotAllowed => "ip_not_allowed",
            Error::Unauthorized => "unauthorized",
            Error::SessionExpired => "session_expired",
            Error::CrossSiteRequest => "cross_site_request",
            Error::AdminDisabled => "admin_disabled",
            Error::NotFound => "not_found",
            Error::MethodNotAllowed { .. } => "method_not_allowed",
            Error::MethodNotSupported => "method_not_supported",
            Error::BodyNotAllowed => "body_not_allowed",
            Error::CostExceedsLimit { .. } => "cost_exceeds_limit",
            Error::GatewayTimeout => "gateway_timeout",
            Error::InvalidJson { .. } => "invalid_json",
            Error::Invalid { .. } => "invalid_request",
            Error::InvalidPath { .. } => "invalid_path",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::UriTooLong { .. } => "uri_too_long",
            Error::HeadersTooLarge { .. } => "headers_too_large",
            Error::Unavailable => "unavailable",
            Error::BadGateway => "bad_gateway",
            Error::Misconfigured => "misconfigured",
            Error::Internal => "internal_error",
            Error::RecordUnreadable => "record_unreadable",
        }
    }

    /// Human-readable message.
    pub fn message(&self) -> String {
        match self {
            Error::MissingApiKey => {
                "Send an API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`.".into()
            }
            Error::InvalidApiKey { message } => message.clone(),
            Error::KeyExpired => "The API key has expired.".into(),
            Error::KeyRevoked => "The API key has been revoked.".into(),
            Error::RateLimited { .. } => {
                "Rate limit exceeded; retry after `retry_after` seconds.".into()
            }
            Error::CreditsExhausted { retry_at, holder } => {
                let whose = match holder {
                    Holder::Key => "This API key has",
                    Holder::Owner => "This API key's owner has",
                };
                match retry_at {
                    Some(_) => format!("{whose} no credits left until its next refill, in `retry_after` seconds."),
                    None => format!("{whose} no credits left."),
                }
            }
            Error::RouteNotAllowed => "This route is not available through the API gateway.".into(),
            Error::InsufficientPermissions { message, .. } => message.clone(),
            Error::IpNotAllowed => {
                "Requests with this API key are not allowed from this IP address.".into()
            }
            Error::Unauthorized => "A valid admin token is required.".into(),
            Error::SessionExpired => "The session has expired: sign in again.".into(),
            Error::CrossSiteRequest => {
                "A request carrying the dashboard's session must come from the dashboard's own origin."
                    .into()
            }
            Error::AdminDisabled => {
                "Admin routes are disabled: no ADMIN_TOKEN of at least 24 characters is configured."
                    .into()
            }
            Error::NotFound => "Not found.".into(),
            Error::MethodNotAllowed { allow } => {
                format!("Method not allowed on this route; it allows {allow}.")
            }
            Error::MethodNotSupported => "keygate does not forward this method.".into(),
            Error::BodyNotAllowed => "GET and HEAD requests cannot carry a body.".into(),
            Error::CostExceedsLimit { cost, limit } => format!(
                "This route costs {cost} units, more than this key's limit of {limit}: it can never be admitted."
            ),
            Error::GatewayTimeout => "The upstream API did not answer in time.".into(),
            Error::InvalidJson { message } => format!("The body is not valid JSON: {message}"),
            Error::InvalidPath { message } => message.clone(),
            Error::Invalid { field, message } => format!("`{field}` {message}"),
            Error::PayloadTooLarge { limit } => format!("The body exceeds {limit} bytes."),
            Error::UriTooLong { limit } => format!("The URL exceeds {limit} bytes."),
            Error::HeadersTooLarge { limit } => {
                format!("The request headers exceed {limit} bytes.")
            }
            Error::Unavailable => "Key state is temporarily unavailable; retry shortly.".into(),
            Error::BadGateway => "The upstream API could not be reached.".into(),
            Error::Misconfigured => "keygate is misconfigured; see the Worker logs.".into(),
            Error::Internal => "Internal error.".into(),
            Error::RecordUnreadable => "This key's stored record cannot be read; revoke it with the admin token (DELETE works without reading it).".into(),
        }
    }

    /// Seconds a rate-limited client should wait, at `now` (at least 1).
    pub fn retry_after_secs(&self, now: Timestamp) -> Option<u64> {
        match self {
            Error::RateLimited { retry_at, .. }
            | Error::CreditsExhausted {
                retry_at: Some(retry_at),
                ..
            } => Some(retry_at.as_secs_ceil().saturating_sub(now.as_secs()).max(1)),
            _ => None,
        }
    }

    /// The JSON body: `{"error": {"code", "message", …}}`.
    pub fn body(&self, now: Timestamp) -> Value {
        let mut error = json!({ "code": self.code(), "message": self.message() });
        if let Error::Invalid { field, .. } = self {
            error["field"] = json!(field);
        }
        if let Error::InsufficientPermissions {
            required: Some(required),
            ..
        } = self
        {
            error["required"] = json!(required);
        }
        if let Some(secs) = self.retry_after_secs(now) {
            error["retry_after"] = json!(secs);
        }
        if let Error::RateLimited { quota, quotas, .. } = self {
            // Named only for a key's own limits (not keygate's admin guard).
            if !quotas.is_empty() {
                error["policy"] = json!(quota.label());
            }
        }
        json!({ "error": error })
    }
}

/// [`Error`] as it crosses between the Worker and a Durable Object.
#[derive(Serialize, Deserialize)]
pub struct Wire {
    code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quota: Option<Quota>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    quotas: Vec<Quota>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<(u64, u64)>,
}

impl From<Error> for Wire {
    fn from(e: Error) -> Wire {
        let mut w = Wire {
            code: e.code().to_owned(),
            text: None,
            name: None,
            quota: None,
            quotas: Vec::new(),
            at: None,
            n: None,
        };
        match e {
            Error::InvalidApiKey { message }
            | Error::InvalidJson { message }
            | Error::InvalidPath { message } => w.text = Some(message),
            Error::MethodNotAllowed { allow } => w.text = Some(allow),
            Error::InsufficientPermissions { required, message } => {
                w.text = Some(message);
                w.name = required;
            }
            Error::Invalid { field, message } => {
                w.text = Some(message);
                w.name = Some(field);
            }
            Error::CreditsExhausted { retry_at, holder } => {
                w.at = retry_at;
                w.name = (holder == Holder::Owner).then(|| "owner".to_owned());
            }
            Error::RateLimited {
                quota,
                retry_at,
                quotas,
            } => {
                w.quota = Some(quota);
                w.quotas = quotas;
                w.at = Some(retry_at);
            }
            Error::CostExceedsLimit { cost, limit } => w.n = Some((cost.into(), limit.into())),
            Error::UriTooLong { limit }
            | Error::HeadersTooLarge { limit }
            | Error::PayloadTooLarge { limit } => w.n = Some((limit as u64, 0)),
            _ => {}
        }
        w
    }
}

impl TryFrom<Wire> for Error {
    type Error = String;
    fn try_from(w: Wire) -> Result<Error, String> {
        let text = || w.text.clone().unwrap_or_default();
        let limit = || {
            w.n.map_or(0, |(n, _)| usize::try_from(n).unwrap_or(usize::MAX))
        };
        Ok(match w.code.as_str() {
            "missing_api_key" => Error::MissingApiKey,
            "invalid_api_key" => Error::InvalidApiKey { message: text() },
            "key_expired" => Error::KeyExpired,
            "key_revoked" => Error::KeyRevoked,
            "credits_exhausted" => Error::CreditsExhausted {
                retry_at: w.at,
                holder: match w.name.as_deref() {
                    Some("owner") => Holder::Owner,
                    _ => Holder::Key,
                },
            },
            "rate_limited" => Error::RateLimited {
                quota: w.quota.ok_or("rate_limited without quota")?,
                quotas: w.quotas,
                retry_at: w.at.ok_or("rate_limited without retry_at")?,
            },
            "route_not_allowed" => Error::RouteNotAllowed,
            "insufficient_permissions" => Error::InsufficientPermissions {
                required: w.name.clone(),
                message: text(),
            },
            "ip_not_allowed" => Error::IpNotAllowed,
            "unauthorized" => Error::Unauthorized,
            "session_expired" => Error::SessionExpired,
            "cross_site_request" => Error::CrossSiteRequest,
            "admin_disabled" => Error::AdminDisabled,
            "not_found" => Error::NotFound,
            "method_not_allowed" => Error::MethodNotAllowed { allow: text() },
            "method_not_supported" => Error::MethodNotSupported,
            "body_not_allowed" => Error::BodyNotAllowed,
            "cost_exceeds_limit" => {
                let (cost, limit) = w.n.unwrap_or_default();
                Error::CostExceedsLimit {
                    cost: u32::try_from(cost).unwrap_or(u32::MAX),
                    limit: u32::try_from(limit).unwrap_or(u32::MAX),
                }
            }
            "gateway_timeout" => Error::GatewayTimeout,
            "invalid_json" => Error::InvalidJson { message: text() },
            "invalid_request" => Error::Invalid {
                field: w.name.clone().unwrap_or_default(),
                message: text(),
            },
            "invalid_path" => Error::InvalidPath { message: text() },
            "uri_too_long" => Error::UriTooLong { limit: limit() },
            "headers_too_large" => Error::HeadersTooLarge { limit: limit() },
            "payload_too_large" => Error::PayloadTooLarge { limit: limit() },
            "unavailable" => Error::Unavailable,
            "bad_gateway" => Error::BadGateway,
            "misconfigured" => Error::Misconfigured,
            "record_unreadable" => Error::RecordUnreadable,
            "internal_error" => Error::Internal,
            other => return Err(format!("unknown error code {other:?}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_are_stable() {
        let cases = [
            (Error::MissingApiKey, 401, "missing_api_key"),
            (Error::invalid_api_key(), 401, "invalid_api_key"),
            (Error::KeyExpired, 401, "key_expired"),
            (Error::KeyRevoked, 401, "key_revoked"),
            (Error::Unauthorized, 401, "unauthorized"),
            (Error::SessionExpired, 401, "session_expired"),
            (Error::CrossSiteRequest, 403, "cross_site_request"),
            (
                Error::InvalidJson {
                    message: "x".into(),
                },
                400,
                "invalid_json",
            ),
            (Error::invalid("name", "bad"), 422, "invalid_request"),
            (
                Error::InvalidPath {
                    message: "x".into(),
                },
                400,
                "invalid_path",
            ),
            (
                Error::PayloadTooLarge { limit: 1 },
                413,
                "payload_too_large",
            ),
            (Error::UriTooLong { limit: 1 }, 414, "uri_too_long"),
            (
                Error::HeadersTooLarge { limit: 1 },
                431,
                "headers_too_large",
            ),
            (Error::NotFound, 404, "not_found"),
            (
                Error::MethodNotAllowed {
                    allow: "GET".into(),
                },
                405,
                "method_not_allowed",
            ),
            (Error::MethodNotSupported, 501, "method_not_supported"),
            (Error::BodyNotAllowed, 400, "body_not_allowed"),
            (
                Error::CostExceedsLimit { cost: 5, limit: 3 },
                403,
                "cost_exceeds_limit",
            ),
            (Error::GatewayTimeout, 504, "gateway_timeout"),
            (Error::RecordUnreadable, 500, "record_unreadable"),
            (Error::RouteNotAllowed, 403, "route_not_allowed"),
            (Error::IpNotAllowed, 403, "ip_not_allowed"),
            (
                Error::InsufficientPermissions {
                    required: None,
                    message: "m".into(),
                },
                403,
                "insufficient_permissions",
            ),
            (Error::Unavailable, 503, "unavailable"),
            (Error::AdminDisabled, 503, "admin_disabled"),
            (Error::BadGateway, 502, "bad_gateway"),
        ];
        for (error, status, code) in cases {
            let wire = serde_json::to_string(&error).unwrap();
            assert_eq!(
                serde_json::from_str::<Error>(&wire).unwrap(),
                error,
                "{wire}"
            );
            assert_eq!(error.status(), status, "{error:?}");
            assert_eq!(error.code(), code);
            let body = error.body(Timestamp::from_secs(0));
            assert_eq!(body["error"]["code"], code);
            assert!(body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()));
        }
    }

    #[test]
    fn rate_limited_body_carries_retry_after() {
        let reset = Timestamp::from_secs(1_000);
        let error = Error::RateLimited {
            quota: Quota {
                limit: 1,
                remaining: 0,
                reset,
                policy: crate::limits::PolicyName::MINUTE,
                window_seconds: 60,
                holder: crate::limits::Holder::Key,
            },
            quotas: Vec::new(),
            retry_at: reset,
        };
        let now = Timestamp::from_millis(957_500);
        let wire = serde_json::to_string(&error).unwrap();
        assert_eq!(serde_json::from_str::<Error>(&wire).unwrap(), error);
        assert_eq!(error.status(), 429);
        assert_eq!(error.retry_after_secs(now), Some(43));
        assert_eq!(error.body(now)["error"]["retry_after"], 43);
    }

    #[test]
    fn invalid_names_the_field() {
        let body = Error::invalid("rate_limits.per_minute", "must be positive")
            .body(Timestamp::from_secs(0));
        assert_eq!(body["error"]["field"], "rate_limits.per_minute");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rate_limits.per_minute"));
    }
}
