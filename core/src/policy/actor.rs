//! Who acts on the admin API, and the one rule that decides which keys a
//! key actor may touch.
//!
//! The admin token may act on any key. An API key holding `admin` (a *key
//! actor*) may act on a key only when that key is **within** it: the key
//! holds no `admin`, and everything it can do the actor can do too —
//! grants, environment, owner (the same one, or none for both), limits,
//! expiry and IP allowlist (see
//! [`Actor::reach`]). The same rule judges the current record of every key
//! an admin route touches (read, list, edit, rotate, revoke, audit,
//! verify, revoke-leaked) and the record a create or edit would produce.
//!
//! The rule is enforced by type, not by review: a key's Durable Object
//! runs an admin action only through a [`Permit`], and only
//! [`Actor::permit`] makes one, after the rule has passed on the key's
//! authoritative record.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::key::{Environment, KeyId};
use crate::keystate::Grant;
use crate::lifecycle::record::{KeyRecord, KeyView};
use crate::lifecycle::request::RateLimitsInput;
use crate::limits::credits::{Credits, Interval, Refill};
use crate::limits::{NamedLimit, RateLimits, WindowKind};
use crate::policy::ip::IpRule;
use crate::policy::permission::Grants;
use crate::time::Timestamp;

/// Everything about a key that decides whether it is within another:
/// what it may do, where, for whom, how much, until when, from where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounds {
    /// Effective grants (a type's defaults already filled in).
    pub grants: Grants,
    /// The environment it works in.
    pub environment: Environment,
    /// The tenant it acts for.
    pub owner_id: Option<String>,
    /// Its limits.
    pub rate_limits: RateLimits,
    /// Whether its windows roll.
    #[serde(default)]
    pub window: WindowKind,
    /// Its named limits.
    #[serde(default)]
    pub limits: Vec<NamedLimit>,
    /// Its credits, if it is metered.
    #[serde(default)]
    pub credits: Option<Credits>,
    /// When it stops working.
    pub expires_at: Option<Timestamp>,
    /// Where it works from (empty: anywhere).
    pub allowed_ips: Vec<IpRule>,
}

impl Bounds {
    /// The bounds of `record`, whose credits are `credits` (they are kept
    /// apart from the record, in the key's activity).
    pub fn of_record(r: &KeyRecord, credits: Option<Credits>) -> Bounds {
        Bounds {
            grants: r.grants.effective(r.key_type),
            environment: r.environment.clone(),
            owner_id: r.owner_id.clone(),
            rate_limits: r.rate_limits,
            window: r.window,
            limits: r.limits.clone(),
            credits,
            expires_at: r.expires_at,
            allowed_ips: r.allowed_ips.clone(),
        }
    }
}

impl From<&KeyView> for Bounds {
    fn from(v: &KeyView) -> Bounds {
        let grants = Grants {
            scopes: v.scopes.clone(),
            permissions: v.permissions.clone(),
        };
        Bounds {
            grants: grants.effective(v.key_type),
            environment: v.environment.clone(),
            owner_id: v.owner_id.clone(),
            rate_limits: v.rate_limits,
            window: v.window,
            limits: v.limits.clone(),
            credits: v.credits,
            expires_at: v.expires_at,
            allowed_ips: v.allowed_ips.clone(),
        }
    }
}

impl From<&Grant> for Bounds {
    fn from(g: &Grant) -> Bounds {
        Bounds {
            grants: g.grants.effective(g.key_type),
            environment: g.environment.clone(),
            owner_id: g.owner_id.clone(),
            rate_limits: g.rate_limits,
            window: g.window,
            limits: g.limits.clone(),
            credits: g.credits,
            expires_at: g.expires_at,
            allowed_ips: g.allowed_ips.clone(),
        }
    }
}

/// Who is acting on the admin API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// Authenticated with `ADMIN_TOKEN`: may act on any key.
    AdminToken,
    /// Authenticated with an API key that holds `admin`.
    Key {
        /// The acting key.
        id: KeyId,
        /// What it can do: the ceiling of every key it may touch.
        bounds: Box<Bounds>,
    },
}

/// Proof that the actor may act on the whole deployment — read usage
/// across every key, manage webhooks: only the admin token can make one
/// ([`Actor::deployment_permit`]). An admin key reaches some keys; totals,
/// top lists and events would tell it about the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentPermit(());

