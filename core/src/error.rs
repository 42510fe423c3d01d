//! Every way a request can fail, and the one place that maps each to an
//! HTTP status, a stable `code` and a JSON body.
//!
//! Messages are written for the API's caller: they never carry internal
//! details, and never a key, hash or token.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::limits::{Holder, Quota};
use crate::time::Timestamp;

/// A request that keygate answers itself instead of forwarding: what kind
/// of failure it is (the key into the one table of statuses and codes,
/// [`ErrorKind::spec`]) and the detail that kind carries. The fields are
/// private: each kind is made by its constant or constructor, so a kind
/// never carries another kind's detail.
///
/// Crosses the Worker ↔ Durable Object boundary as a flat [`Wire`] record
/// keyed by its `code`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Wire", try_from = "Wire")]
pub struct Error {
    kind: ErrorKind,
    detail: Detail,
}

/// What an [`Error`] carries besides its kind; which shape a kind carries
/// is in [`ErrorKind::spec`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detail {
    /// Nothing.
    None,
    /// A caller-facing explanation (`invalid_api_key`, `invalid_json`,
    /// `invalid_path`), or the methods a route allows (`method_not_allowed`,
    /// for the `Allow` header).
    Text(String),
    /// The permission that was needed, when there is one to name, and a
    /// caller-facing explanation (`insufficient_permissions`).
    Permission {
        /// The permission.
        required: Option<String>,
        /// The explanation.
        message: String,
    },
    /// The offending field's dotted path and what is wrong with it
    /// (`invalid_request`).
    Field {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A size cap, in bytes (`payload_too_large`, `uri_too_long`,
    /// `headers_too_large`).
    Limit(usize),
    /// A route's cost and the smallest of the key's limits
    /// (`cost_exceeds_limit`: it can never pass).
    Cost {
        /// The route's cost.
        cost: u32,
        /// The limit.
        limit: u32,
    },
    /// An exhausted rate-limit window; nothing was consumed (`rate_limited`).
    RateLimit {
        /// The exhausted limit, for `X-RateLimit-*` and `RateLimit`.
        quota: Quota,
        /// When the request could succeed.
        retry_at: Timestamp,
        /// Every limit of the key, for `RateLimit-Policy` (empty when the
        /// limit is keygate's own, e.g. the admin guard's).
        quotas: Vec<Quota>,
    },
    /// Credits that cannot pay for the request (`credits_exhausted`).
    Credits {
        /// When the next refill is due, if there is one.
        retry_at: Option<Timestamp>,
        /// Whose credits ran out.
        holder: Holder,
    },
}

/// The shape of [`Detail`] a kind carries (its variant, without data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// [`Detail::None`].
    None,
    /// [`Detail::Text`].
    Text,
    /// [`Detail::Permission`].
    Permission,
    /// [`Detail::Field`].
    Field,
    /// [`Detail::Limit`].
    Limit,
    /// [`Detail::Cost`].
    Cost,
    /// [`Detail::RateLimit`].
    RateLimit,
    /// [`Detail::Credits`].
    Credits,
}

