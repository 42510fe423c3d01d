//! Permissions in the two shapes API owners already write, and the one
//! question asked of them: does what a key holds cover what a request
//! needs?
//!
//! - Flat scopes: `read:assets`, `orders:read`, `admin`, with `*` as a
//!   segment wildcard; a trailing `*` covers one or more segments
//!   (`read:*` covers `read:assets`), and the bare scope `*` is full access
//!   to everything except `admin`.
//! - Hierarchical grants, instance → service → entity → operations, with
//!   `*` at any level: `{"production": {"SRV": {"Orders": ["list", "get"]}}}`.
//!   A route needs one as `instance/service/entity:op`.
//!
//! `admin` is never implied by a wildcard: it must be held literally.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::key::KeyType;

/// Most segments in a flat scope.
const MAX_SCOPE_SEGMENTS: usize = 6;
/// Longest segment (instance, service, entity, or a scope part).
const MAX_SEGMENT_LEN: usize = 128;
/// The wildcard segment.
const ANY: &str = "*";
/// The scope that opens the admin API.
const ADMIN: &str = "admin";

/// Whether `s` is a valid permission segment: a name, or `*`.
pub fn valid_segment(s: &str) -> bool {
    s == ANY
        || (!s.is_empty()
            && s.len() <= MAX_SEGMENT_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
}

fn seg_covers(grant: &str, need: &str) -> bool {
    grant == ANY || grant == need
}

/// An operation on a hierarchical entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Read a collection.
    List,
    /// Read one item.
    Get,
    /// Create an item.
    Create,
    /// Change an item.
    Update,
    /// Remove an item.
    Delete,
    /// Every operation.
    #[serde(rename = "*")]
    Any,
}

impl Op {
    /// Reads: the only operations a publishable key may hold.
    pub fn is_read(self) -> bool {
        matches!(self, Op::List | Op::Get)
    }

    fn covers(self, need: Op) -> bool {
        self == Op::Any || self == need
    }

    fn parse(s: &str) -> Option<Op> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::List => "list",
            Op::Get => "get",
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
            Op::Any => ANY,
        }
    }
}

/// A flat scope such as `orders:read` or `read:*`, validated.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope(String);

impl Scope {
    fn segments(&self) -> impl Iterator<Item = &str> + Clone {
        self.0.split(':')
    }

    /// The literal `admin` scope.
    pub fn is_admin(&self) -> bool {
        self.0 == ADMIN
    }

    /// Whether this scope only ever grants reads: one of its segments is
    /// `read` and none is a bare wildcard standing for the action.
    pub fn is_read_only(&self) -> bool {
        self.segments().any(|s| s == "read")
    }

    /// Whether this scope covers `need` (itself a scope, possibly with
    /// wildcards, which only wildcards cover). `admin` covers only `admin`.
    pub fn covers(&self, need: &Scope) -> bool {
        if self.is_admin() || need.is_admin() {
            return self.is_admin() && need.is_admin();
        }
        let grant: Vec<&str> = self.segments().collect();
        let need: Vec<&str> = need.segments().collect();
        match grant.split_last() {
            Some((&last, prefix)) if last == ANY && need.len() >= grant.len() => {
                prefix.iter().zip(&need).all(|(g, n)| seg_covers(g, n))
            }
            _ => {
                grant.len() == need.len() && grant.iter().zip(&need).all(|(g, n)| seg_covers(g, n))
            }
        }
    }

    fn is_full_access(&self) -> bool {
        self.0 == ANY
    }

    /// Whether this scope is wildcards only (`*`, `*:*`, `*:*:*`…): it
    /// covers every scope of its shape, which is full access in all but name.
    pub fn is_unbounded(&self) -> bool {
        self.segments().all(|s| s == ANY)
    }
}

