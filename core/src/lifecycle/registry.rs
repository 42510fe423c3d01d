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
use crate::error::Error;
use crate::hash::KeyHash;
use crate::key::KeyId;
use crate::lifecycle::list::ListQuery;
use crate::lifecycle::record::KeyView;
use crate::policy::actor::{Actor, DeploymentPermit};
use crate::time::Timestamp;
use crate::webhook::delivery::{Attempt, Next, Outgoing};
use crate::webhook::{EventType, KeyAlert, WebhookId};

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
        /// What happened, for the audit trail and the webhooks.
        action: Change,
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
        /// Usage alerts keys raised, for the webhooks.
        #[serde(default)]
        alerts: Vec<(KeyId, KeyAlert)>,
    },
    /// The usage series across every key (`GET /v1/usage`).
    Usage {
        /// Granularity and range.
        query: UsageQuery,
        /// Only the admin token reads it.
        permit: DeploymentPermit,
    },
    /// Manage the webhook endpoints (`/v1/webhooks`).
    Webhooks {
        /// What to do.
        action: WebhookAction,
        /// Only the admin token manages them: events concern every key.
        permit: DeploymentPermit,
    },
    /// The queue's consumer takes a queued delivery to attempt it.
    Claim {
        /// The delivery.
        delivery: u64,
    },
    /// The consumer's attempt at a delivery, and what follows it. Recorded
    /// only if it is the attempt the delivery is at (a duplicate queue
    /// message's report is refused with `not_found`, and dropped).
    Attempted {
        /// The delivery.
        delivery: u64,
        /// Which attempt this was (`Outgoing::attempt`).
        number: u32,
        /// What the endpoint answered.
        attempt: Attempt,
        /// Delivered, retried, or a dead letter.
        next: Next,
    },
    /// The scheduled sweep: expiry notices due, and deliveries the queue
    /// lost queued again.
    Sweep,
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

/// An admin change to a key, as the audit trail and the webhooks name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// `PATCH /v1/keys/{id}`.
    Edit,
    /// `POST /v1/keys/{id}/credits`.
    Credits,
    /// `POST /v1/keys/{id}/rotate`.
    Rotate,
    /// `DELETE /v1/keys/{id}`.
    Revoke,
    /// `POST /v1/keys/revoke-leaked`.
    RevokeLeaked,
}

impl Change {
    /// How the audit trail records it.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Edit => "edit",
            Change::Credits => "credits",
            Change::Rotate => "rotate",
            Change::Revoke => "revoke",
            Change::RevokeLeaked => "revoke_leaked",
        }
    }

    /// The event it sends.
    pub fn event(self) -> EventType {
        match self {
            Change::Edit | Change::Credits => EventType::KeyUpdated,
            Change::Rotate => EventType::KeyRotated,
            Change::Revoke => EventType::KeyRevoked,
            Change::RevokeLeaked => EventType::KeyLeaked,
        }
    }
}

/// What an admin does with the webhook endpoints.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookAction {
    /// Add an endpoint: the registry checks the body, draws the id and
    /// the secret, and answers with the secret (the one time it is shown).
    Create {
        /// The request body (a [`crate::webhook::NewWebhook`]).
        body: String,
    },
    /// Every endpoint.
    List,
    /// One endpoint.
    Get {
        /// Which.
        id: WebhookId,
    },
    /// Remove an endpoint and its deliveries.
    Delete {
        /// Which.
        id: WebhookId,
    },
    /// Send the endpoint a `webhook.test` event.
    Test {
        /// Which.
        id: WebhookId,
    },
    /// The endpoint's latest deliveries.
    Deliveries {
        /// Which.
        id: WebhookId,
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
    /// The command was refused (e.g. no such webhook).
    Refused {
        /// Why.
        error: Error,
    },
    /// An admin API answer made whole by the registry (the webhook
    /// routes): the Worker passes it on as it is, decoding nothing.
    Answer {
        /// The HTTP status.
        status: u16,
        /// The JSON body.
        body: String,
    },
    /// A claimed delivery; `None` when it is no longer due (delivered, or
    /// its endpoint deleted).
    Claimed {
        /// What to send.
        outgoing: Option<Outgoing>,
    },
    /// What a sweep did.
    Swept {
        /// Expiry events it raised.
        notices: u64,
        /// Deliveries it queued again.
        requeued: u64,
    },
}

impl RegistryReply {
    /// The reply's name, for logs (which never get its contents).
    pub fn kind(&self) -> &'static str {
        match self {
            RegistryReply::Done => "done",
            RegistryReply::Page { .. } => "page",
            RegistryReply::Found { .. } => "found",
            RegistryReply::Trail { .. } => "trail",
            RegistryReply::Usage { .. } => "usage",
            RegistryReply::Refused { .. } => "refused",
            RegistryReply::Answer { .. } => "answer",
            RegistryReply::Claimed { .. } => "claimed",
            RegistryReply::Swept { .. } => "swept",
        }
    }
}
