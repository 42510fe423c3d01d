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

/// The kind of an [`Error`], without the details it carries: the one
/// table from a failure to its HTTP status and stable `code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // each kind is documented on its `Error` variant
pub enum ErrorKind {
    MissingApiKey,
    InvalidApiKey,
    KeyExpired,
    KeyRevoked,
    RateLimited,
    CreditsExhausted,
    RouteNotAllowed,
    InsufficientPermissions,
    IpNotAllowed,
    Unauthorized,
    SessionExpired,
    CrossSiteRequest,
    AdminDisabled,
    NotFound,
    MethodNotAllowed,
    MethodNotSupported,
    BodyNotAllowed,
    CostExceedsLimit,
    GatewayTimeout,
    InvalidJson,
    Invalid,
    InvalidPath,
    PayloadTooLarge,
    UriTooLong,
    HeadersTooLarge,
    Unavailable,
    BadGateway,
    Misconfigured,
    RecordUnreadable,
    Internal,
}

/// What a kind of error is answered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The HTTP status.
    pub status: u16,
    /// The stable `code` of the JSON body (and of the log line).
    pub code: &'static str,
}

impl ErrorKind {
    /// Every kind, in the order of the table.
    pub const ALL: [ErrorKind; 30] = [
        ErrorKind::MissingApiKey,
        ErrorKind::InvalidApiKey,
        ErrorKind::KeyExpired,
        ErrorKind::KeyRevoked,
        ErrorKind::RateLimited,
        ErrorKind::CreditsExhausted,
        ErrorKind::RouteNotAllowed,
        ErrorKind::InsufficientPermissions,
        ErrorKind::IpNotAllowed,
        ErrorKind::Unauthorized,
        ErrorKind::SessionExpired,
        ErrorKind::CrossSiteRequest,
        ErrorKind::AdminDisabled,
        ErrorKind::NotFound,
        ErrorKind::MethodNotAllowed,
        ErrorKind::MethodNotSupported,
        ErrorKind::BodyNotAllowed,
        ErrorKind::CostExceedsLimit,
        ErrorKind::GatewayTimeout,
        ErrorKind::InvalidJson,
        ErrorKind::Invalid,
        ErrorKind::InvalidPath,
        ErrorKind::PayloadTooLarge,
        ErrorKind::UriTooLong,
        ErrorKind::HeadersTooLarge,
        ErrorKind::Unavailable,
        ErrorKind::BadGateway,
        ErrorKind::Misconfigured,
        ErrorKind::RecordUnreadable,
        ErrorKind::Internal,
    ];

    /// The table: each kind's status and code, spelled once.
    pub const fn spec(self) -> Spec {
        let (status, code) = match self {
            ErrorKind::MissingApiKey => (401, "missing_api_key"),
            ErrorKind::InvalidApiKey => (401, "invalid_api_key"),
            ErrorKind::KeyExpired => (401, "key_expired"),
            ErrorKind::KeyRevoked => (401, "key_revoked"),
            ErrorKind::RateLimited => (429, "rate_limited"),
            ErrorKind::CreditsExhausted => (429, "credits_exhausted"),
            ErrorKind::RouteNotAllowed => (403, "route_not_allowed"),
            ErrorKind::InsufficientPermissions => (403, "insufficient_permissions"),
            ErrorKind::IpNotAllowed => (403, "ip_not_allowed"),
            ErrorKind::Unauthorized => (401, "unauthorized"),
            ErrorKind::SessionExpired => (401, "session_expired"),
            ErrorKind::CrossSiteRequest => (403, "cross_site_request"),
            ErrorKind::AdminDisabled => (503, "admin_disabled"),
            ErrorKind::NotFound => (404, "not_found"),
            ErrorKind::MethodNotAllowed => (405, "method_not_allowed"),
            ErrorKind::MethodNotSupported => (501, "method_not_supported"),
            ErrorKind::BodyNotAllowed => (400, "body_not_allowed"),
            ErrorKind::CostExceedsLimit => (403, "cost_exceeds_limit"),
            ErrorKind::GatewayTimeout => (504, "gateway_timeout"),
            ErrorKind::InvalidJson => (400, "invalid_json"),
            ErrorKind::Invalid => (422, "invalid_request"),
            ErrorKind::InvalidPath => (400, "invalid_path"),
            ErrorKind::PayloadTooLarge => (413, "payload_too_large"),
            ErrorKind::UriTooLong => (414, "uri_too_long"),
            ErrorKind::HeadersTooLarge => (431, "headers_too_large"),
            ErrorKind::Unavailable => (503, "unavailable"),
            ErrorKind::BadGateway => (502, "bad_gateway"),
            ErrorKind::Misconfigured => (500, "misconfigured"),
            ErrorKind::RecordUnreadable => (500, "record_unreadable"),
            ErrorKind::Internal => (500, "internal_error"),
        };
        Spec { status, code }
    }