/// The kind of an [`Error`]: the one table from a failure to its HTTP
/// status, stable `code` and the detail it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No key in `Authorization: Bearer` or `X-API-Key`.
    MissingApiKey,
    /// Malformed, failed checksum, unknown, or for another environment.
    /// The message says which only when it helps an honest caller.
    InvalidApiKey,
    /// The key's `expires_at` has passed.
    KeyExpired,
    /// The key was revoked.
    KeyRevoked,
    /// A rate-limit window is exhausted; nothing was consumed.
    RateLimited,
    /// The key's (or its owner's) credits cannot pay for the request.
    CreditsExhausted,
    /// No route in the table matches, and unmatched routes are denied.
    RouteNotAllowed,
    /// The key does not hold what the route (or the admin action) needs.
    InsufficientPermissions,
    /// The key has an IP allowlist and the client is not on it.
    IpNotAllowed,
    /// Admin route without a valid admin token.
    Unauthorized,
    /// A genuine dashboard session past its time: sign in again.
    SessionExpired,
    /// A write carried the dashboard's session cookie from another origin.
    CrossSiteRequest,
    /// Admin routes are off because no `ADMIN_TOKEN` is configured.
    AdminDisabled,
    /// No such route or key.
    NotFound,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// A method keygate cannot forward (`CONNECT`, `TRACE`, `TRACK`).
    MethodNotSupported,
    /// A `GET` or `HEAD` request with a body.
    BodyNotAllowed,
    /// The route costs more than the key's limit: it can never pass.
    CostExceedsLimit,
    /// The origin did not answer in time.
    GatewayTimeout,
    /// The body is not JSON.
    InvalidJson,
    /// The body is JSON but a field is wrong, missing or unknown.
    Invalid,
    /// The path could be read two ways (see [`crate::policy::path`]).
    InvalidPath,
    /// The body exceeds the documented cap.
    PayloadTooLarge,
    /// The URL exceeds [`crate::request::size::MAX_URL_BYTES`].
    UriTooLong,
    /// The headers exceed [`crate::request::size::MAX_HEADER_BYTES`].
    HeadersTooLarge,
    /// Key state (KV or Durable Object) could not be reached: fail closed.
    Unavailable,
    /// The origin could not be reached.
    BadGateway,
    /// The deployment's configuration is invalid.
    Misconfigured,
    /// The key's stored record cannot be read: only revoking it (with the
    /// admin token) works.
    RecordUnreadable,
    /// A bug or an impossible state; details go to the log, not the client.
    Internal,
}

/// What a kind of error is answered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The HTTP status.
    pub status: u16,
    /// The stable `code` of the JSON body (and of the log line).
    pub code: &'static str,
    /// The detail it carries.
    pub shape: Shape,
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

    /// The table: each kind's status, code (spelled once) and detail.
    pub const fn spec(self) -> Spec {
        use Shape as S;
        let (status, code, shape) = match self {
            ErrorKind::MissingApiKey => (401, "missing_api_key", S::None),
            ErrorKind::InvalidApiKey => (401, "invalid_api_key", S::Text),
            ErrorKind::KeyExpired => (401, "key_expired", S::None),
            ErrorKind::KeyRevoked => (401, "key_revoked", S::None),
            ErrorKind::RateLimited => (429, "rate_limited", S::RateLimit),
            ErrorKind::CreditsExhausted => (429, "credits_exhausted", S::Credits),
            ErrorKind::RouteNotAllowed => (403, "route_not_allowed", S::None),
            ErrorKind::InsufficientPermissions => (403, "insufficient_permissions", S::Permission),
            ErrorKind::IpNotAllowed => (403, "ip_not_allowed", S::None),
            ErrorKind::Unauthorized => (401, "unauthorized", S::None),
            ErrorKind::SessionExpired => (401, "session_expired", S::None),
            ErrorKind::CrossSiteRequest => (403, "cross_site_request", S::None),
            ErrorKind::AdminDisabled => (503, "admin_disabled", S::None),
            ErrorKind::NotFound => (404, "not_found", S::None),
            ErrorKind::MethodNotAllowed => (405, "method_not_allowed", S::Text),
            ErrorKind::MethodNotSupported => (501, "method_not_supported", S::None),
            ErrorKind::BodyNotAllowed => (400, "body_not_allowed", S::None),
            ErrorKind::CostExceedsLimit => (403, "cost_exceeds_limit", S::Cost),
            ErrorKind::GatewayTimeout => (504, "gateway_timeout", S::None),
            ErrorKind::InvalidJson => (400, "invalid_json", S::Text),
            ErrorKind::Invalid => (422, "invalid_request", S::Field),
            ErrorKind::InvalidPath => (400, "invalid_path", S::Text),
            ErrorKind::PayloadTooLarge => (413, "payload_too_large", S::Limit),
            ErrorKind::UriTooLong => (414, "uri_too_long", S::Limit),
            ErrorKind::HeadersTooLarge => (431, "headers_too_large", S::Limit),
            ErrorKind::Unavailable => (503, "unavailable", S::None),
            ErrorKind::BadGateway => (502, "bad_gateway", S::None),
            ErrorKind::Misconfigured => (500, "misconfigured", S::None),
            ErrorKind::RecordUnreadable => (500, "record_unreadable", S::None),
            ErrorKind::Internal => (500, "internal_error", S::None),
        };
        Spec {
            status,
            code,
            shape,
        }
    }

    /// The kind whose code is `code`.
    pub fn from_code(code: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.spec().code == code)
    }

    /// The message of a kind whose detail does not change it.
    const fn fixed_message(self) -> &'static str {
        match self {
            ErrorKind::MissingApiKey => {
                "Send an API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`."
            }
            ErrorKind::KeyExpired => "The API key has expired.",
            ErrorKind::KeyRevoked => "The API key has been revoked.",
            ErrorKind::RateLimited => "Rate limit exceeded; retry after `retry_after` seconds.",
            ErrorKind::RouteNotAllowed => "This route is not available through the API gateway.",
            ErrorKind::IpNotAllowed => {
                "Requests with this API key are not allowed from this IP address."
            }
            ErrorKind::Unauthorized => "A valid admin token is required.",
            ErrorKind::SessionExpired => "The session has expired: sign in again.",
            ErrorKind::CrossSiteRequest => {
                "A request carrying the dashboard's session must come from the dashboard's own origin."
            }
            ErrorKind::AdminDisabled => {
                "Admin routes are disabled: no ADMIN_TOKEN of at least 24 characters is configured."
            }
            ErrorKind::NotFound => "Not found.",
            ErrorKind::MethodNotSupported => "keygate does not forward this method.",
            ErrorKind::BodyNotAllowed => "GET and HEAD requests cannot carry a body.",
            ErrorKind::GatewayTimeout => "The upstream API did not answer in time.",
            ErrorKind::Unavailable => "Key state is temporarily unavailable; retry shortly.",
            ErrorKind::BadGateway => "The upstream API could not be reached.",
            ErrorKind::Misconfigured => "keygate is misconfigured; see the Worker logs.",
            ErrorKind::RecordUnreadable => "This key's stored record cannot be read; revoke it with the admin token (DELETE works without reading it).",
            _ => "Internal error.",
        }
    }
}

