//! The protocol between the Worker and a key's Durable Object: the
//! commands it sends, the facts of a request, and the answers. (Internal
//! protocol types use serde's default, externally tagged form: internally
//! tagged enums buffer every value and cost tens of KiB of wasm.)

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::admission::lease::{Lease, LeaseAsk, LeaseReturn};
use crate::analytics::{Outcome, Stored, UsageQuery};
use crate::error::Error;
use crate::hash::{KeyHash, SecretFingerprint};
use crate::key::{Environment, KeyId, KeyType};
use crate::lifecycle::record::{KeyRecord, KeyView, Metadata, Secret};
use crate::limits::credits::{CreditOp, Credits};
use crate::limits::{Charge, NamedLimit, Quota, RateLimits, Tiers, WindowKind};
use crate::policy::actor::Actor;
use crate::policy::cors::WebOrigin;
use crate::policy::ip::IpRule;
use crate::policy::permission::Grants;
use crate::policy::route::Requirement;
use crate::time::Timestamp;

/// What the Worker knows about a request, for the key's rules to judge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// What the route table says the request needs, or why it refuses it.
    /// A refusal is reported only after the key itself checks out, so an
    /// unauthenticated caller learns nothing about the route table.
    pub requirement: Result<Requirement, Error>,
    /// Whether the method only reads (`GET`, `HEAD`, `OPTIONS`).
    pub read_only: bool,
    /// The client address (`CF-Connecting-IP`), if known.
    pub client_ip: Option<IpAddr>,
    /// Count the request if admitted (`false` only describes the key).
    pub consume: bool,
    /// The client's country (`request.cf.country`), for usage analytics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl Access {
    /// The units this request costs (1 where the route table refused it).
    pub fn cost(&self) -> u32 {
        self.charge().cost
    }

    /// What this request spends in each limit (see [`Charge`]).
    pub fn charge(&self) -> Charge<'_> {
        self.requirement
            .as_ref()
            .map_or(Charge::flat(1), Requirement::charge)
    }
}

/// A request from the Worker to a key's Durable Object.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Store a freshly issued record. Refused if the object already has one.
    Create {
        /// The new key's record.
        record: KeyRecord,
        /// Its credits, if it is metered (kept apart from the record).
        #[serde(default)]
        credits: Option<Credits>,
    },
    /// Decide on a request presenting `hash`, consuming the route's cost
    /// if and only if it is admitted and `access.consume` is set.
    Authorize {
        /// Hash of the presented key.
        hash: KeyHash,
        /// The request's facts.
        access: Access,
        /// The admin API's `POST /v1/verify` asks on behalf of this actor,
        /// which must reach the key (see [`crate::policy::actor`]).
        verifier: Option<Actor>,
        /// The record version the Worker already holds: the reply leaves
        /// the record out when it is still current.
        known: Option<u64>,
        /// The Worker would take a lease (see [`crate::admission`]).
        lease: Option<LeaseAsk>,
    },
    /// Decide on an admin request of this key's dashboard session, as
    /// [`Command::Authorize`] would for its secret: the Worker identified
    /// the key by the session's signature (see
    /// [`crate::admin::session`]), so no secret is presented; everything
    /// else is judged — the secret it was opened with still live, revoked,
    /// expired, IP, `admin` — and counted.
    Resume {
        /// The request's facts.
        access: Access,
        /// The fingerprint of the secret the session was opened with.
        secret: SecretFingerprint,
    },
    /// Something became of a request after it was admitted (the origin
    /// failed it): counted in the key's usage.
    Report {
        /// What.
        outcome: Outcome,
    },
    /// Units of an ended lease, handed back.
    Return {
        /// What is handed back.
        returned: LeaseReturn,
    },
    /// An admin action on this key. It runs only with a
    /// [`crate::policy::actor::Permit`]: after the actor's reach was
    /// checked against the current record.
    Admin {
        /// Who acts.
        actor: Actor,
        /// What to do.
        action: KeyAction,
    },
}

/// What an admin route does to one existing key.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyAction {
    /// Read the record (read, audit).
    Get,
    /// Edit the record; effective for the next request.
    Update {
        /// The edit as the client sent it (JSON). The object decodes it,
        /// so the bundle carries one `KeyPatch` decoder, not two.
        patch: String,
        /// Configured tiers, to resolve a new `tier`: filled in by the key's
        /// object from its own configuration, never sent.
        #[serde(skip)]
        tiers: Tiers,
    },
    /// Add `secret` as the current secret; older ones keep working for
    /// `grace_secs`. Same key id, permissions and counters.
    Rotate {
        /// The new secret (its hash; the plaintext never leaves the Worker).
        secret: Secret,
        /// Overlap for the previous secret(s), in seconds.
        grace_secs: u64,
    },
    /// Revoke the key. Idempotent: revoking a revoked key changes nothing.
    Revoke {
        /// Why, when not by hand (e.g. where it leaked).
        reason: Option<String>,
    },
    /// Change the key's credit balance. With an idempotency key, a retried
    /// call applies once and answers as the first did.
    Credits {
        /// Set, increment or decrement.
        op: CreditOp,
        /// By how much.
        amount: u64,
        /// The client's `Idempotency-Key`, if it sent one.
        idempotency_key: Option<String>,
    },
    /// The key's usage series (see [`crate::analytics`]).
    Usage {
        /// Which buckets.
        query: UsageQuery,
        /// The stored buckets the query reaches: read by the key's object
        /// from its tables, never sent.
        #[serde(skip)]
        stored: Stored,
    },
}