    /// The kind whose code is `code`.
    pub fn from_code(code: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.spec().code == code)
    }
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

    /// What kind of failure this is: the key into [`ErrorKind::spec`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::MissingApiKey => ErrorKind::MissingApiKey,
            Error::InvalidApiKey { .. } => ErrorKind::InvalidApiKey,
            Error::KeyExpired => ErrorKind::KeyExpired,
            Error::KeyRevoked => ErrorKind::KeyRevoked,
            Error::RateLimited { .. } => ErrorKind::RateLimited,
            Error::CreditsExhausted { .. } => ErrorKind::CreditsExhausted,
            Error::RouteNotAllowed => ErrorKind::RouteNotAllowed,
            Error::InsufficientPermissions { .. } => ErrorKind::InsufficientPermissions,
            Error::IpNotAllowed => ErrorKind::IpNotAllowed,
            Error::Unauthorized => ErrorKind::Unauthorized,
            Error::SessionExpired => ErrorKind::SessionExpired,
            Error::CrossSiteRequest => ErrorKind::CrossSiteRequest,
            Error::AdminDisabled => ErrorKind::AdminDisabled,
            Error::NotFound => ErrorKind::NotFound,
            Error::MethodNotAllowed { .. } => ErrorKind::MethodNotAllowed,
            Error::MethodNotSupported => ErrorKind::MethodNotSupported,
            Error::BodyNotAllowed => ErrorKind::BodyNotAllowed,
            Error::CostExceedsLimit { .. } => ErrorKind::CostExceedsLimit,
            Error::GatewayTimeout => ErrorKind::GatewayTimeout,
            Error::InvalidJson { .. } => ErrorKind::InvalidJson,
            Error::Invalid { .. } => ErrorKind::Invalid,
            Error::InvalidPath { .. } => ErrorKind::InvalidPath,
            Error::PayloadTooLarge { .. } => ErrorKind::PayloadTooLarge,
            Error::UriTooLong { .. } => ErrorKind::UriTooLong,
            Error::HeadersTooLarge { .. } => ErrorKind::HeadersTooLarge,
            Error::Unavailable => ErrorKind::Unavailable,
            Error::BadGateway => ErrorKind::BadGateway,
            Error::Misconfigured => ErrorKind::Misconfigured,
            Error::RecordUnreadable => ErrorKind::RecordUnreadable,
            Error::Internal => ErrorKind::Internal,
        }
    }

    /// HTTP status (see [`ErrorKind::spec`]).
    pub fn status(&self) -> u16 {
        self.kind().spec().status
    }

    /// Stable machine-readable code (see [`ErrorKind::spec`]).
    pub fn code(&self) -> &'static str {
        self.kind().spec().code
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
        let kind = ErrorKind::from_code(&w.code)
            .ok_or_else(|| format!("unknown error code {:?}", w.code))?;
        Ok(match kind {
            ErrorKind::MissingApiKey => Error::MissingApiKey,
            ErrorKind::InvalidApiKey => Error::InvalidApiKey { message: text() },
            ErrorKind::KeyExpired => Error::KeyExpired,
            ErrorKind::KeyRevoked => Error::KeyRevoked,
            ErrorKind::CreditsExhausted => Error::CreditsExhausted {
                retry_at: w.at,
                holder: match w.name.as_deref() {
                    Some("owner") => Holder::Owner,
                    _ => Holder::Key,
                },
            },
            ErrorKind::RateLimited => Error::RateLimited {
                quota: w.quota.ok_or("rate_limited without quota")?,
                quotas: w.quotas,
                retry_at: w.at.ok_or("rate_limited without retry_at")?,
            },
            ErrorKind::RouteNotAllowed => Error::RouteNotAllowed,
            ErrorKind::InsufficientPermissions => Error::InsufficientPermissions {
                required: w.name.clone(),
                message: text(),
            },
            ErrorKind::IpNotAllowed => Error::IpNotAllowed,
            ErrorKind::Unauthorized => Error::Unauthorized,
            ErrorKind::SessionExpired => Error::SessionExpired,
            ErrorKind::CrossSiteRequest => Error::CrossSiteRequest,
            ErrorKind::AdminDisabled => Error::AdminDisabled,
            ErrorKind::NotFound => Error::NotFound,
            ErrorKind::MethodNotAllowed => Error::MethodNotAllowed { allow: text() },
            ErrorKind::MethodNotSupported => Error::MethodNotSupported,
            ErrorKind::BodyNotAllowed => Error::BodyNotAllowed,
            ErrorKind::CostExceedsLimit => {
                let (cost, limit) = w.n.unwrap_or_default();
                Error::CostExceedsLimit {
                    cost: u32::try_from(cost).unwrap_or(u32::MAX),
                    limit: u32::try_from(limit).unwrap_or(u32::MAX),
                }
            }
            ErrorKind::GatewayTimeout => Error::GatewayTimeout,
            ErrorKind::InvalidJson => Error::InvalidJson { message: text() },
            ErrorKind::Invalid => Error::Invalid {
                field: w.name.clone().unwrap_or_default(),
                message: text(),
            },
            ErrorKind::InvalidPath => Error::InvalidPath { message: text() },
            ErrorKind::UriTooLong => Error::UriTooLong { limit: limit() },
            ErrorKind::HeadersTooLarge => Error::HeadersTooLarge { limit: limit() },
            ErrorKind::PayloadTooLarge => Error::PayloadTooLarge { limit: limit() },
            ErrorKind::Unavailable => Error::Unavailable,
            ErrorKind::BadGateway => Error::BadGateway,
            ErrorKind::Misconfigured => Error::Misconfigured,
            ErrorKind::RecordUnreadable => Error::RecordUnreadable,
            ErrorKind::Internal => Error::Internal,
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
    fn every_kind_has_its_own_code() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_code(kind.spec().code), Some(kind));
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