/// Why a key is outside a key actor's reach. The first failed condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutOfReach {
    /// The key holds `admin`: only the admin token manages admin keys.
    Admin,
    /// The key holds a grant (named) the actor does not.
    Grant(String),
    /// The key works in another environment.
    Environment,
    /// The key belongs to another owner.
    Owner,
    /// The key's limits exceed the actor's.
    Limits,
    /// The actor's windows roll and the key's do not.
    Window,
    /// The key lacks one of the actor's named limits, or has it higher.
    NamedLimits,
    /// The actor is metered and the key is not, or refills more.
    Credits,
    /// The key outlives the actor.
    Expiry,
    /// The key works from addresses the actor does not.
    Ips,
}

impl OutOfReach {
    /// The field of a create or edit request this condition is about.
    fn field(&self) -> &'static str {
        match self {
            OutOfReach::Admin | OutOfReach::Grant(_) => "scopes",
            OutOfReach::Environment => "environment",
            OutOfReach::Owner => "owner_id",
            OutOfReach::Limits => "rate_limits",
            OutOfReach::Window => "window",
            OutOfReach::NamedLimits => "limits",
            OutOfReach::Credits => "credits",
            OutOfReach::Expiry => "expires_at",
            OutOfReach::Ips => "allowed_ips",
        }
    }

    /// The 403 for a key that would be out of reach *after* a create or an
    /// edit: it names what the acting key cannot give, which the caller
    /// wrote itself.
    pub fn on_result(self) -> Error {
        let message = match &self {
            OutOfReach::Admin => "Only the admin token can grant `admin`.".to_owned(),
            OutOfReach::Grant(entry) => {
                format!("Cannot grant `{entry}`: the acting key does not hold it.")
            }
            other => format!(
                "`{}` must stay within the acting key's own (see the admin-key rule in the README).",
                other.field()
            ),
        };
        let required = match self {
            OutOfReach::Grant(entry) => Some(entry),
            OutOfReach::Admin => Some("admin".to_owned()),
            _ => None,
        };
        Error::insufficient_permissions(required, message)
    }

    /// The 403 for an existing key outside the actor's reach. It does not
    /// say which condition failed, so a weak key cannot probe a stronger
    /// key's grants one refusal at a time.
    pub fn on_target(self) -> Error {
        Error::insufficient_permissions(
            None,
            "This key is outside what the acting key may manage.".to_owned(),
        )
    }
}

/// What a create request set itself: the rest of a key actor's new key is
/// taken from the actor (see [`Actor::inherit`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Given {
    /// The limits it set (either half may be missing).
    pub rate_limits: RateLimitsInput,
    /// It named a tier.
    pub tier: bool,
    /// It set `window`.
    pub window: bool,
    /// It set `limits`.
    pub limits: bool,
}

/// Proof that the actor may act on one key: the rule passed on that key's
/// current record. Only [`Actor::permit`] makes one.
#[derive(Debug)]
pub struct Permit<'a> {
    actor: &'a Actor,
    target: &'a KeyRecord,
    credits: Option<Credits>,
}

impl Permit<'_> {
    /// Checks the record (and credits) an edit would produce: within the
    /// actor, and for a key actor never a relaxed expiry or a wider IP
    /// allowlist than the key has now.
    pub fn allows_result(&self, next: &KeyRecord, credits: Option<Credits>) -> Result<(), Error> {
        if let Actor::Key { .. } = self.actor {
            self.actor
                .reach(&Bounds::of_record(next, credits))
                .map_err(OutOfReach::on_result)?;
            self.allows_credits(credits)?;
            let current = self.target;
            let relaxed_expiry = match (current.expires_at, next.expires_at) {
                (Some(_), None) => true,
                (Some(now), Some(then)) => then > now,
                (None, _) => false,
            };
            if relaxed_expiry {
                return Err(OutOfReach::Expiry.on_result());
            }
            if !ips_within(&next.allowed_ips, &current.allowed_ips) {
                return Err(OutOfReach::Ips.on_result());
            }
        }
        Ok(())
    }

    /// Checks a balance an edit or a credit change would leave: a metered
    /// key actor gives no key more credits than it has left itself.
    pub fn allows_credits(&self, credits: Option<Credits>) -> Result<(), Error> {
        self.actor.allows_balance(credits)
    }

    /// The key's record as the rule saw it.
    pub fn target(&self) -> &KeyRecord {
        self.target
    }

    /// The key's credits as the rule saw them.
    pub fn credits(&self) -> Option<Credits> {
        self.credits
    }
}

