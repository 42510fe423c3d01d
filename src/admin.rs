//! The admin API's route table and its token check. Pure: the edge matches
//! a method and path here, then calls the handler for the route.
//!
//! Routes, under the configured prefix (default `/_keygate`):
//!
//! | method | path | auth |
//! |---|---|---|
//! | `GET` | `/openapi.json` | none |
//! | `POST` | `/v1/keys` | admin token |
//! | `GET` | `/v1/keys` | admin token |
//! | `POST` | `/v1/keys/{id}/rotate` | admin token |
//! | `GET` | `/v1/keys/{id}/audit` | admin token |
//! | `GET` | `/v1/keys/{id}/usage` | admin token |
//! | `GET` | `/v1/owners/{owner_id}/usage` | admin token |
//! | `GET` | `/v1/usage` | `ADMIN_TOKEN` only |
//! | `POST` | `/v1/keys/revoke-leaked` | admin token |
//! | `POST` | `/v1/verify` | admin token |
//! | `GET` | `/v1/keys/{id}` | admin token |
//! | `PATCH` | `/v1/keys/{id}` | admin token |
//! | `DELETE` | `/v1/keys/{id}` | admin token |
//! | `GET` | `/v1/whoami` | the API key itself |
//! | `POST`, `GET` | `/v1/webhooks` | `ADMIN_TOKEN` only |
//! | `GET`, `DELETE` | `/v1/webhooks/{id}` | `ADMIN_TOKEN` only |
//! | `POST` | `/v1/webhooks/{id}/test` | `ADMIN_TOKEN` only |
//! | `GET` | `/v1/webhooks/{id}/deliveries` | `ADMIN_TOKEN` only |
//!
//! "admin token" means `ADMIN_TOKEN`, or an API key that holds `admin`.

use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::json_text;
use crate::key::KeyId;
use crate::lifecycle::record::check_owner_id;
use crate::webhook::WebhookId;

/// Largest admin request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A matched admin route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminRoute {
    /// `GET /openapi.json`: the API description.
    OpenApi,
    /// `POST /v1/keys`: issue a key.
    CreateKey,
    /// `GET /v1/keys`: list keys.
    ListKeys,
    /// `POST /v1/keys/{id}/rotate`: new secret, same key.
    RotateKey(KeyId),
    /// `GET /v1/keys/{id}/audit`: the key's last 30 days of admin actions.
    KeyAudit(KeyId),
    /// `GET /v1/keys/{id}/usage`: the key's decisions by outcome over time.
    KeyUsage(KeyId),
    /// `POST /v1/keys/revoke-leaked`: revoke keys found in the wild.
    RevokeLeaked,
    /// `POST /v1/verify`: the proxy's decision, for services that call keygate.
    Verify,
    /// `GET /v1/keys/{id}`: read a key.
    GetKey(KeyId),
    /// `PATCH /v1/keys/{id}`: edit a key.
    EditKey(KeyId),
    /// `DELETE /v1/keys/{id}`: revoke a key.
    RevokeKey(KeyId),
    /// `GET /v1/whoami`: describe the presented API key.
    Whoami,
    /// `POST /v1/keys/{id}/credits`: set, add to or take from a key's credits.
    KeyCredits(KeyId),
    /// `GET /v1/usage`: decisions across every key, and refusals before any.
    Usage,
    /// `GET /v1/owners/{owner_id}/usage`: the usage of an owner's keys, summed.
    OwnerUsage {
        /// The owner's id, percent-decoded and checked.
        owner_id: String,
    },
    /// `GET`, `PUT` or `DELETE /v1/owners/{owner_id}`: limits shared by
    /// an owner's keys.
    Owner {
        /// The owner's id, percent-decoded and checked.
        owner_id: String,
        /// What to do.
        method: OwnerMethod,
    },
    /// `/v1/webhooks…`: the webhook endpoints.
    Webhooks(WebhookRoute),
}

/// A webhook route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookRoute {
    /// `POST /v1/webhooks`: add an endpoint.
    Create,
    /// `GET /v1/webhooks`: list them.
    List,
    /// `GET /v1/webhooks/{id}`: read one.
    Get(WebhookId),
    /// `DELETE /v1/webhooks/{id}`: remove one.
    Delete(WebhookId),
    /// `POST /v1/webhooks/{id}/test`: send it a test event.
    Test(WebhookId),
    /// `GET /v1/webhooks/{id}/deliveries`: its latest deliveries.
    Deliveries(WebhookId),
}

