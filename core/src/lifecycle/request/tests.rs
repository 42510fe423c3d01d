//! Issuing and editing keys: defaults, validation, type rules, tiers, nulls, bounds.

use super::*;
use crate::error::{Detail, ErrorKind};
use crate::hash::KeyHash;
use crate::lifecycle::record::Status;

fn envs() -> Vec<Environment> {
    vec!["live".parse().unwrap(), "test".parse().unwrap()]
}

fn ctx(envs: &[Environment]) -> IssueContext<'_> {
    IssueContext {
        environments: envs,
        default_limits: RateLimits::DEFAULT,
        now: Timestamp::from_secs(1_800_000_000),
        actor: &Actor::AdminToken,
        tiers: &TIERS,
        shards: crate::registry::shard::ShardCount::ONE,
    }
}

static TIERS: std::sync::LazyLock<Tiers> = std::sync::LazyLock::new(Tiers::default);

fn new_key(json: &str) -> NewKey {
    serde_json::from_str(json).unwrap()
}

#[test]
fn issues_a_key_with_defaults() {
    let envs = envs();
    let (record, key) = new_key(r#"{"name":" ci ","environment":"test"}"#)
        .issue(&ctx(&envs))
        .unwrap();
    assert_eq!(record.name, "ci");
    assert_eq!(record.key_type, KeyType::Secret);
    assert_eq!(record.rate_limits, RateLimits::DEFAULT);
    assert!(key.expose_secret().starts_with("sk_test_"));
    assert!(record.opens_with(&KeyHash::of(&key), Timestamp::from_secs(1_800_000_000)));
    assert_eq!(
        record.status(Timestamp::from_secs(1_800_000_000)),
        Status::Active
    );
}

#[test]
fn partial_limits_fill_from_defaults() {
    let envs = envs();
    let (record, _) = new_key(
        r#"{"name":"a","environment":"live","type":"restricted","scopes":["a:read"],"rate_limits":{"per_minute":5}}"#,
    )
    .issue(&ctx(&envs))
    .unwrap();
    assert_eq!(record.rate_limits.per_minute.get(), 5);
    assert_eq!(record.rate_limits.per_day, RateLimits::DEFAULT.per_day);
    assert_eq!(record.key_type, KeyType::Restricted);
}

#[test]
fn null_is_refused_where_the_document_does_not_allow_it() {
    use crate::admin::parse_body;
    fn field<T: serde::de::DeserializeOwned + std::fmt::Debug>(json: &str) -> String {
        match parse_body::<T>(json.as_bytes()).map_err(Error::into_detail) {
            Err(Detail::Field { field, .. }) => field,
            other => panic!("{json}: {other:?}"),
        }
    }
    let create = |extra: &str| format!(r#"{{"name":"a","environment":"live",{extra}}}"#);
    assert_eq!(
        field::<NewKey>(&create(r#""rate_limits":{"per_minute":null}"#)),
        "rate_limits.per_minute"
    );
    for f in [
        "owner_id",
        "expires_at",
        "tier",
        "type",
        "description",
        "metadata",
    ] {
        assert_eq!(field::<NewKey>(&create(&format!(r#""{f}":null"#))), f);
    }
    assert_eq!(
        field::<KeyPatch>(r#"{"rate_limits":{"per_day":null}}"#),
        "rate_limits.per_day"
    );
    for f in [
        "name",
        "scopes",
        "permissions",
        "allowed_ips",
        "allowed_origins",
        "rate_limits",
    ] {
        assert_eq!(field::<KeyPatch>(&format!(r#"{{"{f}":null}}"#)), f);
    }
    // What the document marks nullable stays so.
    let cleared: KeyPatch = parse_body(
        br#"{"description":null,"tier":null,"owner_id":null,"metadata":null,"expires_at":null}"#,
    )
    .unwrap();
    assert_eq!(cleared.expires_at, Some(None));
    assert_eq!(
        field::<RotateRequest>(r#"{"expire_previous_in_seconds":null}"#),
        "expire_previous_in_seconds"
    );
}

#[test]
fn integers_are_read_as_json_schema_reads_them() {
    use crate::admin::parse_body;
    let limits = |json: &str| parse_body::<RateLimitsInput>(json.as_bytes());
    assert_eq!(
        limits(r#"{"per_minute":2980.0}"#).unwrap().per_minute,
        NonZeroU32::new(2980)
    );
    for bad in ["2980.5", "0", "0.0", "-1", "4294967296", "null", "\"7\""] {
        match limits(&format!(r#"{{"per_minute":{bad}}}"#)).map_err(Error::into_detail) {
            Err(Detail::Field { field, .. }) => assert_eq!(field, "per_minute", "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    let rotate: RotateRequest = parse_body(br#"{"expire_previous_in_seconds":60.0}"#).unwrap();
    assert_eq!(rotate.grace_secs(), Ok(60));
}

#[test]
fn rotation_grace_is_bounded() {
    let r = |secs: u64| RotateRequest {
        expire_previous_in_seconds: Some(secs),
    };
    assert_eq!(RotateRequest::default().grace_secs(), Ok(86_400));
    assert_eq!(
        r(MAX_ROTATION_GRACE_SECS).grace_secs(),
        Ok(MAX_ROTATION_GRACE_SECS)
    );
    match r(300_000_000_000).grace_secs().map_err(Error::into_detail) {
        Err(Detail::Field { field, .. }) => assert_eq!(field, "expire_previous_in_seconds"),
        other => panic!("{other:?}"),
    }
}

proptest::proptest! {
    /// Whatever the API accepts can be stored and read back, before
    /// and after a rotation and an edit: no accepted value can make a
    /// key unreadable (and so unrevocable).
    #[test]
    fn fuzz_every_accepted_key_reads_back(
        year in 1970u32..=9999,
        offset in proptest::sample::select(vec!["Z", "+14:00", "-23:59", "+00:01"]),
        per_minute in proptest::option::of(1u32..=u32::MAX),
        per_day in proptest::option::of(1u32..=u32::MAX),
        tier in proptest::option::of(proptest::sample::select(vec!["standard", "enterprise"])),
        grace in 0u64..=MAX_ROTATION_GRACE_SECS,
        patch_year in 1970u32..=9999,
    ) {
        let envs = envs();
        let mut body = serde_json::json!({
            "name": "n", "environment": "live",
            "expires_at": format!("{year:04}-12-31T23:59:59{offset}"),
            "rate_limits": {},
        });
        if let Some(m) = per_minute { body["rate_limits"]["per_minute"] = m.into(); }
        if let Some(d) = per_day { body["rate_limits"]["per_day"] = d.into(); }
        if let Some(t) = tier { body["tier"] = t.into(); }
        let Ok(new) = crate::admin::parse_body::<NewKey>(body.to_string().as_bytes()) else {
            return Ok(()); // refused with a 4xx: nothing stored
        };
        let Ok((mut record, _)) = new.issue(&ctx(&envs)) else { return Ok(()) };
        let now = Timestamp::from_secs(1_800_000_000);
        let reads_back = |r: &KeyRecord| {
            let stored = serde_json::to_string(r).unwrap();
            let read: KeyRecord = serde_json::from_str(&stored).unwrap();
            let view = serde_json::to_string(&read.view(None, None, now)).unwrap();
            serde_json::from_str::<crate::lifecycle::record::KeyView>(&view).unwrap();
            read
        };
        let read = reads_back(&record);
        proptest::prop_assert_eq!(&read.rate_limits, &record.rate_limits);
        let key = ApiKey::generate(KeyType::Secret, "live".parse().unwrap()).unwrap();
        record.rotate(Secret::of(&key), grace, now);
        reads_back(&record);
        let patch: Result<KeyPatch, _> = crate::admin::parse_body(
            serde_json::json!({ "expires_at": format!("{patch_year:04}-06-30T00:00:00-12:00") }).to_string().as_bytes(),
        );
        if let Ok(patch) = patch {
            if let Ok(next) = patch.apply(&Actor::AdminToken.permit(&record, None).unwrap(), &TIERS, now) {
                reads_back(&next);
            }
        }
    }
}

#[test]
fn invalid_requests_name_the_field() {
    let envs = envs();
    let cases = [
        (r#"{"name":"  ","environment":"live"}"#, "name"),
        (r#"{"name":"a","environment":"dev"}"#, "environment"),
        (
            r#"{"name":"a","environment":"live","expires_at":"2020-01-01T00:00:00Z"}"#,
            "expires_at",
        ),
    ];
    for (json, field) in cases {
        match new_key(json).issue(&ctx(&envs)).map_err(Error::into_detail) {
            Err(Detail::Field { field: f, .. }) => assert_eq!(f, field, "{json}"),
            other => panic!("{json}: expected invalid {field}, got {other:?}"),
        }
    }
    let long = format!(r#"{{"name":"{}","environment":"live"}}"#, "x".repeat(201));
    assert!(matches!(
        new_key(&long).issue(&ctx(&envs)),
        Err(e) if e.kind() == ErrorKind::Invalid
    ));
}

#[test]
fn views_carry_no_secret_or_hash() {
    let envs = envs();
    let (record, key) = new_key(r#"{"name":"a","environment":"live"}"#)
        .issue(&ctx(&envs))
        .unwrap();
    let json = serde_json::to_string(&record.view(None, None, Timestamp::from_secs(0))).unwrap();
    assert!(!json.contains(key.expose_secret()));
    assert!(!json.contains(KeyHash::of(&key).as_str()));
    assert!(json.contains(&key.display()));
}

#[test]
fn revocation_wins_over_expiry() {
    let envs = envs();
    let (mut record, _) =
        new_key(r#"{"name":"a","environment":"live","expires_at":"2030-01-01T00:00:00Z"}"#)
            .issue(&ctx(&envs))
            .unwrap();
    let later = Timestamp::parse_rfc3339("2031-01-01T00:00:00Z").unwrap();
    assert_eq!(record.status(later), Status::Expired);
    record.revoked_at = Some(later);
    assert_eq!(record.status(later), Status::Revoked);
}

fn issue_as(json: &str, actor: &Actor) -> Result<KeyRecord, Error> {
    let envs = envs();
    let ctx = IssueContext {
        actor,
        ..ctx(&envs)
    };
    new_key(json).issue(&ctx).map(|(r, _)| r)
}

#[test]
fn admin_keys_grant_only_subsets_and_never_admin() {
    let actor = Actor::Key {
        id: KeyId::generate(crate::registry::shard::ShardCount::ONE).unwrap(),
        bounds: serde_json::from_value(serde_json::json!({
            "grants": {"scopes": ["admin", "orders:*"]}, "environment": "live", "owner_id": null,
            "rate_limits": RateLimits::DEFAULT, "expires_at": null, "allowed_ips": []
        }))
        .unwrap(),
    };
    assert!(issue_as(
        r#"{"name":"a","environment":"live","type":"restricted","scopes":["orders:read"]}"#,
        &actor
    )
    .is_ok());
    for json in [
        r#"{"name":"a","environment":"live"}"#,
        r#"{"name":"a","environment":"live","scopes":["users:read"]}"#,
        r#"{"name":"a","environment":"live","scopes":["admin"]}"#,
        r#"{"name":"a","environment":"live","permissions":{"p":{"s":{"e":["get"]}}}}"#,
    ] {
        assert!(
            matches!(
                issue_as(json, &actor),
                Err(e) if e.kind() == ErrorKind::InsufficientPermissions
            ),
            "{json}"
        );
    }
    assert!(issue_as(
        r#"{"name":"a","environment":"live","scopes":["admin"]}"#,
        &Actor::AdminToken
    )
    .is_ok());
}

#[test]
fn patches_merge_and_clear() {
    let envs = envs();
    let (record, _) = new_key(
        r#"{"name":"a","description":"d","environment":"live","rate_limits":{"per_minute":5},"expires_at":"2030-01-01T00:00:00Z"}"#,
    )
    .issue(&ctx(&envs))
    .unwrap();
    let patch: KeyPatch = serde_json::from_str(
        r#"{"description":null,"expires_at":null,"rate_limits":{"per_day":9}}"#,
    )
    .unwrap();
    let next = patch
        .apply(
            &Actor::AdminToken.permit(&record, None).unwrap(),
            &TIERS,
            Timestamp::from_secs(1_800_000_000),
        )
        .unwrap();
    assert_eq!(next.description, None);
    assert_eq!(next.expires_at, None);
    assert_eq!(next.rate_limits.per_minute.get(), 5);
    assert_eq!(next.rate_limits.per_day.get(), 9);
    assert_eq!(next.secrets, record.secrets);
    let untouched: KeyPatch = serde_json::from_str("{}").unwrap();
    assert_eq!(
        untouched
            .apply(
                &Actor::AdminToken.permit(&record, None).unwrap(),
                &TIERS,
                Timestamp::from_secs(1_800_000_000)
            )
            .unwrap(),
        record
    );
}

#[test]
fn type_rules_apply_on_create() {
    let f = |json: &str| match issue_as(json, &Actor::AdminToken).map_err(Error::into_detail) {
        Err(Detail::Field { field, .. }) => field,
        other => panic!("{json}: {other:?}"),
    };
    assert_eq!(
        f(r#"{"name":"a","environment":"live","type":"restricted"}"#),
        "scopes"
    );
    assert_eq!(
        f(r#"{"name":"a","environment":"live","type":"publishable","scopes":["orders:write"]}"#),
        "scopes[0]"
    );
}

#[test]
fn tiers_set_limits_unless_overridden() {
    let envs = envs();
    let (r, _) = new_key(r#"{"name":"a","environment":"live","tier":"premium"}"#)
        .issue(&ctx(&envs))
        .unwrap();
    assert_eq!(r.rate_limits.per_minute.get(), 1_000);
    let (r2, _) = new_key(
        r#"{"name":"a","environment":"live","tier":"premium","rate_limits":{"per_minute":7}}"#,
    )
    .issue(&ctx(&envs))
    .unwrap();
    assert_eq!(r2.rate_limits.per_minute.get(), 7);
    assert_eq!(r2.rate_limits.per_day.get(), 1_000_000);
    let bad = new_key(r#"{"name":"a","environment":"live","tier":"gold"}"#).issue(&ctx(&envs));
    assert!(matches!(bad, Err(e) if e.field() == Some("tier")));
    let to_enterprise: KeyPatch = serde_json::from_str(r#"{"tier":"enterprise"}"#).unwrap();
    let now = Timestamp::from_secs(1_800_000_000);
    let r3 = to_enterprise
        .apply(&Actor::AdminToken.permit(&r2, None).unwrap(), &TIERS, now)
        .unwrap();
    assert_eq!(r3.rate_limits.per_minute.get(), 10_000);
    assert_eq!(r3.tier.as_deref(), Some("enterprise"));
}

#[test]
fn owner_and_metadata_are_validated() {
    let envs = envs();
    let f = |json: &str| match new_key(json).issue(&ctx(&envs)).map_err(Error::into_detail) {
        Err(Detail::Field { field, .. }) => field,
        other => panic!("{json}: {other:?}"),
    };
    assert_eq!(
        f(r#"{"name":"a","environment":"live","owner_id":"has space"}"#),
        "owner_id"
    );
    let big = format!(
        r#"{{"name":"a","environment":"live","metadata":{{"x":"{}"}}}}"#,
        "y".repeat(5000)
    );
    assert_eq!(f(&big), "metadata");
    let (r, _) = new_key(
        r#"{"name":"a","environment":"live","owner_id":"cus_123","metadata":{"plan":"pro"}}"#,
    )
    .issue(&ctx(&envs))
    .unwrap();
    assert_eq!(r.owner_id.as_deref(), Some("cus_123"));
    assert_eq!(r.metadata.unwrap()["plan"], "pro");
}

#[test]
fn rotation_overlaps_then_retires_the_old_secret() {
    let envs = envs();
    let (mut r, old) = new_key(r#"{"name":"a","environment":"live"}"#)
        .issue(&ctx(&envs))
        .unwrap();
    let t0 = Timestamp::from_secs(1_800_000_000);
    let new = ApiKey::generate(KeyType::Secret, "live".parse().unwrap()).unwrap();
    r.rotate(Secret::of(&new), 60, t0);
    let (old_h, new_h) = (KeyHash::of(&old), KeyHash::of(&new));
    assert!(r.opens_with(&old_h, t0.plus_millis(59_999)));
    assert!(!r.opens_with(&old_h, t0.plus_millis(60_000)));
    assert!(r.opens_with(&new_h, t0.plus_millis(10_000_000)));
    let view = r.view(None, None, t0);
    assert_eq!(view.display, new.display());
    assert_eq!(view.previous_secrets.len(), 1);
    assert_eq!(view.previous_secrets[0].display, old.display());
    assert!(r
        .view(None, None, t0.plus_millis(60_000))
        .previous_secrets
        .is_empty());
    // Rotating with 0 retires every earlier secret at once.
    let third = ApiKey::generate(KeyType::Secret, "live".parse().unwrap()).unwrap();
    r.rotate(Secret::of(&third), 0, t0.plus_millis(1));
    assert!(!r.opens_with(&new_h, t0.plus_millis(1)));
    assert_eq!(r.secrets.len(), 1);
}

#[test]
fn a_body_error_names_the_field_it_is_about() {
    use crate::admin::parse_body;
    let field = |json: &str| match parse_body::<NewKey>(json.as_bytes()).map_err(Error::into_detail)
    {
        Err(Detail::Field { field, .. }) => field,
        other => panic!("{json}: {other:?}"),
    };
    assert_eq!(field(r#"{"name":"ci"}"#), "environment", "the missing one");
    assert_eq!(
        field(r#"{"name":"ci","environment":"live","colour":1}"#),
        "colour"
    );
    assert_eq!(
        field(r#"{"name":"ci","environment":"live","scopes":["a:read","bad scope"]}"#),
        "scopes[1]"
    );
    assert_eq!(
        field(r#"{"environment":"live","name":5,"rate_limits":{"per_minute":0}}"#),
        "name",
        "the first failure"
    );
}

#[test]
fn credit_requests_and_idempotency_keys_are_checked() {
    use crate::limits::credits::MAX_CREDITS;
    let body = |amount: u64| CreditsRequest {
        op: crate::limits::credits::CreditOp::Set,
        amount,
    };
    assert!(body(MAX_CREDITS).validate().is_ok());
    assert!(matches!(body(MAX_CREDITS + 1).validate(), Err(e) if e.field() == Some("amount")));
    assert_eq!(idempotency_key(None), Ok(None));
    assert_eq!(
        idempotency_key(Some("order 1".into())),
        Ok(Some("order 1".into()))
    );
    for bad in ["", "ä", "tab\t", &"x".repeat(256)] {
        assert!(idempotency_key(Some(bad.into())).is_err(), "{bad:?}");
    }
}

#[test]
fn a_missing_field_is_named_in_the_first_element_that_lacks_it() {
    let body = br#"{"name":"k","environment":"live","limits":[
        {"name":"a","limit":1},{"limit":2,"window_seconds":5}]}"#;
    match crate::admin::parse_body::<NewKey>(body).map_err(Error::into_detail) {
        Err(Detail::Field { field, .. }) => assert_eq!(field, "limits[0].window_seconds"),
        other => panic!("{other:?}"),
    }
}
