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
mod tests;