impl AdminRoute {
    /// The route's operation, as the OpenAPI document names it (for logs).
    pub fn operation(&self) -> &'static str {
        match self {
            AdminRoute::OpenApi => "openapi",
            AdminRoute::CreateKey => "createKey",
            AdminRoute::ListKeys => "listKeys",
            AdminRoute::RotateKey(_) => "rotateKey",
            AdminRoute::KeyAudit(_) => "keyAudit",
            AdminRoute::KeyUsage(_) => "keyUsage",
            AdminRoute::RevokeLeaked => "revokeLeaked",
            AdminRoute::Verify => "verifyKey",
            AdminRoute::GetKey(_) => "getKey",
            AdminRoute::EditKey(_) => "editKey",
            AdminRoute::RevokeKey(_) => "revokeKey",
            AdminRoute::Whoami => "whoami",
            AdminRoute::KeyCredits(_) => "changeCredits",
            AdminRoute::Usage => "overallUsage",
            AdminRoute::OwnerUsage { .. } => "ownerUsage",
            AdminRoute::Owner { method, .. } => match method {
                OwnerMethod::Get => "getOwner",
                OwnerMethod::Put => "putOwner",
                OwnerMethod::Delete => "deleteOwner",
            },
            AdminRoute::Webhooks(route) => match route {
                WebhookRoute::Create => "createWebhook",
                WebhookRoute::List => "listWebhooks",
                WebhookRoute::Get(_) => "getWebhook",
                WebhookRoute::Delete(_) => "deleteWebhook",
                WebhookRoute::Test(_) => "testWebhook",
                WebhookRoute::Deliveries(_) => "webhookDeliveries",
            },
        }
    }

    /// The key or owner the route names, if any (for logs).
    pub fn target(&self) -> Option<&str> {
        match self {
            AdminRoute::RotateKey(id)
            | AdminRoute::KeyAudit(id)
            | AdminRoute::KeyUsage(id)
            | AdminRoute::GetKey(id)
            | AdminRoute::EditKey(id)
            | AdminRoute::RevokeKey(id)
            | AdminRoute::KeyCredits(id) => Some(id.as_str()),
            AdminRoute::OwnerUsage { owner_id } | AdminRoute::Owner { owner_id, .. } => {
                Some(owner_id)
            }
            AdminRoute::Webhooks(
                WebhookRoute::Get(id)
                | WebhookRoute::Delete(id)
                | WebhookRoute::Test(id)
                | WebhookRoute::Deliveries(id),
            ) => Some(id.as_str()),
            _ => None,
        }
    }
}

/// What an owner route does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerMethod {
    /// Read the owner's limits.
    Get,
    /// Set them.
    Put,
    /// Remove them.
    Delete,
}

