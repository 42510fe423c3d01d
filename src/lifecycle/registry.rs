//! The registry: one strongly consistent (SQLite Durable Object) index of
//! every key, for listing, lookup by hash, and the audit trail. KV is the
//! fast edge read path and each key's own Durable Object is authoritative
//! for requests; the registry is what admins list and search.
//!
//! Write order, and how each failure recovers:
//!
//! - issue: registry `Insert` (hidden, `pending`) → key object `Create` →
//!   KV → registry `Confirm`. A crash anywhere before `Confirm` leaves a
//!   pending row that listings hide, and no secret was returned, so no
//!   half-issued key is ever usable or visible.
//! - edit, rotate, revoke: key object first (authoritative: a success
//!   reported to the caller is already enforced), then KV, then registry
//!   `Update`. A crash after the key object leaves the registry stale until
//!   the admin retries (each of these is safe to repeat); it never leaves a
//!   revoked key usable.

use serde::{Deserialize, Serialize};

use crate::analytics::overall::UsageReport;
use crate::analytics::UsageQuery;
use crate::hash::KeyHash;
use crate::key::KeyId;
use crate::lifecycle::list::ListQuery;
use crate::lifecycle::record::KeyView;
use crate::policy::actor::{Actor, OverallPermit};
use crate::time::Timestamp;

/// How long audit entries are kept.
pub const AUDIT_RETENTION_MS: u64 = 30 * 86_400_000;

/// A request to the registry object.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryCommand {
    /// Record a key being issued; hidden until `Confirm`.
    Insert {
        /// The new key's view.
        key: KeyView,
        /// Its secrets' hashes.
        hashes: Vec<KeyHash>,
        /// Who issued it.
        actor: String,
    },
    /// The key is fully issued: show it.
    Confirm {
        /// The key.
        id: KeyId,
    },
    /// Replace a key's view after an edit, rotation or revocation.
    Update {
        /// The new view.
        key: KeyView,
        /// Hashes to add (a rotation's new secret).
        hashes: Vec<KeyHash>,
        /// What happened, for the audit trail.
        action: String,
        /// Who did it.
        actor: String,
        /// Extra audit detail (e.g. where a key leaked).
        detail: Option<String>,
    },
    /// What keys and isolates report off the request path: a key's latest
    /// use (at most once a minute per key) and counts for the overall usage
    /// (see [`crate::analytics::overall`]).
    Report {
        /// A key, and its latest admitted request.
        touch: Option<(KeyId, Timestamp)>,
        /// Counts to add to the overall usage.
        usage: UsageReport,
    },
    /// The usage series across every key (`GET /v1/usage`).
    Usage {
        /// Granularity and range.
        query: UsageQuery,
        /// Only the admin token reads it.
        permit: OverallPermit,
    },
    /// One page of keys, newest first: of those `actor` may see.
    List {
        /// Filters and page.
        query: ListQuery,
        /// Who lists: a key actor sees only keys within it.
        actor: Actor,
    },
    /// Which key a hash opens, if any.
    FindByHash {
        /// The hash.
        hash: KeyHash,
    },
    /// A key's audit trail, newest first.
    Audit {
        /// The key.
        id: KeyId,
    },
}

/// One admin action on a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When.
    pub at: Timestamp,
    /// Who: `admin_token` or the acting key's id.
    pub actor: String,
    /// What: `create`, `edit`, `rotate`, `revoke`, `revoke_leaked`.
    pub action: String,
    /// Details, e.g. where a key leaked.
    pub detail: Option<String>,
}

/// Paging facts for a list response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageMeta {
    /// Keys matching the filters.
    pub total: u64,
    /// This page.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}

/// The registry's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryReply {
    /// Written.
    Done,
    /// A page of keys.
    Page {
        /// The keys.
        data: Vec<KeyView>,
        /// Paging.
        meta: PageMeta,
    },
    /// The key a hash belongs to.
    Found {
        /// `None`: no key has this secret.
        id: Option<KeyId>,
    },
    /// A key's audit trail.
    Trail {
        /// Entries, newest first.
        entries: Vec<AuditEntry>,
    },
    /// The overall usage series.
    Usage {
        /// As the API shows it.
        usage: serde_json::Value,
    },
}
