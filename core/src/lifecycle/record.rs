//! `KeyRecord`: everything keygate knows about a key, as its Durable Object
//! stores it, and the rules every stored record obeys; `KeyView`, the only
//! shape in which a record leaves the Worker (no secret, no hash); and the
//! KV entry that points a hash at its key.

use serde::{Deserialize, Serialize};

use crate::admission::Admission;
use crate::error::Error;
use crate::hash::{KeyHash, SecretFingerprint};
use crate::key::{ApiKey, Environment, KeyId, KeyType};
use crate::limits::credits::Credits;
use crate::limits::{self, LimitSet, NamedLimit, RateLimits, WindowKind};
use crate::policy::cors::WebOrigin;
use crate::policy::ip::IpRule;
use crate::policy::permission::{Grants, Hierarchy, Scope};
use crate::time::Timestamp;

/// Longest accepted key name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest accepted description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1_000;
/// Largest `metadata` object, serialized, in bytes.
pub const MAX_METADATA_BYTES: usize = 4_096;
/// Longest `owner_id`.
pub const MAX_OWNER_ID_CHARS: usize = 128;
/// How long a rotated-out secret keeps working by default: 24 hours.
pub const DEFAULT_ROTATION_GRACE_SECS: u64 = 86_400;

/// Free-form JSON object attached to a key (size-capped).
pub type Metadata = serde_json::Map<String, serde_json::Value>;

/// One secret that opens a key. A key has one, or two during a rotation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// SHA-256 of the secret: what KV maps to the key id.
    pub hash: KeyHash,
    /// `sk_live_abc1…xyz9`, safe to list.
    pub display: String,
    /// Set on a rotated-out secret: it stops working at this time.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

impl Secret {
    /// The secret entry for a freshly minted key.
    pub fn of(key: &ApiKey) -> Secret {
        Secret {
            hash: KeyHash::of(key),
            display: key.display(),
            expires_at: None,
        }
    }
}

/// A rotated-out secret as listings report it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousSecret {
    /// Its redacted form.
    pub display: String,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// What a key's Durable Object stores about it: the authoritative copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Stable id; names the Durable Object.
    pub id: KeyId,
    /// Human name, e.g. the customer or integration.
    pub name: String,
    /// Free text for operators.
    pub description: Option<String>,
    /// Where the key works; picks the origin.
    pub environment: Environment,
    /// Secret, restricted or publishable.
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// This key's limits (defaults filled in at creation).
    pub rate_limits: RateLimits,
    /// Whether its windows of an hour or less roll.
    #[serde(default)]
    pub window: WindowKind,
    /// Its named limits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<NamedLimit>,
    /// The tier the limits came from, if any.
    #[serde(default)]
    pub tier: Option<String>,
    /// The customer or tenant this key belongs to.
    #[serde(default)]
    pub owner_id: Option<String>,
    /// Free-form JSON for the owner's own use.
    #[serde(default)]
    pub metadata: Option<Metadata>,
    /// Scopes and hierarchical permissions, as given (empty: the type's default).
    pub grants: Grants,
    /// Client IPs and ranges the key works from (empty: anywhere).
    #[serde(default)]
    pub allowed_ips: Vec<IpRule>,
    /// Browser origins that may read responses (CORS).
    #[serde(default)]
    pub allowed_origins: Vec<WebOrigin>,
    /// When the key was issued.
    pub created_at: Timestamp,
    /// After this the key answers `key_expired`.
    pub expires_at: Option<Timestamp>,
    /// Set once, never cleared: revocation is irreversible.
    pub revoked_at: Option<Timestamp>,
    /// Why it was revoked, when not by hand (e.g. where it leaked).
    #[serde(default)]
    pub revoked_reason: Option<String>,
    /// The secrets that open this key.
    pub secrets: Vec<Secret>,
    /// Whether the key may be leased (see [`crate::admission`]).
    #[serde(default)]
    pub admission: Admission,
    /// Bumped by every edit, rotation and revocation: a lease lent under an
    /// older version is not renewed and its return is not credited.
    #[serde(default)]
    pub version: u64,
}

/// What KV stores under a key's hash: just enough to find the key's
/// Durable Object, or to refuse a revoked key without calling it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntry {
    /// The key the hash belongs to.
    pub id: KeyId,
    /// Set when the key is revoked. The Durable Object is authoritative;
    /// this only spares it the traffic of a dead key once KV has caught up.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoked: bool,
    /// A revoked browser key's origins, so that its 401 stays readable by
    /// the pages it served (see [`crate::policy::cors`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<WebOrigin>,
}

impl KvEntry {
    /// The entry of a usable key.
    pub fn active(id: &KeyId) -> Self {
        KvEntry {
            id: id.clone(),
            revoked: false,
            allowed_origins: Vec::new(),
        }
    }