/// A successful answer from a key's Durable Object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The key's public view.
    Key {
        /// The view.
        key: KeyView,
    },
    /// The request is admitted (or, when it does not consume, would be).
    Granted {
        /// Every limit's state after this request (and the lease, if any).
        quotas: Vec<Quota>,
        /// The credits after this request, if the key has them.
        #[serde(default)]
        credits: Option<Credits>,
        /// Its owner's credits after this request, if the owner has them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner_credits: Option<Credits>,
        /// The record's version.
        version: u64,
        /// The record, unless the Worker said it holds this version.
        record: Option<Box<KeyRecord>>,
        /// Units lent to the asking isolate.
        lease: Option<Lease>,
    },
    /// A request refused for a key with `allowed_origins`: the Worker
    /// answers `error` with that key's CORS headers, so a listed browser
    /// page can read why (and when to retry).
    Refused {
        /// Why.
        error: Error,
        /// The key's browser origins.
        allowed_origins: Vec<WebOrigin>,
        /// The key's owner, for the Worker's count of the refusal.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
    },
    /// A lease return was taken.
    Returned,
    /// The key's usage series (see [`crate::analytics::series`]).
    Usage {
        /// The series, as the API shows it.
        usage: serde_json::Value,
    },
    /// A credit change retried under its `Idempotency-Key`: the key as the
    /// first call left it; nothing changed.
    Replayed {
        /// The view the first call answered with.
        key: KeyView,
    },
    /// The key is revoked; the Worker removes `hashes` from KV.
    Revoked {
        /// The revoked key's view.
        key: KeyView,
        /// Its secrets' hashes, to delete from the edge read path.
        hashes: Vec<KeyHash>,
    },
}

impl Reply {
    /// The reply's name, for logs (which never get its contents).
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Key { .. } => "key",
            Reply::Granted { .. } => "granted",
            Reply::Refused { .. } => "refused",
            Reply::Returned => "returned",
            Reply::Usage { .. } => "usage",
            Reply::Replayed { .. } => "replayed",
            Reply::Revoked { .. } => "revoked",
        }
    }
}

/// What an admitted request is allowed, as the proxy and `whoami` need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The key's id.
    pub key_id: KeyId,
    /// The key's name.
    pub name: String,
    /// The key's environment.
    pub environment: Environment,
    /// The key's type.
    pub key_type: KeyType,
    /// The key's limits.
    pub rate_limits: RateLimits,
    /// Fixed or rolling windows.
    pub window: WindowKind,
    /// The key's named limits.
    pub limits: Vec<NamedLimit>,
    /// Its credits after this request, if it has them.
    pub credits: Option<Credits>,
    /// Its owner's credits after this request, if the owner has them.
    pub owner_credits: Option<Credits>,
    /// Every limit's state after this request (its owner's included).
    pub quotas: Vec<Quota>,
    /// When the key expires, if ever.
    pub expires_at: Option<Timestamp>,
    /// Scopes and permissions as given (empty: the type's default).
    pub grants: Grants,
    /// Browser origins that may read responses.
    pub allowed_origins: Vec<WebOrigin>,
    /// Where the key works from (bounds what an admin key may grant).
    pub allowed_ips: Vec<IpRule>,
    /// The key's owner, forwarded to the origin.
    pub owner_id: Option<String>,
    /// The owner's free-form JSON.
    pub metadata: Option<Metadata>,
}

impl Grant {
    /// What `record` allows a request admitted with `quotas` (and
    /// `credits`) left.
    pub fn new(record: &KeyRecord, quotas: Vec<Quota>, credits: Option<Credits>) -> Grant {
        Grant {
            key_id: record.id.clone(),
            name: record.name.clone(),
            environment: record.environment.clone(),
            key_type: record.key_type,
            rate_limits: record.rate_limits,
            window: record.window,
            limits: record.limits.clone(),
            credits,
            owner_credits: None,
            quotas,
            expires_at: record.expires_at,
            grants: record.grants.clone(),
            allowed_origins: record.allowed_origins.clone(),
            allowed_ips: record.allowed_ips.clone(),
            owner_id: record.owner_id.clone(),
            metadata: record.metadata.clone(),
        }
    }

    /// The limit that binds first, for `X-RateLimit-*` and `RateLimit`.
    pub fn quota(&self) -> Quota {
        self.quota_for(&Charge::flat(1))
    }

    /// The limit that binds first among those `charge` draws on: a route
    /// that does not draw on a spent named limit is not told about it.
    pub fn quota_for(&self, charge: &Charge<'_>) -> Quota {
        let drawn = self
            .quotas
            .iter()
            .filter(|q| charge.in_limit(q.policy).is_some());
        crate::limits::binding(drawn).expect("every key has a minute and a day limit")
    }
}