impl Error {
    const fn plain(kind: ErrorKind) -> Error {
        Error {
            kind,
            detail: Detail::None,
        }
    }

    /// See [`ErrorKind::MissingApiKey`].
    pub const MISSING_API_KEY: Error = Error::plain(ErrorKind::MissingApiKey);
    /// See [`ErrorKind::KeyExpired`].
    pub const KEY_EXPIRED: Error = Error::plain(ErrorKind::KeyExpired);
    /// See [`ErrorKind::KeyRevoked`].
    pub const KEY_REVOKED: Error = Error::plain(ErrorKind::KeyRevoked);
    /// See [`ErrorKind::RouteNotAllowed`].
    pub const ROUTE_NOT_ALLOWED: Error = Error::plain(ErrorKind::RouteNotAllowed);
    /// See [`ErrorKind::IpNotAllowed`].
    pub const IP_NOT_ALLOWED: Error = Error::plain(ErrorKind::IpNotAllowed);
    /// See [`ErrorKind::Unauthorized`].
    pub const UNAUTHORIZED: Error = Error::plain(ErrorKind::Unauthorized);
    /// See [`ErrorKind::SessionExpired`].
    pub const SESSION_EXPIRED: Error = Error::plain(ErrorKind::SessionExpired);
    /// See [`ErrorKind::CrossSiteRequest`].
    pub const CROSS_SITE_REQUEST: Error = Error::plain(ErrorKind::CrossSiteRequest);
    /// See [`ErrorKind::AdminDisabled`].
    pub const ADMIN_DISABLED: Error = Error::plain(ErrorKind::AdminDisabled);
    /// See [`ErrorKind::NotFound`].
    pub const NOT_FOUND: Error = Error::plain(ErrorKind::NotFound);
    /// See [`ErrorKind::MethodNotSupported`].
    pub const METHOD_NOT_SUPPORTED: Error = Error::plain(ErrorKind::MethodNotSupported);
    /// See [`ErrorKind::BodyNotAllowed`].
    pub const BODY_NOT_ALLOWED: Error = Error::plain(ErrorKind::BodyNotAllowed);
    /// See [`ErrorKind::GatewayTimeout`].
    pub const GATEWAY_TIMEOUT: Error = Error::plain(ErrorKind::GatewayTimeout);
    /// See [`ErrorKind::Unavailable`].
    pub const UNAVAILABLE: Error = Error::plain(ErrorKind::Unavailable);
    /// See [`ErrorKind::BadGateway`].
    pub const BAD_GATEWAY: Error = Error::plain(ErrorKind::BadGateway);
    /// See [`ErrorKind::Misconfigured`].
    pub const MISCONFIGURED: Error = Error::plain(ErrorKind::Misconfigured);
    /// See [`ErrorKind::RecordUnreadable`].
    pub const RECORD_UNREADABLE: Error = Error::plain(ErrorKind::RecordUnreadable);
    /// See [`ErrorKind::Internal`].
    pub const INTERNAL: Error = Error::plain(ErrorKind::Internal);

