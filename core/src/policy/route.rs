//! The route table: `METHOD /path/pattern` → the permission a request
//! needs and what it costs. Configured as JSON in the `ROUTES` var:
//!
//! ```json
//! {
//!   "unmatched": "deny",
//!   "routes": [
//!     {"method": "GET", "path": "/v1/orders/{id}", "permission": "orders:read"},
//!     {"method": ["PATCH", "PUT"], "path": "/odata/{instance}/{service}/{entity}/{id}",
//!      "permission": "{instance}/{service}/{entity}:update", "cost": 2},
//!     {"method": "*", "path": "/v1/public/*", "permission": null}
//!   ]
//! }
//! ```
//!
//! A route may list the named limits it draws on, `"limits": {"search": 5}`:
//! then it spends its `cost` in the minute and day limits (and credits)
//! and only those named limits, at their own costs (`{}`: none). Without
//! `limits`, it spends `cost` in every limit.
//!
//! Patterns: literal segments, `{name}` captures one segment, a final `*`
//! matches any rest. The first matching route wins. Captures may fill the
//! permission. `"permission": null` means any valid key may call the route.
//! `unmatched` is `deny` (default: 403 `route_not_allowed`) or `allow`.

use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::limits::{Charge, Draw, PolicyName};
use crate::policy::permission::{valid_segment, Permission};

/// Why a route table does not load. Names the route by its index.
pub type ConfigError = String;

/// What a matched request needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    /// The permission the key must cover; `None` for any valid key.
    pub permission: Option<Permission>,
    /// Units this request consumes from the key's limits.
    pub cost: NonZeroU32,
    /// The named limits the route draws on, and at what cost; `None`: all
    /// of them at `cost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draws: Option<Vec<Draw>>,
}

impl Requirement {
    /// No permission, cost 1: what every request needs without a table.
    pub const OPEN: Requirement = Requirement {
        permission: None,
        cost: NonZeroU32::MIN,
        draws: None,
    };