/// Matches `path` against the admin API. `None`: the path is not under the
/// prefix and is an API call to forward. Under the prefix, an unknown path
/// is `not_found` and a known one with the wrong method `method_not_allowed`.
pub fn match_route(prefix: &str, method: &str, path: &str) -> Option<Result<AdminRoute, Error>> {
    let rest = path.strip_prefix(prefix)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let id = |id: &str| id.parse::<KeyId>().map_err(|_| Error::NotFound);
    let webhook = |id: &str, route: fn(WebhookId) -> WebhookRoute| {
        id.parse::<WebhookId>()
            .map(|id| AdminRoute::Webhooks(route(id)))
            .map_err(|_| Error::NotFound)
    };
    let route = match (method, segments.as_slice()) {
        ("GET", ["openapi.json"]) => Ok(AdminRoute::OpenApi),
        ("POST", ["v1", "keys"]) => Ok(AdminRoute::CreateKey),
        ("GET", ["v1", "keys"]) => Ok(AdminRoute::ListKeys),
        ("GET", ["v1", "whoami"]) => Ok(AdminRoute::Whoami),
        ("GET", ["v1", "usage"]) => Ok(AdminRoute::Usage),
        ("POST", ["v1", "verify"]) => Ok(AdminRoute::Verify),
        ("POST", ["v1", "keys", "revoke-leaked"]) => Ok(AdminRoute::RevokeLeaked),
        (_, ["v1", "keys", "revoke-leaked"]) => not_allowed("POST"),
        ("POST", ["v1", "keys", key, "rotate"]) => id(key).map(AdminRoute::RotateKey),
        ("GET", ["v1", "keys", key]) => id(key).map(AdminRoute::GetKey),
        ("GET", ["v1", "keys", key, "audit"]) => id(key).map(AdminRoute::KeyAudit),
        ("GET", ["v1", "keys", key, "usage"]) => id(key).map(AdminRoute::KeyUsage),
        ("POST", ["v1", "keys", key, "credits"]) => id(key).map(AdminRoute::KeyCredits),
        ("PATCH", ["v1", "keys", key]) => id(key).map(AdminRoute::EditKey),
        ("DELETE", ["v1", "keys", key]) => id(key).map(AdminRoute::RevokeKey),
        (method @ ("GET" | "PUT" | "DELETE"), ["v1", "owners", owner]) => {
            let owner_id = crate::lifecycle::list::percent_decode(owner, false);
            check_owner_id(&owner_id).map(|()| AdminRoute::Owner {
                owner_id,
                method: match method {
                    "GET" => OwnerMethod::Get,
                    "PUT" => OwnerMethod::Put,
                    _ => OwnerMethod::Delete,
                },
            })
        }
        ("GET", ["v1", "owners", owner, "usage"]) => {
            let owner_id = crate::lifecycle::list::percent_decode(owner, false);
            check_owner_id(&owner_id).map(|()| AdminRoute::OwnerUsage { owner_id })
        }
        ("POST", ["v1", "webhooks"]) => Ok(AdminRoute::Webhooks(WebhookRoute::Create)),
        ("GET", ["v1", "webhooks"]) => Ok(AdminRoute::Webhooks(WebhookRoute::List)),
        ("GET", ["v1", "webhooks", hook]) => webhook(hook, WebhookRoute::Get),
        ("DELETE", ["v1", "webhooks", hook]) => webhook(hook, WebhookRoute::Delete),
        ("POST", ["v1", "webhooks", hook, "test"]) => webhook(hook, WebhookRoute::Test),
        ("GET", ["v1", "webhooks", hook, "deliveries"]) => webhook(hook, WebhookRoute::Deliveries),
        (_, ["v1", "webhooks"]) => not_allowed("GET, POST"),
        (_, ["v1", "webhooks", _]) => not_allowed("GET, DELETE"),
        (_, ["v1", "webhooks", _, "test"]) => not_allowed("POST"),
        (_, ["v1", "webhooks", _, "deliveries"]) => not_allowed("GET"),
        (_, ["v1", "owners", _, "usage"]) => not_allowed("GET"),
        (_, ["v1", "owners", _]) => not_allowed("GET, PUT, DELETE"),
        (_, ["openapi.json"] | ["v1", "whoami" | "usage"]) => not_allowed("GET"),
        (_, ["v1", "keys"]) => not_allowed("GET, POST"),
        (_, ["v1", "verify"] | ["v1", "keys", _, "rotate" | "credits"]) => not_allowed("POST"),
        (_, ["v1", "keys", _]) => not_allowed("GET, PATCH, DELETE"),
        (_, ["v1", "keys", _, "audit" | "usage"]) => not_allowed("GET"),
        _ => Err(Error::NotFound),
    };
    Some(route)
}

fn not_allowed(allow: &str) -> Result<AdminRoute, Error> {
    Err(Error::MethodNotAllowed {
        allow: allow.to_owned(),
    })
}

/// Decodes an admin request body: over [`MAX_BODY_BYTES`] → 413, not JSON
/// → 400 `invalid_json`, JSON of the wrong shape → 422 naming the field
/// (e.g. `rate_limits.per_minute`, or the unknown field itself).
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    serde_json::from_slice(body).map_err(|e| {
        let field = if e.is_data() {
            // Only this closure is generic: the search is compiled once.
            let fails_with =
                |text: &[u8]| serde_json::from_slice::<T>(text).err().map(|e| reason(&e));
            culprit(body, &reason(&e), &fails_with)
        } else {
            String::new()
        };
        json_error(e, field)
    })
}