    /// The message every unusable-but-well-formed or malformed key gets, so
    /// that answers do not help anyone probe for keys.
    pub fn invalid_api_key() -> Self {
        Error::invalid_api_key_because("The API key is not valid.")
    }

    /// An invalid key, with a `message` that helps an honest caller (a key
    /// for another environment).
    pub fn invalid_api_key_because(message: impl Into<String>) -> Self {
        Error::with(ErrorKind::InvalidApiKey, Detail::Text(message.into()))
    }

    /// A body that is not JSON; `message` says where parsing stopped.
    pub fn invalid_json(message: impl Into<String>) -> Self {
        Error::with(ErrorKind::InvalidJson, Detail::Text(message.into()))
    }

    /// A path that could be read two ways; `message` says how.
    pub fn invalid_path(message: impl Into<String>) -> Self {
        Error::with(ErrorKind::InvalidPath, Detail::Text(message.into()))
    }

    /// A route that exists, but not with this method; it `allow`s these.
    pub fn method_not_allowed(allow: impl Into<String>) -> Self {
        Error::with(ErrorKind::MethodNotAllowed, Detail::Text(allow.into()))
    }

    /// The key lacks `required` (when there is one to name).
    pub fn insufficient_permissions(required: Option<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        Error::with(
            ErrorKind::InsufficientPermissions,
            Detail::Permission { required, message },
        )
    }