impl TryFrom<String> for Scope {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let segments: Vec<&str> = s.split(':').collect();
        if segments.len() > MAX_SCOPE_SEGMENTS || !segments.iter().all(|seg| valid_segment(seg)) {
            return Err(format!(
                "invalid scope {s:?}: use up to {MAX_SCOPE_SEGMENTS} ':'-separated names of letters, digits, '_', '-', '.', or '*'"
            ));
        }
        Ok(Scope(s))
    }
}

impl From<Scope> for String {
    fn from(s: Scope) -> String {
        s.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A segment of a hierarchical grant (instance, service or entity name).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Segment(String);

impl TryFrom<String> for Segment {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if valid_segment(&s) {
            Ok(Segment(s))
        } else {
            Err(format!(
                "invalid name {s:?}: use letters, digits, '_', '-', '.', or '*'"
            ))
        }
    }
}

impl From<Segment> for String {
    fn from(s: Segment) -> String {
        s.0
    }
}

/// Hierarchical grants exactly as written: instance → service → entity →
/// operations.
pub type Hierarchy = BTreeMap<Segment, BTreeMap<Segment, BTreeMap<Segment, Vec<Op>>>>;

/// One resource a request needs (`instance/service/entity:op`), or one
/// grant unrolled from a [`Hierarchy`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Resource {
    /// The instance, e.g. `production`.
    pub instance: String,
    /// The service, e.g. `API_SALES_ORDER_SRV`.
    pub service: String,
    /// The entity, e.g. `A_SalesOrder`.
    pub entity: String,
    /// The operation.
    pub op: Op,
}

impl Resource {
    fn covers(&self, need: &Resource) -> bool {
        seg_covers(&self.instance, &need.instance)
            && seg_covers(&self.service, &need.service)
            && seg_covers(&self.entity, &need.entity)
            && self.op.covers(need.op)
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}:{}",
            self.instance,
            self.service,
            self.entity,
            self.op.as_str()
        )
    }
}

/// What a request needs, from the route table.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Permission {
    /// A flat scope such as `orders:read`, or `admin`.
    Scope(Scope),
    /// A hierarchical resource operation.
    Resource(Resource),
}

impl Permission {
    /// Parses `instance/service/entity:op` or a flat scope.
    pub fn parse(s: &str) -> Result<Permission, String> {
        if !s.contains('/') {
            return Scope::try_from(s.to_owned()).map(Permission::Scope);
        }
        let bad = || format!("invalid permission {s:?}: expected instance/service/entity:op");
        let (path, op) = s.rsplit_once(':').ok_or_else(bad)?;
        let parts: Vec<&str> = path.split('/').collect();
        let op = Op::parse(op).ok_or_else(bad)?;
        match parts.as_slice() {
            [i, s, e] if [i, s, e].iter().all(|p| valid_segment(p)) => {
                Ok(Permission::Resource(Resource {
                    instance: (*i).to_owned(),
                    service: (*s).to_owned(),
                    entity: (*e).to_owned(),
                    op,
                }))
            }
            _ => Err(bad()),
        }
    }

    /// The `admin` permission that the admin API requires of a key.
    pub fn admin() -> Permission {
        Permission::Scope(Scope(ADMIN.to_owned()))
    }
}

impl TryFrom<String> for Permission {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Permission::parse(&s)
    }
}

impl From<Permission> for String {
    fn from(p: Permission) -> String {
        p.to_string()
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Permission::Scope(s) => s.fmt(f),
            Permission::Resource(r) => r.fmt(f),
        }
    }
}

/// What a key holds: scopes and/or hierarchical permissions. Both empty
/// means "the default for the key's type" (see [`Grants::effective`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    /// Flat scopes.
    #[serde(default)]
    pub scopes: Vec<Scope>,
    /// Hierarchical grants.
    #[serde(default)]
    pub permissions: Hierarchy,
}