    /// What a request to this route spends.
    pub fn charge(&self) -> Charge<'_> {
        Charge {
            cost: self.cost.get(),
            draws: self.draws.as_deref(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PathSeg {
    Literal(String),
    Capture(String),
    Rest,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum TemplatePart {
    Text(String),
    Capture(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Route {
    /// Upper-case methods; empty means any.
    methods: Vec<String>,
    path: Vec<PathSeg>,
    permission: Option<Vec<TemplatePart>>,
    cost: NonZeroU32,
    draws: Option<Vec<Draw>>,
}

/// A loaded, validated route table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTable {
    routes: Vec<Route>,
    allow_unmatched: bool,
}

/// `"GET"`, `"*"` or `["PATCH", "PUT"]`. Read by hand from JSON rather
/// than as an untagged enum, which would cost the wasm bundle a buffering
/// deserializer.
enum Methods {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for Methods {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(m) => Ok(Methods::One(m)),
            other => serde_json::from_value(other)
                .map(Methods::Many)
                .map_err(|_| {
                    serde::de::Error::custom("method must be a string or a list of strings")
                }),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSpec {
    method: Methods,
    path: String,
    #[serde(default)]
    permission: Option<String>,
    #[serde(default)]
    cost: Option<NonZeroU32>,
    /// `{"search": 5}`: the named limits drawn on, and at what cost. Read
    /// as a JSON value (whose decoder the bundle has anyway) rather than a
    /// map type, which would add one.
    #[serde(default)]
    limits: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum Unmatched {
    #[default]
    Deny,
    Allow,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableSpec {
    #[serde(default)]
    unmatched: Unmatched,
    routes: Vec<RouteSpec>,
}

fn parse_path(path: &str) -> Result<Vec<PathSeg>, String> {
    let body = path.strip_prefix('/').ok_or("path must start with '/'")?;
    let parts: Vec<&str> = body.split('/').filter(|s| !s.is_empty()).collect();
    let last = parts.len().saturating_sub(1);
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| match *part {
            "*" if i == last => Ok(PathSeg::Rest),
            "*" => Err("'*' may only end a path".to_owned()),
            p if p.starts_with('{') && p.ends_with('}') && p.len() > 2 => {
                Ok(PathSeg::Capture(p[1..p.len() - 1].to_owned()))
            }
            p if p.contains(['{', '}']) => Err(format!(
                "bad capture {p:?}: a capture is a whole segment such as {{id}}"
            )),
            p => Ok(PathSeg::Literal(p.to_owned())),
        })
        .collect()
}

fn parse_template(template: &str, captures: &[&str]) -> Result<Vec<TemplatePart>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').ok_or("unclosed '{' in permission")? + open;
        if open > 0 {
            parts.push(TemplatePart::Text(rest[..open].to_owned()));
        }
        let name = &rest[open + 1..close];
        if !captures.contains(&name) {
            return Err(format!(
                "permission uses {{{name}}}, which the path does not capture"
            ));
        }
        parts.push(TemplatePart::Capture(name.to_owned()));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Text(rest.to_owned()));
    }
    // Check the shape with placeholder values, so a typo fails at load time.
    let sample: String = parts
        .iter()
        .map(|p| match p {
            TemplatePart::Text(t) => t.as_str(),
            TemplatePart::Capture(_) => "x",
        })
        .collect();
    Permission::parse(&sample)?;
    Ok(parts)
}

/// A route's `limits` object: `{"name": cost, …}`.
fn parse_draws(limits: &serde_json::Value) -> Result<Vec<Draw>, String> {
    let object = limits
        .as_object()
        .ok_or("limits must be an object of limit names and costs")?;
    object
        .iter()
        .map(|(name, cost)| {
            let limit = PolicyName::parse(name)
                .filter(|n| *n != PolicyName::MINUTE && *n != PolicyName::DAY)
                .ok_or_else(|| format!("limits: {name:?} is not a named limit's name"))?;
            let cost = cost
                .as_u64()
                .and_then(|c| u32::try_from(c).ok())
                .and_then(NonZeroU32::new)
                .ok_or_else(|| format!("limits: the cost of {name} must be a positive integer"))?;
            Ok(Draw { limit, cost })
        })
        .collect()
}

impl RouteTable {
    /// Loads a table from its JSON text. Errors name the route.
    pub fn parse(json: &str) -> Result<RouteTable, ConfigError> {
        let spec: TableSpec = serde_json::from_str(json)
            .map_err(|e| format!("ROUTES is not a valid route table: {e}"))?;
        let routes = spec
            .routes
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let at = |e: String| {
                    format!(
                        "ROUTES routes[{i}] ({} {}): {e}",
                        method_label(&r.method),
                        r.path
                    )
                };
                let path = parse_path(&r.path).map_err(at)?;
                let captures: Vec<&str> = path
                    .iter()
                    .filter_map(|s| match s {
                        PathSeg::Capture(c) => Some(c.as_str()),
                        _ => None,
                    })
                    .collect();
                let permission = r
                    .permission
                    .as_deref()
                    .map(|t| parse_template(t, &captures))
                    .transpose()
                    .map_err(at)?;
                let methods = match &r.method {
                    Methods::One(m) if m == "*" => vec![],
                    Methods::One(m) => vec![m.to_ascii_uppercase()],
                    Methods::Many(ms) => ms.iter().map(|m| m.to_ascii_uppercase()).collect(),
                };
                let draws = r.limits.as_ref().map(parse_draws).transpose().map_err(at)?;
                Ok(Route {
                    methods,
                    path,
                    permission,
                    cost: r.cost.unwrap_or(NonZeroU32::MIN),
                    draws,
                })
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(RouteTable {
            routes,
            allow_unmatched: matches!(spec.unmatched, Unmatched::Allow),
        })
    }

    /// What a `method` request to `path` needs. A path matching no route is
    /// 403 `route_not_allowed` unless the table allows unmatched routes.
    pub fn resolve(&self, method: &str, path: &str) -> Result<Requirement, Error> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        for route in &self.routes {
            if !route.methods.is_empty() && !route.methods.iter().any(|m| m == method) {
                continue;
            }
            let Some(captures) = match_path(&route.path, &segments) else {
                continue;
            };
            let permission = match &route.permission {
                None => None,
                Some(template) => Some(fill(template, &captures)?),
            };
            return Ok(Requirement {
                permission,
                cost: route.cost,
                draws: route.draws.clone(),
            });
        }
        if self.allow_unmatched {
            Ok(Requirement::OPEN)
        } else {
            Err(Error::ROUTE_NOT_ALLOWED)
        }
    }
}

/// The path and query of an absolute URL (`https://host/a/b?c` → `/a/b?c`),
/// without parsing the rest: the hot path needs nothing else.
pub fn path_and_query(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find(['/', '?']) {
        Some(i) => &url[after_scheme + i..],
        None => "/",
    }
}

/// The path of an absolute URL, without its query.
pub fn path_of(url: &str) -> &str {
    let pq = path_and_query(url);
    match pq.find('?') {
        Some(i) if i > 0 => &pq[..i],
        Some(_) => "/",
        None => pq,
    }
}

/// The query of an absolute URL with its `?`, or `""`.
pub fn query_of(url: &str) -> &str {
    let pq = path_and_query(url);
    pq.find('?').map_or("", |i| &pq[i..])
}

fn method_label(m: &Methods) -> String {
    match m {
        Methods::One(m) => m.clone(),
        Methods::Many(ms) => ms.join("|"),
    }
}

fn match_path<'a>(pattern: &'a [PathSeg], segments: &[&'a str]) -> Option<Vec<(&'a str, &'a str)>> {
    let mut captures = Vec::new();
    for (i, seg) in pattern.iter().enumerate() {
        match seg {
            PathSeg::Rest => return Some(captures),
            PathSeg::Literal(l) => {
                if segments.get(i) != Some(&l.as_str()) {
                    return None;
                }
            }
            PathSeg::Capture(name) => captures.push((name.as_str(), *segments.get(i)?)),
        }
    }
    (segments.len() == pattern.len()).then_some(captures)
}

/// Fills a permission template. A captured value that is not a plain name
/// (say it holds `*`, `:` or `/`) could change what the permission means,
/// so such a request is refused rather than matched loosely.
fn fill(template: &[TemplatePart], captures: &[(&str, &str)]) -> Result<Permission, Error> {
    let mut text = String::new();
    for part in template {
        match part {
            TemplatePart::Text(t) => text.push_str(t),
            TemplatePart::Capture(name) => {
                let value = captures
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| *v)
                    .unwrap_or_default();
                if value == "*" || !valid_segment(value) {
                    return Err(Error::insufficient_permissions(
                        None,
                        format!("The path segment for {{{name}}} is not a valid resource name."),
                    ));
                }
                text.push_str(value);
            }
        }
    }
    Permission::parse(&text).map_err(|_| Error::INTERNAL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use proptest::prelude::*;

    const REST: &str = include_str!("../../../examples/routes-rest.json");
    const ODATA: &str = include_str!("../../../examples/routes-odata.json");

    fn need(table: &RouteTable, method: &str, path: &str) -> Option<String> {
        table
            .resolve(method, path)
            .unwrap()
            .permission
            .map(|p| p.to_string())
    }

    #[test]
    fn rest_example() {
        let t = RouteTable::parse(REST).unwrap();
        assert_eq!(need(&t, "GET", "/v1/orders"), Some("orders:read".into()));
        assert_eq!(need(&t, "GET", "/v1/orders/42"), Some("orders:read".into()));
        assert_eq!(need(&t, "POST", "/v1/orders"), Some("orders:write".into()));
        assert_eq!(
            need(&t, "DELETE", "/v1/orders/42"),
            Some("orders:write".into())
        );
        assert_eq!(
            need(&t, "GET", "/v1/assets/a/b/c"),
            Some("read:assets".into())
        );
        assert_eq!(need(&t, "GET", "/health"), None);
        assert_eq!(t.resolve("POST", "/v1/scans").unwrap().cost.get(), 5);
        assert_eq!(
            t.resolve("GET", "/v2/unknown"),
            Err(Error::ROUTE_NOT_ALLOWED)
        );
        assert_eq!(
            t.resolve("PATCH", "/v1/orders"),
            Err(Error::ROUTE_NOT_ALLOWED)
        );
    }

    #[test]
    fn odata_example_maps_methods_to_operations() {
        let t = RouteTable::parse(ODATA).unwrap();
        let base = "/odata/production/API_SALES_ORDER_SRV/A_SalesOrder";
        let item = format!("{base}/1001");
        let p = "production/API_SALES_ORDER_SRV/A_SalesOrder";
        assert_eq!(need(&t, "GET", base), Some(format!("{p}:list")));
        assert_eq!(need(&t, "GET", &item), Some(format!("{p}:get")));
        assert_eq!(need(&t, "POST", base), Some(format!("{p}:create")));
        assert_eq!(need(&t, "PATCH", &item), Some(format!("{p}:update")));
        assert_eq!(need(&t, "PUT", &item), Some(format!("{p}:update")));
        assert_eq!(need(&t, "DELETE", &item), Some(format!("{p}:delete")));
    }

    #[test]
    fn captures_cannot_smuggle_wildcards() {
        let t = RouteTable::parse(ODATA).unwrap();
        for path in [
            "/odata/*/SRV/E",
            "/odata/prod/SR:V/E",
            "/odata/prod/S%2FRV/E",
        ] {
            assert!(
                matches!(
                    t.resolve("GET", path),
                    Err(e) if e.kind() == ErrorKind::InsufficientPermissions
                ),
                "{path}"
            );
        }
    }

    #[test]
    fn url_parts() {
        assert_eq!(
            path_and_query("https://api.example.com/v1/orders?limit=2"),
            "/v1/orders?limit=2"
        );
        assert_eq!(path_and_query("http://127.0.0.1:8787/"), "/");
        assert_eq!(path_and_query("http://127.0.0.1:8787"), "/");
        assert_eq!(path_and_query("http://h?x=1"), "?x=1");
        assert_eq!(path_of("https://h/a/b?c=/d"), "/a/b");
        assert_eq!(path_of("http://h?x=1"), "/");
        assert_eq!(path_of("http://h"), "/");
    }

    #[test]
    fn unmatched_allow() {
        let t = RouteTable::parse(r#"{"unmatched":"allow","routes":[]}"#).unwrap();
        assert_eq!(t.resolve("GET", "/anything"), Ok(Requirement::OPEN));
    }

    #[test]
    fn bad_tables_name_the_route() {
        for (json, needle) in [
            (r#"{"routes":[{"method":"GET","path":"v1"}]}"#, "routes[0]"),
            (
                r#"{"routes":[{"method":"GET","path":"/a/*/b"}]}"#,
                "'*' may only end",
            ),
            (
                r#"{"routes":[{"method":"GET","path":"/a","permission":"{x}:read"}]}"#,
                "does not capture",
            ),
            (
                r#"{"routes":[{"method":"GET","path":"/a","permission":"a b"}]}"#,
                "invalid scope",
            ),
            (
                r#"{"routes":[{"method":"GET","path":"/a/{i}","permission":"{i}/s:get"}]}"#,
                "instance/service/entity",
            ),
            (
                r#"{"routes":[{"method":"GET","path":"/a","cost":0}]}"#,
                "ROUTES",
            ),
            (
                r#"{"routes":[{"method":"GET","path":"/a","extra":1}]}"#,
                "extra",
            ),
            ("not json", "ROUTES"),
        ] {
            let err = RouteTable::parse(json).unwrap_err();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }

    proptest! {
        #[test]
        fn fuzz_route_resolve(method in "[A-Z]{1,7}", path in "(/[a-zA-Z0-9*{}:%._-]{0,8}){0,6}") {
            for table in [REST, ODATA] {
                let _ = RouteTable::parse(table).unwrap().resolve(&method, &path);
            }
        }
    }

    #[test]
    fn routes_may_list_the_named_limits_they_draw_on() {
        let t = RouteTable::parse(
            r#"{"routes":[{"method":"GET","path":"/search","cost":2,"limits":{"search":5}},
                          {"method":"GET","path":"/free","limits":{}},
                          {"method":"*","path":"/*"}]}"#,
        )
        .unwrap();
        let search = t.resolve("GET", "/search").unwrap();
        assert_eq!(search.charge().cost, 2);
        assert_eq!(
            search
                .charge()
                .in_limit(PolicyName::parse("search").unwrap()),
            Some(5)
        );
        assert_eq!(
            search
                .charge()
                .in_limit(PolicyName::parse("other").unwrap()),
            None
        );
        assert_eq!(search.charge().in_limit(PolicyName::MINUTE), Some(2));
        let free = t.resolve("GET", "/free").unwrap();
        assert_eq!(
            free.charge().in_limit(PolicyName::parse("search").unwrap()),
            None
        );
        let rest = t.resolve("GET", "/x").unwrap();
        assert_eq!(
            rest.charge().in_limit(PolicyName::parse("search").unwrap()),
            Some(1)
        );
        for bad in [
            r#"{"routes":[{"method":"GET","path":"/a","limits":{"minute":2}}]}"#,
            r#"{"routes":[{"method":"GET","path":"/a","limits":{"Search":2}}]}"#,
            r#"{"routes":[{"method":"GET","path":"/a","limits":{"search":0}}]}"#,
        ] {
            assert!(RouteTable::parse(bad).is_err(), "{bad}");
        }
    }
}
