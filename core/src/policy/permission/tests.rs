//! Scope and grant matching, type rules and the no-escalation rule, with property tests.

use super::*;
use crate::error::Detail;
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
    let field = |g: &Grants, t| match g.validate_for(t).map_err(Error::into_detail) {
        Err(Detail::Field { field, .. }) => field,
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
    let field = |json: &str| match grants(json)
        .validate_for(KeyType::Restricted)
        .map_err(Error::into_detail)
    {
        Err(Detail::Field { field, .. }) => field,
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
        proptest::collection::vec(name(), 1..4).prop_map(|s| Permission::Scope(Scope(s.join(":")))),
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