/// A decoding error's message without serde_json's position suffix.
fn reason(e: &serde_json::Error) -> String {
    let message = e.to_string();
    match message.split_once(" at line ") {
        Some((reason, _)) => reason.to_owned(),
        None => message,
    }
}

/// Which field of `body` makes decoding fail with `reason`, as a path
/// (`rate_limits.per_minute`, `scopes[1]`; empty for the document itself;
/// for a missing field, the object that lacks it).
///
/// serde_json reports where an error was noticed, not for which field, and
/// tracking the path through every decoder costs tens of KiB of wasm. So
/// the field is found by elimination instead: a field is the culprit if
/// the same body without it fails differently (or not at all), and the
/// search goes on inside it. Decoding visits fields in order and reports
/// the first failure, so removing an innocent field leaves that failure
/// as it was.
fn culprit(body: &[u8], reason_seen: &str, fails_with: &dyn Fn(&[u8]) -> Option<String>) -> String {
    // For a missing field, removing a required sibling fails differently
    // too (the sibling is missing instead): that does not make the sibling
    // the culprit. Only the removed member's own absence is exempt.
    let missing = reason_seen.starts_with(MISSING);
    let is_culprit = |text: &[u8], key: Option<&str>| match fails_with(text) {
        None => true,
        Some(r) => {
            let own_absence = key.is_some_and(|k| r == format!("{MISSING}{k}`"));
            r != reason_seen && !(missing && own_absence)
        }
    };
    let mut path = String::new();
    let mut container = json_text::value_at(body, 0);
    // Bounds the work a pathological body can cause.
    let mut tries = 0;
    'descend: while let Some(at) = container {
        for member in json_text::members(body, at) {
            tries += 1;
            if tries > 200 {
                break 'descend;
            }
            let without = [&body[..member.cut.0], &body[member.cut.1..]].concat();
            if is_culprit(&without, member.key.as_deref()) {
                match &member.key {
                    Some(key) if path.is_empty() => path.push_str(key),
                    Some(key) => {
                        path.push('.');
                        path.push_str(key);
                    }
                    None => path.push_str(&format!("[{}]", member.index)),
                }
                container = Some(member.value);
                continue 'descend;
            }
        }
        break;
    }
    path
}

/// For optional body fields that are not nullable: absent is `None` (with
/// `#[serde(default)]`), but an explicit `null` is refused like any other
/// mistyped value, as the API document says.
pub fn not_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    match <Option<T> as serde::Deserialize>::deserialize(d)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom(
            "invalid type: null, this field is not nullable",
        )),
    }
}

/// An integer body field as JSON Schema reads one: `2980` and `2980.0`
/// alike (an integer-valued number is an integer). Absent is `None` (with
/// `#[serde(default)]`); `null`, fractions and out-of-range values are 422.
pub fn whole<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: FromWhole,
{
    struct Whole;
    impl serde::de::Visitor<'_> for Whole {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
            if v.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&v) {
                Ok(v as u64)
            } else {
                Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
            }
        }
    }
    let n = d.deserialize_f64(Whole)?;
    T::from_whole(n).map(Some).ok_or_else(|| {
        serde::de::Error::invalid_value(serde::de::Unexpected::Unsigned(n), &T::RANGE)
    })
}

/// Integer types [`whole`] reads.
pub trait FromWhole: Sized {
    /// The accepted range, for the error message.
    const RANGE: &'static str;
    /// `n` as this type, if it fits.
    fn from_whole(n: u64) -> Option<Self>;
}

impl FromWhole for u64 {
    const RANGE: &'static str = "a whole number";
    fn from_whole(n: u64) -> Option<Self> {
        Some(n)
    }
}

impl FromWhole for std::num::NonZeroU32 {
    const RANGE: &'static str = "a whole number from 1 to 4294967295";
    fn from_whole(n: u64) -> Option<Self> {
        u32::try_from(n).ok().and_then(std::num::NonZeroU32::new)
    }
}