/// Proof that the actor may act on one owner's limits (reading, or, when
/// it was asked for, changing them). Only [`Actor::owner_permit`] makes one.
#[derive(Debug)]
pub struct OwnerPermit<'a> {
    owner: &'a str,
}

impl OwnerPermit<'_> {
    /// The owner the rule was checked for.
    pub fn owner(&self) -> &str {
        self.owner
    }
}

/// Whether a refill rule gives no more than `outer`: none (or `never`),
/// or the same interval with no larger amount.
fn refills_within(inner: Option<Refill>, outer: Option<Refill>) -> bool {
    match (inner, outer) {
        (None, _) => true,
        (Some(i), _) if i.interval == Interval::Never => true,
        (Some(i), Some(o)) => i.interval == o.interval && i.amount <= o.amount,
        (Some(_), None) => false,
    }
}

/// Whether a key with allowlist `inner` works only where `outer` does.
fn ips_within(inner: &[IpRule], outer: &[IpRule]) -> bool {
    outer.is_empty()
        || (!inner.is_empty() && inner.iter().all(|r| outer.iter().any(|o| r.within(o))))
}

impl Actor {
    /// The actor for an API key holding `admin`, as its own authorization
    /// reported it.
    pub fn key(grant: &Grant) -> Actor {
        Actor::Key {
            id: grant.key_id.clone(),
            bounds: Box::new(Bounds::from(grant)),
        }
    }

    /// Who, for the audit trail: `admin_token` or the acting key's id.
    pub fn label(&self) -> String {
        match self {
            Actor::AdminToken => "admin_token".to_owned(),
            Actor::Key { id, .. } => id.to_string(),
        }
    }

    /// **The rule.** Whether a key with `target` bounds is within this
    /// actor: the admin token reaches every key; a key actor reaches a key
    /// that holds no `admin` and can do nothing the actor cannot.
    pub fn reach(&self, target: &Bounds) -> Result<(), OutOfReach> {
        let Actor::Key { bounds: own, .. } = self else {
            return Ok(());
        };
        if target.grants.is_admin() {
            return Err(OutOfReach::Admin);
        }
        target
            .grants
            .within(&own.grants)
            .map_err(OutOfReach::Grant)?;
        if target.environment != own.environment {
            return Err(OutOfReach::Environment);
        }
        // An admin key without an owner manages keys without one: "no
        // owner" is not "every owner", or it could mint keys that the origin
        // takes for any tenant's.
        if target.owner_id != own.owner_id {
            return Err(OutOfReach::Owner);
        }
        let limits = (target.rate_limits.per_minute <= own.rate_limits.per_minute)
            && (target.rate_limits.per_day <= own.rate_limits.per_day);
        if !limits {
            return Err(OutOfReach::Limits);
        }
        if own.window == WindowKind::Rolling && target.window != WindowKind::Rolling {
            return Err(OutOfReach::Window);
        }
        // Each of the actor's named limits, as tight: same name (routes
        // draw on limits by name), same window, no higher limit.
        let named = own.limits.iter().all(|l| {
            target.limits.iter().any(|t| {
                t.name == l.name && t.window_seconds == l.window_seconds && t.limit <= l.limit
            })
        });
        if !named {
            return Err(OutOfReach::NamedLimits);
        }
        if let Some(own_credits) = own.credits {
            let metered = target
                .credits
                .is_some_and(|c| refills_within(c.refill, own_credits.refill));
            if !metered {
                return Err(OutOfReach::Credits);
            }
        }
        if let Some(own_expiry) = own.expires_at {
            if target.expires_at.is_none_or(|t| t > own_expiry) {
                return Err(OutOfReach::Expiry);
            }
        }
        if !ips_within(&target.allowed_ips, &own.allowed_ips) {
            return Err(OutOfReach::Ips);
        }
        Ok(())
    }