    /// The entry of a revoked key.
    pub fn revoked(key: &KeyView) -> Self {
        KvEntry {
            id: key.id.clone(),
            revoked: true,
            allowed_origins: key.allowed_origins.clone(),
        }
    }
}

/// A key's lifecycle state at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Usable.
    Active,
    /// Past `expires_at`.
    Expired,
    /// Revoked by an admin.
    Revoked,
}

impl KeyRecord {
    /// The key's status at `now`; revocation wins over expiry.
    pub fn status(&self, now: Timestamp) -> Status {
        if self.revoked_at.is_some() {
            Status::Revoked
        } else if self.expires_at.is_some_and(|t| now >= t) {
            Status::Expired
        } else {
            Status::Active
        }
    }

    /// Whether `hash` is one of this key's secrets and, if it was rotated
    /// out, still inside its overlap window at `now`.
    pub fn opens_with(&self, hash: &KeyHash, now: Timestamp) -> bool {
        self.live_secrets(now).any(|s| &s.hash == hash)
    }

    /// Whether a dashboard session opened with the secret `fingerprint`
    /// names may still act: that secret is still live at `now`.
    pub fn resumes(&self, fingerprint: &SecretFingerprint, now: Timestamp) -> bool {
        self.live_secrets(now)
            .any(|s| &s.hash.fingerprint() == fingerprint)
    }

    fn live_secrets(&self, now: Timestamp) -> impl Iterator<Item = &Secret> {
        self.secrets
            .iter()
            .filter(move |s| s.expires_at.is_none_or(|t| now < t))
    }

    /// Starts a rotation: `new` becomes the current secret; every older one
    /// keeps working until `now + grace_secs` (or its own earlier deadline),
    /// and those already past it are dropped.
    pub fn rotate(&mut self, new: Secret, grace_secs: u64, now: Timestamp) {
        let deadline = now.plus_millis(grace_secs.saturating_mul(1_000));
        for s in &mut self.secrets {
            s.expires_at = Some(s.expires_at.map_or(deadline, |t| t.min(deadline)));
        }
        self.secrets
            .retain(|s| s.expires_at.is_some_and(|t| now < t));
        self.secrets.push(new);
    }

    /// The public view of this record, with its last use and credits (which
    /// its object keeps apart from the record).
    pub fn view(
        &self,
        last_used: Option<Timestamp>,
        credits: Option<Credits>,
        now: Timestamp,
    ) -> KeyView {
        KeyView {
            id: self.id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            environment: self.environment.clone(),
            key_type: self.key_type,
            display: self
                .secrets
                .last()
                .map(|s| s.display.clone())
                .unwrap_or_default(),
            rate_limits: self.rate_limits,
            window: self.window,
            limits: self.limits.clone(),
            credits,
            tier: self.tier.clone(),
            owner_id: self.owner_id.clone(),
            metadata: self.metadata.clone(),
            previous_secrets: self
                .secrets
                .iter()
                .filter_map(|s| {
                    let expires_at = s.expires_at.filter(|t| now < *t)?;
                    Some(PreviousSecret {
                        display: s.display.clone(),
                        expires_at,
                    })
                })
                .collect(),
            scopes: self.grants.scopes.clone(),
            permissions: self.grants.permissions.clone(),
            allowed_ips: self.allowed_ips.clone(),
            allowed_origins: self.allowed_origins.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used,
            status: self.status(now),
            revoked_at: self.revoked_at,
            revoked_reason: self.revoked_reason.clone(),
            admission: self.admission,
            requests_today: None,
            usage: None,
        }
    }
}

/// A key as the admin API shows it. Has no field that could hold a secret
/// or a hash, so no code path can leak one through it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyView {
    /// Stable id.
    pub id: KeyId,
    /// Human name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Where the key works.
    pub environment: Environment,
    /// Secret, restricted or publishable.
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// Recognisable redacted form, e.g. `sk_live_abc1…xyz9`.
    pub display: String,
    /// Limits in force.
    pub rate_limits: RateLimits,
    /// `fixed` or `rolling` windows (for windows of an hour or less).
    #[serde(default)]
    pub window: WindowKind,
    /// Named limits.
    #[serde(default)]
    pub limits: Vec<NamedLimit>,
    /// Credits and their refill rule, if the key has them (in listings, as
    /// of the last admin change).
    #[serde(default)]
    pub credits: Option<Credits>,
    /// Tier the limits came from.
    pub tier: Option<String>,
    /// Owner (customer/tenant).
    pub owner_id: Option<String>,
    /// Owner's free-form JSON.
    pub metadata: Option<Metadata>,
    /// Rotated-out secrets still working, and until when.
    pub previous_secrets: Vec<PreviousSecret>,
    /// Flat scopes as given.
    pub scopes: Vec<Scope>,
    /// Hierarchical permissions as given.
    pub permissions: Hierarchy,
    /// IP allowlist as given.
    pub allowed_ips: Vec<IpRule>,
    /// CORS origins as given.
    pub allowed_origins: Vec<WebOrigin>,
    /// Issued at.
    pub created_at: Timestamp,
    /// Expires at, if ever.
    pub expires_at: Option<Timestamp>,
    /// Last admitted request (fresh to the request).
    pub last_used: Option<Timestamp>,
    /// Active, expired or revoked.
    pub status: Status,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// Why, when it was not revoked by hand.
    pub revoked_reason: Option<String>,
    /// `leased` (hot keys may be admitted at the edge) or `exact`.
    #[serde(default)]
    pub admission: Admission,
    /// Requests today (UTC), as of the key's last minute reported
    /// (listings only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_today: Option<u64>,
    /// Every limit's state now (`GET /v1/keys/{id}` only; listings are
    /// views stored at the last change, and leave it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<serde_json::Value>,
}