    /// `field` (a dotted path) is wrong, missing or unknown.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let (field, message) = (field.into(), message.into());
        Error::with(ErrorKind::Invalid, Detail::Field { field, message })
    }

    /// The body exceeds `limit` bytes.
    pub fn payload_too_large(limit: usize) -> Self {
        Error::with(ErrorKind::PayloadTooLarge, Detail::Limit(limit))
    }

    /// The URL exceeds `limit` bytes.
    pub fn uri_too_long(limit: usize) -> Self {
        Error::with(ErrorKind::UriTooLong, Detail::Limit(limit))
    }

    /// The headers exceed `limit` bytes.
    pub fn headers_too_large(limit: usize) -> Self {
        Error::with(ErrorKind::HeadersTooLarge, Detail::Limit(limit))
    }

    /// The route costs `cost`, more than the key's smallest `limit`.
    pub fn cost_exceeds_limit(cost: u32, limit: u32) -> Self {
        Error::with(ErrorKind::CostExceedsLimit, Detail::Cost { cost, limit })
    }

    /// `quota` (one of the key's `quotas`) is spent until `retry_at`.
    pub fn rate_limited(quota: Quota, retry_at: Timestamp, quotas: Vec<Quota>) -> Self {
        Error::with(
            ErrorKind::RateLimited,
            Detail::RateLimit {
                quota,
                retry_at,
                quotas,
            },
        )
    }

    /// `holder`'s credits cannot pay until `retry_at`, its next refill.
    pub fn credits_exhausted(retry_at: Option<Timestamp>, holder: Holder) -> Self {
        Error::with(
            ErrorKind::CreditsExhausted,
            Detail::Credits { retry_at, holder },
        )
    }

    fn with(kind: ErrorKind, detail: Detail) -> Self {
        Error { kind, detail }
    }

    /// What kind of failure this is: the key into [`ErrorKind::spec`].
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What it carries besides its kind.
    pub fn detail(&self) -> &Detail {
        &self.detail
    }

    /// [`Error::detail`], owned.
    pub fn into_detail(self) -> Detail {
        self.detail
    }

    /// HTTP status (see [`ErrorKind::spec`]).
    pub fn status(&self) -> u16 {
        self.kind.spec().status
    }

    /// Stable machine-readable code (see [`ErrorKind::spec`]).
    pub fn code(&self) -> &'static str {
        self.kind.spec().code
    }

    /// The offending field, for an `invalid_request`.
    pub fn field(&self) -> Option<&str> {
        match &self.detail {
            Detail::Field { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Human-readable message.
    pub fn message(&self) -> String {
        match (self.kind, &self.detail) {
            (ErrorKind::MethodNotAllowed, Detail::Text(allow)) => {
                format!("Method not allowed on this route; it allows {allow}.")
            }
            (ErrorKind::InvalidJson, Detail::Text(message)) => {
                format!("The body is not valid JSON: {message}")
            }
            (_, Detail::Text(message)) | (_, Detail::Permission { message, .. }) => {
                message.clone()
            }
            (_, Detail::Field { field, message }) => format!("`{field}` {message}"),
            (ErrorKind::PayloadTooLarge, Detail::Limit(limit)) => {
                format!("The body exceeds {limit} bytes.")
            }
            (ErrorKind::UriTooLong, Detail::Limit(limit)) => {
                format!("The URL exceeds {limit} bytes.")
            }
            (_, Detail::Limit(limit)) => format!("The request headers exceed {limit} bytes."),
            (_, Detail::Cost { cost, limit }) => format!(
                "This route costs {cost} units, more than this key's limit of {limit}: it can never be admitted."
            ),
            (_, Detail::Credits { retry_at, holder }) => {
                let whose = match holder {
                    Holder::Key => "This API key has",
                    Holder::Owner => "This API key's owner has",
                };
                match retry_at {
                    Some(_) => format!("{whose} no credits left until its next refill, in `retry_after` seconds."),
                    None => format!("{whose} no credits left."),
                }
            }
            (kind, Detail::None | Detail::RateLimit { .. }) => kind.fixed_message().to_owned(),
        }
    }

    /// Seconds a rate-limited client should wait, at `now` (at least 1).
    pub fn retry_after_secs(&self, now: Timestamp) -> Option<u64> {
        match &self.detail {
            Detail::RateLimit { retry_at, .. }
            | Detail::Credits {
                retry_at: Some(retry_at),
                ..
            } => Some(retry_at.as_secs_ceil().saturating_sub(now.as_secs()).max(1)),
            _ => None,
        }
    }

    /// The JSON body: `{"error": {"code", "message", …}}`.
    pub fn body(&self, now: Timestamp) -> Value {
        let mut error = json!({ "code": self.code(), "message": self.message() });
        match &self.detail {
            Detail::Field { field, .. } => error["field"] = json!(field),
            Detail::Permission {
                required: Some(required),
                ..
            } => error["required"] = json!(required),
            // Named only for a key's own limits (not keygate's admin guard).
            Detail::RateLimit { quota, quotas, .. } if !quotas.is_empty() => {
                error["policy"] = json!(quota.label());
            }
            _ => {}
        }
        if let Some(secs) = self.retry_after_secs(now) {
            error["retry_after"] = json!(secs);
        }
        json!({ "error": error })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field() {
            Some(field) => write!(f, "{} ({field})", self.code()),
            None => f.write_str(self.code()),
        }
    }
}

impl std::error::Error for Error {}

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
        match e.detail {
            Detail::None => {}
            Detail::Text(text) => w.text = Some(text),
            Detail::Permission { required, message } => {
                w.text = Some(message);
                w.name = required;
            }
            Detail::Field { field, message } => {
                w.text = Some(message);
                w.name = Some(field);
            }
            Detail::Credits { retry_at, holder } => {
                w.at = retry_at;
                w.name = (holder == Holder::Owner).then(|| "owner".to_owned());
            }
            Detail::RateLimit {
                quota,
                retry_at,
                quotas,
            } => {
                w.quota = Some(quota);
                w.quotas = quotas;
                w.at = Some(retry_at);
            }
            Detail::Cost { cost, limit } => w.n = Some((cost.into(), limit.into())),
            Detail::Limit(limit) => w.n = Some((limit as u64, 0)),
        }
        w
    }
}