    /// Lets this actor act on `target` (its current, authoritative record),
    /// or refuses with 403.
    pub fn permit<'a>(
        &'a self,
        target: &'a KeyRecord,
        credits: Option<Credits>,
    ) -> Result<Permit<'a>, Error> {
        self.reach(&Bounds::of_record(target, credits))
            .map_err(OutOfReach::on_target)?;
        Ok(Permit {
            actor: self,
            target,
            credits,
        })
    }

    /// **The owner rule.** Whether this actor may act on owner `owner`'s
    /// limits: the admin token on any owner; a key actor may only read, and
    /// only its own owner's (or any, if it is bound to no owner). Owner
    /// limits bind keys outside any key actor's reach, so changing or
    /// lifting them is the admin token's alone.
    pub fn owner_permit<'a>(
        &'a self,
        owner: &'a str,
        write: bool,
    ) -> Result<OwnerPermit<'a>, Error> {
        let allowed = match self {
            Actor::AdminToken => true,
            Actor::Key { bounds, .. } => {
                !write && bounds.owner_id.as_deref().is_none_or(|own| own == owner)
            }
        };
        if !allowed {
            return Err(Error::insufficient_permissions(
                None,
                if write {
                    "Only the admin token can change an owner's limits.".to_owned()
                } else {
                    "This owner is outside what the acting key may manage.".to_owned()
                },
            ));
        }
        Ok(OwnerPermit { owner })
    }

    /// **The deployment rule.** Lets the admin token read usage across
    /// every key and manage webhooks; refuses an admin key with 403.
    pub fn deployment_permit(&self) -> Result<DeploymentPermit, Error> {
        match self {
            Actor::AdminToken => Ok(DeploymentPermit(())),
            Actor::Key { .. } => Err(Error::insufficient_permissions(
                None,
                "Only the admin token can do this: it concerns every key.".to_owned(),
            )),
        }
    }

    /// Whether this actor may see `key` in a listing (the same rule).
    pub fn sees(&self, key: &KeyView) -> bool {
        self.reach(&Bounds::from(key)).is_ok()
    }

    /// Fills what a key actor's new key leaves out with the actor's own
    /// owner, expiry and IP allowlist, window kind and named limits, and
    /// caps limits the request did not set at the actor's (all unless a
    /// tier gives them). What the request did set is left for
    /// [`Actor::allows_new`] to judge.
    pub fn inherit(&self, record: &mut KeyRecord, given: &Given) {
        let Actor::Key { bounds: own, .. } = self else {
            return;
        };
        let tier = given.tier;
        if !tier && !given.window {
            record.window = own.window;
        }
        if !tier && !given.limits {
            record.limits = own.limits.clone();
        }
        if record.owner_id.is_none() {
            record.owner_id = own.owner_id.clone();
        }
        if record.expires_at.is_none() {
            record.expires_at = own.expires_at;
        }
        if record.allowed_ips.is_empty() {
            record.allowed_ips = own.allowed_ips.clone();
        }
        if !tier {
            let limits = &mut record.rate_limits;
            if given.rate_limits.per_minute.is_none() {
                limits.per_minute = limits.per_minute.min(own.rate_limits.per_minute);
            }
            if given.rate_limits.per_day.is_none() {
                limits.per_day = limits.per_day.min(own.rate_limits.per_day);
            }
        }
    }

    /// Checks a new key (and its credits) against this actor: 403 naming
    /// what it cannot give.
    pub fn allows_new(&self, record: &KeyRecord, credits: Option<Credits>) -> Result<(), Error> {
        self.reach(&Bounds::of_record(record, credits))
            .map_err(OutOfReach::on_result)?;
        self.allows_balance(credits)
    }

    /// A metered key actor's balance bounds the balance it may give.
    fn allows_balance(&self, credits: Option<Credits>) -> Result<(), Error> {
        let own = match self {
            Actor::Key { bounds, .. } => bounds.credits,
            Actor::AdminToken => None,
        };
        match (own, credits) {
            (Some(own), Some(c)) if c.remaining > own.remaining => {
                Err(OutOfReach::Credits.on_result())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::limits::RateLimits;
    use proptest::prelude::*;
    use std::num::NonZeroU32;

    fn bounds(json: &str) -> Bounds {
        let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
        let defaults = serde_json::json!({
            "grants": {"scopes": ["orders:read"]}, "environment": "live", "owner_id": null,
            "rate_limits": {"per_minute": 100, "per_day": 1000}, "expires_at": null, "allowed_ips": []
        });
        for (k, d) in defaults.as_object().unwrap() {
            if v.get(k).is_none() {
                v[k] = d.clone();
            }
        }
        serde_json::from_value(v).unwrap()
    }

    fn actor(json: &str) -> Actor {
        Actor::Key {
            id: KeyId::generate(crate::registry::shard::ShardCount::ONE).unwrap(),
            bounds: Box::new(bounds(json)),
        }
    }

    #[test]
    fn the_admin_token_reaches_everything() {
        let admin_key = bounds(r#"{"grants":{"scopes":["admin","*"]}}"#);
        assert_eq!(Actor::AdminToken.reach(&admin_key), Ok(()));
    }

    #[test]
    fn only_the_admin_token_acts_on_the_whole_deployment() {
        assert!(Actor::AdminToken.deployment_permit().is_ok());
        // Even an unbounded admin key: its reach is some keys, not all.
        let strongest = actor(r#"{"grants":{"scopes":["admin","*"]}}"#);
        let refused = strongest.deployment_permit().unwrap_err();
        assert_eq!(refused.status(), 403);
    }

    #[test]
    fn a_weak_admin_key_never_reaches_a_stronger_or_admin_key() {
        let weak = actor(r#"{"grants":{"scopes":["admin","orders:read"]}}"#);
        let cases = [
            (r#"{"grants":{"scopes":["admin","*"]}}"#, OutOfReach::Admin),
            (r#"{"grants":{"scopes":["admin"]}}"#, OutOfReach::Admin),
            (
                r#"{"grants":{"scopes":["orders:write"]}}"#,
                OutOfReach::Grant("orders:write".into()),
            ),
            (r#"{"environment":"test"}"#, OutOfReach::Environment),
            (r#"{"owner_id":"acme"}"#, OutOfReach::Owner),
            (
                r#"{"rate_limits":{"per_minute":101,"per_day":1000}}"#,
                OutOfReach::Limits,
            ),
        ];
        for (target, why) in cases {
            assert_eq!(weak.reach(&bounds(target)), Err(why), "{target}");
        }
        assert_eq!(weak.reach(&bounds("{}")), Ok(()));
    }

    #[test]
    fn owner_expiry_and_ips_bind_a_key_actor() {
        let tenant = actor(
            r#"{"grants":{"scopes":["admin","*"]},"owner_id":"acme","expires_at":"2033-01-01T00:00:00Z","allowed_ips":["10.0.0.0/8"]}"#,
        );
        let within = r#"{"owner_id":"acme","expires_at":"2032-01-01T00:00:00Z","allowed_ips":["10.1.0.0/16"]}"#;
        assert_eq!(tenant.reach(&bounds(within)), Ok(()));
        let cases = [
            (
                r#"{"owner_id":"globex","expires_at":"2032-01-01T00:00:00Z","allowed_ips":["10.1.0.0/16"]}"#,
                OutOfReach::Owner,
            ),
            (
                r#"{"expires_at":"2032-01-01T00:00:00Z","allowed_ips":["10.1.0.0/16"]}"#,
                OutOfReach::Owner,
            ),
            (
                r#"{"owner_id":"acme","allowed_ips":["10.1.0.0/16"]}"#,
                OutOfReach::Expiry,
            ),
            (
                r#"{"owner_id":"acme","expires_at":"2034-01-01T00:00:00Z","allowed_ips":["10.1.0.0/16"]}"#,
                OutOfReach::Expiry,
            ),
            (
                r#"{"owner_id":"acme","expires_at":"2032-01-01T00:00:00Z"}"#,
                OutOfReach::Ips,
            ),
            (
                r#"{"owner_id":"acme","expires_at":"2032-01-01T00:00:00Z","allowed_ips":["10.0.0.0/8","192.0.2.1"]}"#,
                OutOfReach::Ips,
            ),
        ];
        for (target, why) in cases {
            assert_eq!(tenant.reach(&bounds(target)), Err(why), "{target}");
        }
    }

    // Random actors and targets over small vocabularies, so that "within"
    // and "not within" both occur often.
    fn scope() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "admin",
            "*",
            "orders:read",
            "orders:write",
            "orders:*",
            "read:*",
            "*:read",
        ])
        .prop_map(str::to_owned)
    }

    fn bounds_strategy() -> impl Strategy<Value = Bounds> {
        (
            prop::collection::vec(scope(), 1..4),
            prop::sample::select(vec!["live", "test"]),
            prop::option::of(prop::sample::select(vec!["acme", "globex"])),
            (1u32..4, 1u32..4),
            prop::option::of(1u64..4),
            prop::collection::vec(
                prop::sample::select(vec!["10.0.0.0/8", "10.1.0.0/16", "192.0.2.1"]),
                0..3,
            ),
        )
            .prop_map(|(scopes, env, owner, (m, d), exp, ips)| {
                bounds(
                    &serde_json::json!({
                        "grants": {"scopes": scopes},
                        "environment": env,
                        "owner_id": owner,
                        "rate_limits": {"per_minute": m, "per_day": d},
                        "expires_at": exp.map(|d| format!("2030-01-0{d}T00:00:00Z")),
                        "allowed_ips": ips,
                    })
                    .to_string(),
                )
            })
    }

    /// Whether a key with `t` can do anything a key with `a` cannot,
    /// judged by sampling what each could do: the rule, restated.
    fn can_exceed(a: &Bounds, t: &Bounds) -> bool {
        use crate::policy::permission::Permission;
        let needs = [
            "admin",
            "orders:read",
            "orders:write",
            "orders:delete",
            "orders:read:x",
            "read:x",
            "read:x:y",
            "x:read",
            "a:b:c",
        ];
        let covers = |b: &Bounds, n: &str| b.grants.covers(&Permission::parse(n).unwrap());
        let ip_ok =
            |b: &Bounds, ip: &str| crate::policy::ip::allows(&b.allowed_ips, ip.parse().ok());
        t.grants.is_admin()
            || needs.iter().any(|n| covers(t, n) && !covers(a, n))
            || t.environment != a.environment
            || t.owner_id != a.owner_id
            || t.rate_limits.per_minute > a.rate_limits.per_minute
            || t.rate_limits.per_day > a.rate_limits.per_day
            || a.expires_at
                .is_some_and(|e| t.expires_at.is_none_or(|x| x > e))
            || ["10.2.3.4", "10.1.2.3", "192.0.2.1", "203.0.113.9"]
                .iter()
                .any(|ip| ip_ok(t, ip) && !ip_ok(a, ip))
    }

    proptest! {
        /// Every admin action goes through `reach`: it is permitted iff the
        /// target can do nothing the actor cannot (and never holds admin).
        #[test]
        fn fuzz_actions_are_permitted_iff_the_target_is_within(a in bounds_strategy(), t in bounds_strategy()) {
            let actor = Actor::Key { id: KeyId::generate(crate::registry::shard::ShardCount::ONE).unwrap(), bounds: Box::new(a.clone()) };
            prop_assert_eq!(actor.reach(&t).is_ok(), !can_exceed(&a, &t), "{:?} on {:?}", a, t);
        }
    }

    /// What `a` issues for the create body `json`.
    fn issue_as(a: &Actor, json: &str) -> Result<KeyRecord, Error> {
        let envs = vec!["live".parse().unwrap()];
        let ctx = crate::lifecycle::request::IssueContext {
            environments: &envs,
            default_limits: RateLimits::DEFAULT,
            now: Timestamp::from_secs(1_800_000_000),
            actor: a,
            tiers: &Default::default(),
            shards: crate::registry::shard::ShardCount::ONE,
        };
        let new: crate::lifecycle::request::NewKey = serde_json::from_str(json).unwrap();
        new.issue(&ctx).map(|(record, _)| record)
    }

    #[test]
    fn limits_are_capped_when_the_request_sets_none() {
        let a = actor(r#"{"rate_limits":{"per_minute":5,"per_day":50},"owner_id":"acme"}"#);
        let record = issue_as(
            &a,
            r#"{"name":"n","environment":"live","type":"restricted","scopes":["orders:read"]}"#,
        )
        .unwrap();
        assert_eq!(record.rate_limits.per_minute, NonZeroU32::new(5).unwrap());
        assert_eq!(record.rate_limits.per_day, NonZeroU32::new(50).unwrap());
        assert_eq!(record.owner_id.as_deref(), Some("acme"));
    }

    #[test]
    fn rolling_windows_named_limits_and_credits_bind_a_key_actor() {
        let a = actor(
            r#"{"window":"rolling","limits":[{"name":"search","limit":10,"window_seconds":60}],
                "credits":{"remaining":100,"refill":{"amount":100,"interval":"daily"}}}"#,
        );
        let within = r#"{"window":"rolling","limits":[{"name":"search","limit":10,"window_seconds":60}],
            "credits":{"remaining":5,"refill":{"amount":50,"interval":"daily"}}}"#;
        assert_eq!(a.reach(&bounds(within)), Ok(()));
        let with = |field: &str, value: serde_json::Value| {
            let mut v: serde_json::Value = serde_json::from_str(within).unwrap();
            v[field] = value;
            bounds(&v.to_string())
        };
        let refill = |amount: u64, interval: &str| serde_json::json!({"remaining": 1, "refill": {"amount": amount, "interval": interval}});
        for (target, why) in [
            (with("window", "fixed".into()), OutOfReach::Window),
            (
                with("limits", serde_json::json!([])),
                OutOfReach::NamedLimits,
            ),
            (
                with(
                    "limits",
                    serde_json::json!([{"name": "search", "limit": 11, "window_seconds": 60}]),
                ),
                OutOfReach::NamedLimits,
            ),
            (
                with(
                    "limits",
                    serde_json::json!([{"name": "search", "limit": 5, "window_seconds": 30}]),
                ),
                OutOfReach::NamedLimits,
            ),
            (
                with(
                    "limits",
                    serde_json::json!([{"name": "other", "limit": 1, "window_seconds": 60}]),
                ),
                OutOfReach::NamedLimits,
            ),
            (
                with("credits", serde_json::Value::Null),
                OutOfReach::Credits,
            ),
            (with("credits", refill(101, "daily")), OutOfReach::Credits),
            (with("credits", refill(1, "monthly")), OutOfReach::Credits),
        ] {
            assert_eq!(a.reach(&target), Err(why), "{target:?}");
        }
        // Never refilling is within any refill.
        assert_eq!(a.reach(&with("credits", refill(1_000, "never"))), Ok(()));
        // A new key's balance is bounded by the actor's.
        let record = || {
            crate::keystate::testing::issued(
                r#"{"name":"t","environment":"live"}"#,
                Timestamp::from_secs(1_800_000_000),
            )
            .0
            .record
            .unwrap()
        };
        let mut r = record();
        r.window = WindowKind::Rolling;
        r.limits =
            serde_json::from_str(r#"[{"name":"search","limit":10,"window_seconds":60}]"#).unwrap();
        r.grants = serde_json::from_str(r#"{"scopes":["orders:read"]}"#).unwrap();
        r.rate_limits = serde_json::from_str(r#"{"per_minute":100,"per_day":1000}"#).unwrap();
        let credits = |remaining| {
            Some(Credits {
                remaining,
                refill: None,
            })
        };
        assert_eq!(a.allows_new(&r, credits(100)), Ok(()));
        assert!(matches!(
            a.allows_new(&r, credits(101)),
            Err(e) if e.kind() == ErrorKind::InsufficientPermissions
        ));
    }

    #[test]
    fn a_key_actors_new_key_inherits_its_window_and_named_limits() {
        let a = actor(
            r#"{"window":"rolling","limits":[{"name":"search","limit":10,"window_seconds":60}]}"#,
        );
        let base =
            r#""name":"n","environment":"live","type":"restricted","scopes":["orders:read"]"#;
        let record = issue_as(&a, &format!("{{{base}}}")).unwrap();
        assert_eq!(record.window, WindowKind::Rolling);
        assert_eq!(record.limits.len(), 1);
        // Set explicitly, it must fit.
        assert!(matches!(
            issue_as(&a, &format!(r#"{{{base},"window":"fixed"}}"#)),
            Err(e) if e.kind() == ErrorKind::InsufficientPermissions
        ));
    }
}