fn json_error(e: serde_json::Error, path: String) -> Error {
    if !e.is_data() {
        return Error::InvalidJson {
            message: e.to_string(),
        };
    }
    let message = reason(&e);
    let field = match message
        .strip_prefix(MISSING)
        .and_then(|rest| rest.split('`').next())
    {
        // Reported inside the object that lacks it.
        Some(name) if path.is_empty() => name.to_owned(),
        Some(name) => format!("{path}.{name}"),
        None if path.is_empty() => ".".to_owned(),
        None => path,
    };
    Error::invalid(field, message)
}

/// How serde begins the message for a missing field (then its name and a backtick).
const MISSING: &str = "missing field `";

/// Shortest `ADMIN_TOKEN` keygate accepts: a right credential is never
/// locked out (see [`crate::guard`]), so the token itself must be too long
/// to guess. `openssl rand -hex 32` gives 64 characters.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 24;

/// The configured admin token, if it is long enough to use; a shorter one
/// disables the admin token (and is logged), it never weakens it.
pub fn configured_token(secret: Option<String>) -> Option<String> {
    secret.filter(|t| t.chars().count() >= MIN_ADMIN_TOKEN_CHARS)
}

/// Checks a presented admin token against the configured one in constant
/// time: both are hashed first, so neither content nor length leaks through
/// timing. `None` configured means admin routes are disabled (503), never
/// open.
pub fn check_admin_token(
    configured: Option<&str>,
    authorization: Option<&str>,
) -> Result<(), Error> {
    let expected = configured
        .filter(|t| !t.is_empty())
        .ok_or(Error::AdminDisabled)?;
    let presented = authorization
        .and_then(|h| h.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .unwrap_or("");
    let a = Sha256::digest(expected.as_bytes());
    let b = Sha256::digest(presented.as_bytes());
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    if diff == 0 {
        Ok(())
    } else {
        Err(Error::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/_keygate";

    #[test]
    fn webhook_routes() {
        let id = WebhookId::generate().unwrap();
        let item = format!("{P}/v1/webhooks/{}", id.as_str());
        let hooks = |route| Some(Ok(AdminRoute::Webhooks(route)));
        assert_eq!(
            match_route(P, "POST", "/_keygate/v1/webhooks"),
            hooks(WebhookRoute::Create)
        );
        assert_eq!(
            match_route(P, "GET", "/_keygate/v1/webhooks"),
            hooks(WebhookRoute::List)
        );
        assert_eq!(
            match_route(P, "GET", &item),
            hooks(WebhookRoute::Get(id.clone()))
        );
        assert_eq!(
            match_route(P, "DELETE", &item),
            hooks(WebhookRoute::Delete(id.clone()))
        );
        assert_eq!(
            match_route(P, "POST", &format!("{item}/test")),
            hooks(WebhookRoute::Test(id.clone()))
        );
        assert_eq!(
            match_route(P, "GET", &format!("{item}/deliveries")),
            hooks(WebhookRoute::Deliveries(id.clone()))
        );
        assert!(matches!(
            match_route(P, "PATCH", &item),
            Some(Err(Error::MethodNotAllowed { .. }))
        ));
        assert_eq!(
            match_route(P, "GET", "/_keygate/v1/webhooks/wh_nope"),
            Some(Err(Error::NotFound))
        );
        let route = match_route(P, "POST", &format!("{item}/test"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (route.operation(), route.target()),
            ("testWebhook", Some(id.as_str()))
        );
    }

    #[test]
    fn routes() {
        let id = KeyId::generate().unwrap();
        let item = format!("{P}/v1/keys/{id}");
        assert_eq!(
            match_route(P, "POST", "/_keygate/v1/keys"),
            Some(Ok(AdminRoute::CreateKey))
        );
        assert_eq!(
            match_route(P, "POST", "/_keygate/v1/keys/"),
            Some(Ok(AdminRoute::CreateKey))
        );
        assert_eq!(
            match_route(P, "GET", &item),
            Some(Ok(AdminRoute::GetKey(id.clone())))
        );
        assert_eq!(
            match_route(P, "PATCH", &item),
            Some(Ok(AdminRoute::EditKey(id.clone())))
        );
        assert_eq!(
            match_route(P, "DELETE", &item),
            Some(Ok(AdminRoute::RevokeKey(id)))
        );
        assert_eq!(
            match_route(P, "GET", "/_keygate/v1/whoami"),
            Some(Ok(AdminRoute::Whoami))
        );
        let id = KeyId::generate().unwrap();
        let rotate = format!("{P}/v1/keys/{id}/rotate");
        assert_eq!(
            match_route(P, "POST", &rotate),
            Some(Ok(AdminRoute::RotateKey(id)))
        );
        assert_eq!(
            match_route(P, "GET", "/_keygate/v1/keys"),
            Some(Ok(AdminRoute::ListKeys))
        );
        assert_eq!(
            match_route(P, "POST", "/_keygate/v1/keys/revoke-leaked"),
            Some(Ok(AdminRoute::RevokeLeaked))
        );
        assert_eq!(
            match_route(P, "POST", "/_keygate/v1/verify"),
            Some(Ok(AdminRoute::Verify))
        );
        assert_eq!(
            match_route(P, "GET", "/_keygate/openapi.json"),
            Some(Ok(AdminRoute::OpenApi))
        );
        assert_eq!(
            match_route(P, "GET", "/_keygate/v1/usage"),
            Some(Ok(AdminRoute::Usage))
        );
        assert!(matches!(
            match_route(P, "POST", "/_keygate/v1/usage"),
            Some(Err(Error::MethodNotAllowed { .. }))
        ));
    }

    #[test]
    fn operations_are_named_as_the_openapi_document_names_them() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"))
            .expect("openapi.json at the crate root");
        let id = KeyId::generate().unwrap();
        let owner = || "cus_1".to_owned();
        let hook = WebhookId::generate().unwrap();
        let routes = [
            AdminRoute::OpenApi,
            AdminRoute::CreateKey,
            AdminRoute::ListKeys,
            AdminRoute::RotateKey(id.clone()),
            AdminRoute::KeyAudit(id.clone()),
            AdminRoute::KeyUsage(id.clone()),
            AdminRoute::RevokeLeaked,
            AdminRoute::Verify,
            AdminRoute::GetKey(id.clone()),
            AdminRoute::EditKey(id.clone()),
            AdminRoute::RevokeKey(id.clone()),
            AdminRoute::Whoami,
            AdminRoute::KeyCredits(id.clone()),
            AdminRoute::Usage,
            AdminRoute::OwnerUsage { owner_id: owner() },
            AdminRoute::Owner {
                owner_id: owner(),
                method: OwnerMethod::Get,
            },
            AdminRoute::Owner {
                owner_id: owner(),
                method: OwnerMethod::Put,
            },
            AdminRoute::Owner {
                owner_id: owner(),
                method: OwnerMethod::Delete,
            },
            AdminRoute::Webhooks(WebhookRoute::Create),
            AdminRoute::Webhooks(WebhookRoute::List),
            AdminRoute::Webhooks(WebhookRoute::Get(hook.clone())),
            AdminRoute::Webhooks(WebhookRoute::Delete(hook.clone())),
            AdminRoute::Webhooks(WebhookRoute::Test(hook.clone())),
            AdminRoute::Webhooks(WebhookRoute::Deliveries(hook)),
        ];
        let documented = doc.matches("\"operationId\"").count();
        assert_eq!(
            routes.len(),
            documented,
            "one route per documented operation"
        );
        for route in &routes {
            let named = format!("\"operationId\": \"{}\"", route.operation());
            assert!(
                doc.contains(&named),
                "{} is not documented",
                route.operation()
            );
        }
        assert_eq!(AdminRoute::GetKey(id.clone()).target(), Some(id.as_str()));
        assert_eq!(AdminRoute::ListKeys.target(), None);
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert_eq!(
            match_route(P, "GET", "/_keygate/v2"),
            Some(Err(Error::NotFound))
        );
        assert_eq!(
            match_route(P, "GET", "/_keygate"),
            Some(Err(Error::NotFound))
        );
        assert_eq!(
            match_route(P, "GET", "/_keygate/v1/keys/nope"),
            Some(Err(Error::NotFound))
        );
        let item = format!("{P}/v1/keys/{}", KeyId::generate().unwrap());
        let rotate = format!("{item}/rotate");
        let audit = format!("{item}/audit");
        for (method, path, allow) in [
            ("PUT", "/_keygate/v1/keys", "GET, POST"),
            ("QUERY", "/_keygate/v1/keys", "GET, POST"),
            ("GET", "/_keygate/v1/verify", "POST"),
            ("HEAD", "/_keygate/openapi.json", "GET"),
            ("GET", "/_keygate/v1/keys/nope/rotate", "POST"),
            ("GET", rotate.as_str(), "POST"),
            ("POST", item.as_str(), "GET, PATCH, DELETE"),
            ("PURGE", audit.as_str(), "GET"),
            ("GET", "/_keygate/v1/keys/revoke-leaked", "POST"),
            ("POST", "/_keygate/v1/whoami", "GET"),
        ] {
            assert_eq!(
                match_route(P, method, path),
                Some(Err(Error::MethodNotAllowed {
                    allow: allow.to_owned()
                })),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn paths_outside_the_prefix_are_api_calls() {
        assert_eq!(match_route(P, "GET", "/v1/orders"), None);
        assert_eq!(match_route(P, "GET", "/_keygateway/v1/keys"), None);
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        limits: Option<Limits>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Limits {
        per_minute: std::num::NonZeroU32,
    }

    fn field_of(body: &str) -> String {
        match parse_body::<Body>(body.as_bytes()) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn bodies() {
        assert!(parse_body::<Body>(br#"{"name":"a"}"#).is_ok());
        for bad in ["", "{", "{\"name\":", "nope", "{\"name\":\"a\"} trailing"] {
            assert!(
                matches!(
                    parse_body::<Body>(bad.as_bytes()),
                    Err(Error::InvalidJson { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(field_of(r#"{"name":1}"#), "name");
        assert_eq!(field_of(r#"{"name":"a","extra":1}"#), "extra");
        assert_eq!(
            field_of(r#"{"name":"a","limits":{"per_minute":0}}"#),
            "limits.per_minute"
        );
        assert_eq!(
            field_of(r#"{"name":"a","limits":{"burst":1}}"#),
            "limits.burst"
        );
        // A missing field is named inside the object that lacks it.
        assert_eq!(field_of(r#"{"limits":{"per_minute":1}}"#), "name");
        assert_eq!(field_of(r#"{"name":"a","limits":{}}"#), "limits.per_minute");
        assert_eq!(field_of(r#"[]"#), ".");
        let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        assert_eq!(
            parse_body::<Body>(big.as_bytes()).unwrap_err(),
            Error::PayloadTooLarge {
                limit: MAX_BODY_BYTES
            }
        );
    }

    #[test]
    fn admin_token() {
        assert_eq!(
            check_admin_token(None, Some("Bearer x")),
            Err(Error::AdminDisabled)
        );
        assert_eq!(
            check_admin_token(Some(""), Some("Bearer ")),
            Err(Error::AdminDisabled)
        );
        assert_eq!(configured_token(Some("short".into())), None);
        assert_eq!(configured_token(Some("x".repeat(23))), None);
        assert_eq!(configured_token(Some("x".repeat(24))), Some("x".repeat(24)));
        assert_eq!(
            check_admin_token(Some("s3cret"), Some("Bearer s3cret")),
            Ok(())
        );
        assert_eq!(
            check_admin_token(Some("s3cret"), Some("bearer s3cret ")),
            Ok(())
        );
        assert_eq!(
            check_admin_token(Some("s3cret"), Some("Bearer s3cre")),
            Err(Error::Unauthorized)
        );
        assert_eq!(
            check_admin_token(Some("s3cret"), Some("Basic s3cret")),
            Err(Error::Unauthorized)
        );
        assert_eq!(
            check_admin_token(Some("s3cret"), None),
            Err(Error::Unauthorized)
        );
    }

    proptest::proptest! {
        #[test]
        fn fuzz_admin_routes_and_bodies(path in "(/[a-z0-9_.-]{0,10}){0,5}", body in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            for method in ["GET", "POST", "PATCH", "DELETE", "PUT"] {
                let _ = match_route(P, method, &format!("{P}{path}"));
            }
            if let Err(e) = parse_body::<crate::lifecycle::request::NewKey>(&body) {
                proptest::prop_assert!(matches!(e.status(), 400 | 413 | 422));
            }
        }
    }
}