impl KeyView {
    /// Brings a stored view up to `now`: status (expiry passes by itself)
    /// and the last use reported since it was written.
    pub fn refresh(&mut self, last_used: Option<Timestamp>, now: Timestamp) {
        self.last_used = last_used.max(self.last_used);
        self.status = if self.revoked_at.is_some() {
            Status::Revoked
        } else if self.expires_at.is_some_and(|t| now >= t) {
            Status::Expired
        } else {
            Status::Active
        };
        self.previous_secrets.retain(|p| now < p.expires_at);
    }
}

impl KeyRecord {
    /// The rules every stored record obeys, checked on create and on edit.
    pub fn validate(&self, now: Timestamp) -> Result<(), Error> {
        if self.name.is_empty() || self.name.chars().count() > MAX_NAME_CHARS {
            return Err(Error::invalid(
                "name",
                format!("must be 1-{MAX_NAME_CHARS} characters"),
            ));
        }
        if self
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS)
        {
            return Err(Error::invalid(
                "description",
                format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
        if self.expires_at.is_some_and(|t| t <= now) {
            return Err(Error::invalid("expires_at", "must be in the future"));
        }
        if let Some(owner) = &self.owner_id {
            check_owner_id(owner)?;
        }
        if let Some(metadata) = &self.metadata {
            if serde_json::to_vec(metadata).map_or(true, |v| v.len() > MAX_METADATA_BYTES) {
                return Err(Error::invalid(
                    "metadata",
                    format!("must be a JSON object of at most {MAX_METADATA_BYTES} bytes"),
                ));
            }
        }
        limits::named::validate(&self.limits, "limits")?;
        self.grants.validate_for(self.key_type)?;
        Ok(())
    }

    /// Everything that limits this key.
    pub fn limit_set(&self) -> LimitSet<'_> {
        LimitSet {
            rate_limits: Some(self.rate_limits),
            window: self.window,
            named: &self.limits,
        }
    }
}

/// Refuses an `owner_id` (in a key or in an owner route's path) that is
/// not 1-128 printable ASCII characters without spaces.
pub fn check_owner_id(owner: &str) -> Result<(), Error> {
    let ok = !owner.is_empty()
        && owner.chars().count() <= MAX_OWNER_ID_CHARS
        && owner.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "owner_id",
            format!("must be 1-{MAX_OWNER_ID_CHARS} printable ASCII characters without spaces"),
        ))
    }
}

/// Reads a stored record that no longer decodes (written by an older
/// version, or damaged) as well as it can, by setting optional fields to
/// `null` — each alone first, then cumulatively — until it decodes. The
/// result is only good for one thing: revoking the key, which must never
/// depend on reading optional fields; the key's object refuses everything
/// else on it.
pub fn salvage(stored: &str) -> Option<KeyRecord> {
    let value: serde_json::Value = serde_json::from_str(stored).ok()?;
    let secrets = value["secrets"].as_array().map_or(0, Vec::len);
    let mut optional: Vec<String> = [
        "expires_at",
        "revoked_at",
        "revoked_reason",
        "description",
        "tier",
        "owner_id",
        "metadata",
        "allowed_ips",
        "allowed_origins",
    ]
    .iter()
    .map(|f| format!("/{f}"))
    .collect();
    optional.extend((0..secrets).map(|i| format!("/secrets/{i}/expires_at")));
    let decode = |v: &serde_json::Value| serde_json::from_str::<KeyRecord>(&v.to_string()).ok();
    let cleared = |v: &mut serde_json::Value, at: &str| {
        if let Some(slot) = v.pointer_mut(at) {
            *slot = if slot.is_array() {
                serde_json::Value::Array(Vec::new())
            } else {
                serde_json::Value::Null
            };
        }
    };
    for at in &optional {
        let mut one = value.clone();
        cleared(&mut one, at);
        if let Some(record) = decode(&one) {
            return Some(record);
        }
    }
    let mut all = value;
    for at in &optional {
        cleared(&mut all, at);
        if let Some(record) = decode(&all) {
            return Some(record);
        }
    }
    None
}
