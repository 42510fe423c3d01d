//! The admin API's route table. Pure: the edge matches a method and path
//! here, then calls the handler for the route.
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
//! | `POST` | `/session` | admin token, in the body (sign-in) |
//! | `GET` | `/session` | the session cookie |
//! | `DELETE` | `/session` | none (ends the cookie's session) |
//! | `GET` | ``, `/`, `/ui/{file}` | none (the dashboard's page and files) |
//!
//! "admin token" means `ADMIN_TOKEN`, or an API key that holds `admin`;
//! every route that takes it also takes the dashboard's session cookie.

use crate::error::Error;
use crate::key::KeyId;
use crate::lifecycle::record::check_owner_id;
use crate::webhook::WebhookId;

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
    /// `/session`: the dashboard's sign-in, its state, and sign-out.
    Session(SessionMethod),
    /// `GET /` and `GET /ui/{file}`: the dashboard's page and its files.
    Dashboard(Page),
}

/// What a `/session` request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionMethod {
    /// `POST`: exchange a credential for a session cookie.
    SignIn,
    /// `GET`: who the session acts as, and until when.
    Get,
    /// `DELETE`: end it (clear the cookie).
    SignOut,
}

/// A dashboard file the Worker serves (from its static assets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Page {
    /// The prefix itself, without its `/`: redirected to `{prefix}/`, so
    /// the page's relative links resolve under the prefix.
    Redirect,
    /// `{prefix}/`: the dashboard's one HTML page.
    Index,
    /// `{prefix}/ui/{file}`: its script, style sheet or image.
    File(String),
}

impl Page {
    /// Where the page's file is among the static assets (`build/assets`).
    pub fn asset(&self) -> Option<String> {
        match self {
            Page::Redirect => None,
            // The directory, not `index.html`: the asset server redirects that.
            Page::Index => Some("ui/".to_owned()),
            Page::File(name) => Some(format!("ui/{name}")),
        }
    }
}

/// A dashboard file name: letters, digits, `-`, `_` and inner dots only,
/// so a name can never step out of the dashboard's directory.
fn dashboard_file(name: &str) -> Result<AdminRoute, Error> {
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if plain && !name.starts_with('.') && name.len() <= 64 {
        Ok(AdminRoute::Dashboard(Page::File(name.to_owned())))
    } else {
        Err(Error::NOT_FOUND)
    }
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
            AdminRoute::Session(method) => match method {
                SessionMethod::SignIn => "signIn",
                SessionMethod::Get => "getSession",
                SessionMethod::SignOut => "signOut",
            },
            AdminRoute::Dashboard(Page::File(_)) => "dashboardFile",
            AdminRoute::Dashboard(_) => "dashboard",
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
    let id = |id: &str| id.parse::<KeyId>().map_err(|_| Error::NOT_FOUND);
    let webhook = |id: &str, route: fn(WebhookId) -> WebhookRoute| {
        id.parse::<WebhookId>()
            .map(|id| AdminRoute::Webhooks(route(id)))
            .map_err(|_| Error::NOT_FOUND)
    };
    let route = match (method, segments.as_slice()) {
        ("GET", []) if rest.is_empty() => Ok(AdminRoute::Dashboard(Page::Redirect)),
        ("GET", []) => Ok(AdminRoute::Dashboard(Page::Index)),
        ("GET", ["ui", file]) => dashboard_file(file),
        ("POST", ["session"]) => Ok(AdminRoute::Session(SessionMethod::SignIn)),
        ("GET", ["session"]) => Ok(AdminRoute::Session(SessionMethod::Get)),
        ("DELETE", ["session"]) => Ok(AdminRoute::Session(SessionMethod::SignOut)),
        (_, ["session"]) => not_allowed("GET, POST, DELETE"),
        (_, [] | ["ui", _]) => not_allowed("GET"),
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
        _ => Err(Error::NOT_FOUND),
    };
    Some(route)
}

fn not_allowed(allow: &str) -> Result<AdminRoute, Error> {
    Err(Error::method_not_allowed(allow.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    const P: &str = "/_keygate";

    #[test]
    fn dashboard_and_session_routes() {
        let page = |path| match_route(P, "GET", path);
        assert_eq!(
            page("/_keygate"),
            Some(Ok(AdminRoute::Dashboard(Page::Redirect)))
        );
        assert_eq!(
            page("/_keygate/"),
            Some(Ok(AdminRoute::Dashboard(Page::Index)))
        );
        assert_eq!(
            page("/_keygate/ui/app.js"),
            Some(Ok(AdminRoute::Dashboard(Page::File("app.js".into()))))
        );
        assert_eq!(Page::Index.asset().as_deref(), Some("ui/"));
        assert_eq!(
            Page::File("app.css".into()).asset().as_deref(),
            Some("ui/app.css")
        );
        for hidden in [
            "/_keygate/ui/.env",
            "/_keygate/ui/a%2Fb",
            "/_keygate/ui/a:b",
            "/_keygate/ui/a/b",
        ] {
            assert_eq!(page(hidden), Some(Err(Error::NOT_FOUND)), "{hidden}");
        }
        assert!(matches!(
            match_route(P, "POST", "/_keygate/"),
            Some(Err(e)) if e.kind() == ErrorKind::MethodNotAllowed
        ));
        for (method, expected) in [
            ("POST", SessionMethod::SignIn),
            ("GET", SessionMethod::Get),
            ("DELETE", SessionMethod::SignOut),
        ] {
            assert_eq!(
                match_route(P, method, "/_keygate/session"),
                Some(Ok(AdminRoute::Session(expected)))
            );
        }
        assert!(matches!(
            match_route(P, "PUT", "/_keygate/session"),
            Some(Err(e)) if e.kind() == ErrorKind::MethodNotAllowed
        ));
    }

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
            Some(Err(e)) if e.kind() == ErrorKind::MethodNotAllowed
        ));
        assert_eq!(
            match_route(P, "GET", "/_keygate/v1/webhooks/wh_nope"),
            Some(Err(Error::NOT_FOUND))
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
        let id = KeyId::generate(crate::registry::shard::ShardCount::ONE).unwrap();
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
        let id = KeyId::generate(crate::registry::shard::ShardCount::ONE).unwrap();
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
            Some(Err(e)) if e.kind() == ErrorKind::MethodNotAllowed
        ));
    }

    #[test]
    fn operations_are_named_as_the_openapi_document_names_them() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json"))
            .expect("openapi.json at the workspace root");
        let id = KeyId::generate(crate::registry::shard::ShardCount::ONE).unwrap();
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
            AdminRoute::Session(SessionMethod::SignIn),
            AdminRoute::Session(SessionMethod::Get),
            AdminRoute::Session(SessionMethod::SignOut),
            AdminRoute::Dashboard(Page::Index),
            AdminRoute::Dashboard(Page::File("app.js".into())),
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
            Some(Err(Error::NOT_FOUND))
        );
        assert_eq!(
            match_route(P, "GET", "/_keygate/v1/keys/nope"),
            Some(Err(Error::NOT_FOUND))
        );
        let item = format!(
            "{P}/v1/keys/{}",
            KeyId::generate(crate::registry::shard::ShardCount::ONE).unwrap()
        );
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
                Some(Err(Error::method_not_allowed(allow.to_owned()))),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn paths_outside_the_prefix_are_api_calls() {
        assert_eq!(match_route(P, "GET", "/v1/orders"), None);
        assert_eq!(match_route(P, "GET", "/_keygateway/v1/keys"), None);
    }
}