impl Grants {
    /// Whether nothing is granted explicitly.
    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty() && self.permissions.is_empty()
    }

    fn resources(&self) -> impl Iterator<Item = Resource> + '_ {
        self.permissions.iter().flat_map(|(i, services)| {
            services.iter().flat_map(move |(s, entities)| {
                entities.iter().flat_map(move |(e, ops)| {
                    ops.iter().map(move |&op| Resource {
                        instance: i.0.clone(),
                        service: s.0.clone(),
                        entity: e.0.clone(),
                        op,
                    })
                })
            })
        })
    }

    /// What a key of `key_type` holding `self` may actually do. Secret keys
    /// with no explicit grants have full access (not `admin`); publishable
    /// keys with none may read everything; restricted keys hold only what
    /// they list.
    pub fn effective(&self, key_type: KeyType) -> Grants {
        if !self.is_empty() {
            return self.clone();
        }
        let scope = |s: &str| Scope(s.to_owned());
        let any = || Segment(ANY.to_owned());
        match key_type {
            KeyType::Secret => Grants {
                scopes: vec![scope(ANY)],
                permissions: Hierarchy::new(),
            },
            KeyType::Publishable => Grants {
                scopes: vec![scope("read:*"), scope("*:read")],
                permissions: [(
                    any(),
                    [(any(), [(any(), vec![Op::List, Op::Get])].into())].into(),
                )]
                .into(),
            },
            KeyType::Restricted => Grants::default(),
        }
    }

    /// Whether these grants cover `need`.
    pub fn covers(&self, need: &Permission) -> bool {
        match need {
            Permission::Scope(s) => self.scopes.iter().any(|g| g.covers(s)),
            Permission::Resource(r) => {
                self.scopes.iter().any(Scope::is_full_access)
                    || self.resources().any(|g| g.covers(r))
            }
        }
    }

    /// Where these grants hold every operation on every resource
    /// (`*/*/*` with `*` or all five operations), if they do.
    fn unbounded_resource(&self) -> Option<String> {
        let all = [Op::List, Op::Get, Op::Create, Op::Update, Op::Delete];
        let any = Segment(ANY.to_owned());
        let ops = self.permissions.get(&any)?.get(&any)?.get(&any)?;
        let full = ops.contains(&Op::Any) || all.iter().all(|op| ops.contains(op));
        full.then(|| "permissions.*.*.*".to_owned())
    }

    /// Whether these grants hold `admin`.
    pub fn is_admin(&self) -> bool {
        self.scopes.iter().any(Scope::is_admin)
    }

    /// Checks that `self` grants nothing `holder` does not: every scope and
    /// every unrolled resource grant must be covered by `holder`. Returns the
    /// first that is not. This is the no-escalation rule.
    pub fn within(&self, holder: &Grants) -> Result<(), String> {
        for scope in &self.scopes {
            if !holder.covers(&Permission::Scope(scope.clone())) {
                return Err(scope.to_string());
            }
        }
        for resource in self.resources() {
            let need = Permission::Resource(resource);
            if !holder.covers(&need) {
                return Err(need.to_string());
            }
        }
        Ok(())
    }

    /// The rules a key type puts on its explicit grants: restricted keys
    /// must list some and never full access; publishable keys only reads.
    /// Errors name the offending entry.
    pub fn validate_for(&self, key_type: KeyType) -> Result<(), Error> {
        match key_type {
            KeyType::Secret => Ok(()),
            KeyType::Restricted => {
                if self.is_empty() {
                    return Err(Error::invalid(
                        "scopes",
                        "restricted keys must list explicit scopes or permissions",
                    ));
                }
                if let Some(i) = self.scopes.iter().position(Scope::is_unbounded) {
                    return Err(Error::invalid(
                        format!("scopes[{i}]"),
                        "restricted keys cannot hold full access (a scope of wildcards only)",
                    ));
                }
                match self.unbounded_resource() {
                    Some(at) => Err(Error::invalid(
                        at,
                        "restricted keys cannot hold full access (every operation on */*/*)",
                    )),
                    None => Ok(()),
                }
            }
            KeyType::Publishable => {
                if let Some(i) = self
                    .scopes
                    .iter()
                    .position(|s| !s.is_read_only() || s.is_admin())
                {
                    return Err(Error::invalid(
                        format!("scopes[{i}]"),
                        "publishable keys may only hold read scopes (containing a `read` segment)",
                    ));
                }
                match self.resources().find(|r| !r.op.is_read()) {
                    Some(r) => Err(Error::invalid(
                        format!("permissions.{}.{}.{}", r.instance, r.service, r.entity),
                        "publishable keys may only hold `list` and `get`",
                    )),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scope(s: &str) -> Scope {
        Scope::try_from(s.to_owned()).unwrap()
    }

    fn perm(s: &str) -> Permission {
        Permission::parse(s).unwrap()
    }

    fn grants(json: &str) -> Grants {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn flat_scope_matching() {
        assert!(scope("orders:read").covers(&scope("orders:read")));
        assert!(!scope("orders:read").covers(&scope("orders:write")));
        assert!(scope("read:*").covers(&scope("read:assets")));
        assert!(scope("read:*").covers(&scope("read:assets:deep")));
        assert!(!scope("read:*").covers(&scope("read")));
        assert!(!scope("read:*").covers(&scope("write:assets")));
        assert!(scope("*:read").covers(&scope("orders:read")));
        assert!(!scope("*:read").covers(&scope("orders:read:all")));
        assert!(scope("*").covers(&scope("anything:at:all")));
        assert!(!scope("*").covers(&scope("admin")));
        assert!(scope("admin").covers(&scope("admin")));
        assert!(!scope("admin").covers(&scope("admin:x")));
        // A wildcard need is covered only by a wildcard grant.
        assert!(!scope("read:assets").covers(&scope("read:*")));
    }

    #[test]
    fn hierarchical_matching() {
        let g = grants(
            r#"{"permissions": {"production": {"API_SALES_ORDER_SRV": {"A_SalesOrder": ["list", "get"]}},
                                "sandbox": {"*": {"*": ["*"]}}}}"#,
        );
        assert!(g.covers(&perm("production/API_SALES_ORDER_SRV/A_SalesOrder:get")));
        assert!(!g.covers(&perm("production/API_SALES_ORDER_SRV/A_SalesOrder:delete")));
        assert!(!g.covers(&perm("production/OTHER/A_SalesOrder:get")));
        assert!(g.covers(&perm("sandbox/ANY_SRV/Anything:delete")));
        assert!(!g.covers(&perm("orders:read")));
        assert!(!g.covers(&Permission::admin()));
    }

    #[test]
    fn defaults_by_type() {
        let none = Grants::default();
        let sk = none.effective(KeyType::Secret);
        assert!(sk.covers(&perm("orders:write")));
        assert!(sk.covers(&perm("p/s/e:delete")));
        assert!(!sk.covers(&Permission::admin()));
        let pk = none.effective(KeyType::Publishable);
        assert!(pk.covers(&perm("orders:read")));
        assert!(pk.covers(&perm("read:assets")));
        assert!(pk.covers(&perm("p/s/e:list")));
        assert!(!pk.covers(&perm("orders:write")));
        assert!(!pk.covers(&perm("p/s/e:update")));
        assert!(none.effective(KeyType::Restricted).is_empty());
    }

    #[test]
    fn parse_permissions() {
        assert_eq!(perm("a/b/c:get").to_string(), "a/b/c:get");
        for bad in [
            "a/b:get",
            "a/b/c",
            "a/b/c:fly",
            "a/b/c/d:get",
            "a b",
            "",
            "x::y",
            "a/b/c d:get",
        ] {
            assert!(Permission::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn type_rules_name_the_entry() {
        let field = |g: &Grants, t| match g.validate_for(t) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(&Grants::default(), KeyType::Restricted), "scopes");
        assert_eq!(
            field(&grants(r#"{"scopes":["a:read","*"]}"#), KeyType::Restricted),
            "scopes[1]"
        );
        assert_eq!(
            field(
                &grants(r#"{"scopes":["read:x","orders:write"]}"#),
                KeyType::Publishable
            ),
            "scopes[1]"
        );
        assert_eq!(
            field(
                &grants(r#"{"permissions":{"p":{"s":{"e":["get","update"]}}}}"#),
                KeyType::Publishable
            ),
            "permissions.p.s.e"
        );
        assert_eq!(
            field(
                &grants(r#"{"permissions":{"p":{"s":{"e":["*"]}}}}"#),
                KeyType::Publishable
            ),
            "permissions.p.s.e"
        );
        assert!(
            grants(r#"{"scopes":["orders:read"],"permissions":{"p":{"*":{"e":["list"]}}}}"#)
                .validate_for(KeyType::Publishable)
                .is_ok()
        );
        assert!(grants(r#"{"scopes":["read:*"]}"#)
            .validate_for(KeyType::Restricted)
            .is_ok());
    }

    #[test]
    fn restricted_keys_cannot_hold_full_access_in_all_but_name() {
        let field = |json: &str| match grants(json).validate_for(KeyType::Restricted) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{json}: {other:?}"),
        };
        assert_eq!(field(r#"{"scopes":["a:read","*:*"]}"#), "scopes[1]");
        assert_eq!(field(r#"{"scopes":["*:*:*"]}"#), "scopes[0]");
        assert_eq!(
            field(r#"{"scopes":["a:read"],"permissions":{"*":{"*":{"*":["*"]}}}}"#),
            "permissions.*.*.*"
        );
        assert_eq!(
            field(r#"{"permissions":{"*":{"*":{"*":["list","get","create","update","delete"]}}}}"#),
            "permissions.*.*.*"
        );
        for ok in [
            r#"{"scopes":["*:read"]}"#,
            r#"{"permissions":{"*":{"*":{"*":["list","get"]}}}}"#,
            r#"{"permissions":{"p":{"*":{"*":["*"]}}}}"#,
        ] {
            assert!(grants(ok).validate_for(KeyType::Restricted).is_ok(), "{ok}");
        }
    }

    #[test]
    fn invalid_shapes_are_rejected_by_serde() {
        for bad in [
            r#"{"scopes":["has space"]}"#,
            r#"{"scopes":[""]}"#,
            r#"{"permissions":{"p":{"s":["get"]}}}"#,
            r#"{"permissions":{"p":{"s":{"e":["fly"]}}}}"#,
            r#"{"permissions":{"p q":{"s":{"e":["get"]}}}}"#,
        ] {
            assert!(serde_json::from_str::<Grants>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn within_is_the_no_escalation_rule() {
        let holder =
            grants(r#"{"scopes":["admin","orders:*"],"permissions":{"prod":{"*":{"*":["get"]}}}}"#);
        assert!(grants(r#"{"scopes":["orders:read"]}"#)
            .within(&holder)
            .is_ok());
        assert!(grants(r#"{"scopes":["orders:*"]}"#).within(&holder).is_ok());
        assert!(grants(r#"{"permissions":{"prod":{"SRV":{"E":["get"]}}}}"#)
            .within(&holder)
            .is_ok());
        assert_eq!(
            grants(r#"{"scopes":["*"]}"#).within(&holder),
            Err("*".into())
        );
        assert_eq!(
            grants(r#"{"scopes":["users:read"]}"#).within(&holder),
            Err("users:read".into())
        );
        assert_eq!(
            grants(r#"{"permissions":{"prod":{"SRV":{"E":["get","delete"]}}}}"#).within(&holder),
            Err("prod/SRV/E:delete".into())
        );
        assert_eq!(
            grants(r#"{"permissions":{"*":{"SRV":{"E":["get"]}}}}"#).within(&holder),
            Err("*/SRV/E:get".into())
        );
    }

    // --- properties -----------------------------------------------------

    fn seg() -> impl Strategy<Value = String> {
        prop_oneof![Just("*".to_owned()), "[a-c]{1,2}"]
    }

    fn scope_strategy() -> impl Strategy<Value = Scope> {
        proptest::collection::vec(seg(), 1..4).prop_map(|s| Scope(s.join(":")))
    }

    fn concrete_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::List),
            Just(Op::Get),
            Just(Op::Create),
            Just(Op::Update),
            Just(Op::Delete)
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![5 => concrete_op(), 1 => Just(Op::Any)]
    }

    fn hierarchy() -> impl Strategy<Value = Hierarchy> {
        let s = || seg().prop_map(Segment);
        proptest::collection::btree_map(
            s(),
            proptest::collection::btree_map(
                s(),
                proptest::collection::btree_map(s(), proptest::collection::vec(op(), 1..3), 1..3),
                1..3,
            ),
            0..3,
        )
    }

    fn grants_strategy() -> impl Strategy<Value = Grants> {
        (
            proptest::collection::vec(scope_strategy(), 0..4),
            hierarchy(),
        )
            .prop_map(|(scopes, permissions)| Grants {
                scopes,
                permissions,
            })
    }

    fn concrete_need() -> impl Strategy<Value = Permission> {
        let name = || "[a-c]{1,2}";
        prop_oneof![
            proptest::collection::vec(name(), 1..4)
                .prop_map(|s| Permission::Scope(Scope(s.join(":")))),
            (name(), name(), name(), concrete_op()).prop_map(|(i, s, e, op)| {
                Permission::Resource(Resource {
                    instance: i,
                    service: s,
                    entity: e,
                    op,
                })
            }),
        ]
    }

    /// Replaces one segment of every scope by `*`: a wider grant.
    fn widen(g: &Grants) -> Grants {
        Grants {
            scopes: g
                .scopes
                .iter()
                .map(|s| {
                    let mut parts: Vec<&str> = s.segments().collect();
                    parts[0] = ANY;
                    Scope(parts.join(":"))
                })
                .collect(),
            permissions: {
                let mut wide = Hierarchy::new();
                for r in g.resources() {
                    wide.entry(Segment(ANY.to_owned()))
                        .or_default()
                        .entry(Segment(r.service))
                        .or_default()
                        .entry(Segment(r.entity))
                        .or_default()
                        .push(r.op);
                }
                wide
            },
        }
    }

    proptest! {
        #[test]
        fn fuzz_subset_never_grants_more(held in grants_strategy(), given in grants_strategy(), need in concrete_need()) {
            if given.within(&held).is_ok() && given.covers(&need) {
                prop_assert!(held.covers(&need), "{given:?} within {held:?} but covers {need}");
            }
        }

        #[test]
        fn fuzz_wildcards_cover_what_their_concrete_grants_cover(g in grants_strategy(), need in concrete_need()) {
            let wide = widen(&g);
            if g.covers(&need) {
                prop_assert!(wide.covers(&need));
            }
            prop_assert!(g.within(&wide).is_ok());
        }

        #[test]
        fn fuzz_permission_parse(s in "\\PC{0,60}") {
            if let Ok(p) = Permission::parse(&s) {
                prop_assert_eq!(Permission::parse(&p.to_string()), Ok(p));
            }
        }

        #[test]
        fn grants_are_within_themselves(g in grants_strategy()) {
            prop_assert!(g.within(&g).is_ok());
        }

        #[test]
        fn admin_is_never_implied(g in grants_strategy()) {
            prop_assert_eq!(g.covers(&Permission::admin()), g.scopes.iter().any(Scope::is_admin));
        }
    }
}