impl TryFrom<Wire> for Error {
    type Error = String;
    fn try_from(w: Wire) -> Result<Error, String> {
        let kind = ErrorKind::from_code(&w.code)
            .ok_or_else(|| format!("unknown error code {:?}", w.code))?;
        let text = w.text.unwrap_or_default();
        let (first, second) = w.n.unwrap_or_default();
        let detail = match kind.spec().shape {
            Shape::None => Detail::None,
            Shape::Text => Detail::Text(text),
            Shape::Permission => Detail::Permission {
                required: w.name,
                message: text,
            },
            Shape::Field => Detail::Field {
                field: w.name.unwrap_or_default(),
                message: text,
            },
            Shape::Limit => Detail::Limit(usize::try_from(first).unwrap_or(usize::MAX)),
            Shape::Cost => Detail::Cost {
                cost: u32::try_from(first).unwrap_or(u32::MAX),
                limit: u32::try_from(second).unwrap_or(u32::MAX),
            },
            Shape::RateLimit => Detail::RateLimit {
                quota: w.quota.ok_or("rate_limited without quota")?,
                quotas: w.quotas,
                retry_at: w.at.ok_or("rate_limited without retry_at")?,
            },
            Shape::Credits => Detail::Credits {
                retry_at: w.at,
                holder: match w.name.as_deref() {
                    Some("owner") => Holder::Owner,
                    _ => Holder::Key,
                },
            },
        };
        Ok(Error { kind, detail })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_are_stable() {
        let cases = [
            (Error::MISSING_API_KEY, 401, "missing_api_key"),
            (Error::invalid_api_key(), 401, "invalid_api_key"),
            (Error::KEY_EXPIRED, 401, "key_expired"),
            (Error::KEY_REVOKED, 401, "key_revoked"),
            (Error::UNAUTHORIZED, 401, "unauthorized"),
            (Error::SESSION_EXPIRED, 401, "session_expired"),
            (Error::CROSS_SITE_REQUEST, 403, "cross_site_request"),
            (Error::invalid_json("x"), 400, "invalid_json"),
            (Error::invalid("name", "bad"), 422, "invalid_request"),
            (Error::invalid_path("x"), 400, "invalid_path"),
            (Error::payload_too_large(1), 413, "payload_too_large"),
            (Error::uri_too_long(1), 414, "uri_too_long"),
            (Error::headers_too_large(1), 431, "headers_too_large"),
            (Error::NOT_FOUND, 404, "not_found"),
            (Error::method_not_allowed("GET"), 405, "method_not_allowed"),
            (Error::METHOD_NOT_SUPPORTED, 501, "method_not_supported"),
            (Error::BODY_NOT_ALLOWED, 400, "body_not_allowed"),
            (Error::cost_exceeds_limit(5, 3), 403, "cost_exceeds_limit"),
            (Error::GATEWAY_TIMEOUT, 504, "gateway_timeout"),
            (Error::RECORD_UNREADABLE, 500, "record_unreadable"),
            (Error::ROUTE_NOT_ALLOWED, 403, "route_not_allowed"),
            (Error::IP_NOT_ALLOWED, 403, "ip_not_allowed"),
            (
                Error::insufficient_permissions(None, "m"),
                403,
                "insufficient_permissions",
            ),
            (Error::UNAVAILABLE, 503, "unavailable"),
            (Error::ADMIN_DISABLED, 503, "admin_disabled"),
            (Error::BAD_GATEWAY, 502, "bad_gateway"),
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
        let error = Error::rate_limited(
            Quota {
                limit: 1,
                remaining: 0,
                reset,
                policy: crate::limits::PolicyName::MINUTE,
                window_seconds: 60,
                holder: crate::limits::Holder::Key,
            },
            reset,
            Vec::new(),
        );
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
