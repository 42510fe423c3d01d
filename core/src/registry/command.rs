//! The registry's commands and replies, as they cross between the Worker
//! and a shard's object. Index commands are about keys and go to the
//! key's shard (or, for a listing or a lookup by hash, to every shard);
//! hub commands are about the deployment (webhooks, usage, the sweep).
//!
//! Write order, and how each failure recovers:
//!
//! - issue: shard `Insert` (hidden, `pending`) → key object `Create` →
//!   KV → shard `Confirm`. A crash anywhere before `Confirm` leaves a
//!   pending row that listings hide, and no secret was returned, so no
//!   half-issued key is ever usable or visible.
//! - edit, rotate, revoke: key object first (authoritative: a success
//!   reported to the caller is already enforced), then KV, then shard
//!   `Update`. A crash after the key object leaves the shard stale until
//!   the admin retries (each of these is safe to repeat); it never leaves a
//!   revoked key usable.

use serde::{Deserialize, Serialize};

use super::cursor::ShardPage;
use crate::analytics::overall::{UsagePart, UsageReport};
use crate::analytics::{Stored, UsageQuery};
use crate::error::Error;
use crate::hash::KeyHash;
use crate::key::KeyId;
use crate::lifecycle::list::ListQuery;
use crate::lifecycle::record::KeyView;
use crate::policy::actor::{Actor, DeploymentPermit};
use crate::time::Timestamp;
use crate::webhook::delivery::{Attempt, Next, Outgoing};
use crate::webhook::{Event, EventType, KeyAlert, WebhookId};

/// How long audit entries are kept.
pub const AUDIT_RETENTION_MS: u64 = 30 * 86_400_000;

/// A request to a registry shard's object. On the wire each is its inner
/// command as it is (`{"insert": …}`), as before the split.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
// Each is made once per call and serialized at once: no array of them to bloat.
#[allow(clippy::large_enum_variant)]
pub enum RegistryCommand {
    /// About keys: answered by [`super::apply`].
    Index(IndexCommand),
    /// About the deployment: answered by the hub's glue.
    Hub(HubCommand),
}

impl RegistryCommand {
    /// Its name, as its wire form's tag says it: the client calls a shard
    /// at `/<object name>/<kind>`, so a trace or a count by path tells the
    /// commands apart without reading bodies.
    pub fn kind(&self) -> &'static str {
        match self {
            RegistryCommand::Index(command) => match command {
                IndexCommand::Insert { .. } => "insert",
                IndexCommand::Confirm { .. } => "confirm",
                IndexCommand::Update { .. } => "update",
                IndexCommand::List { .. } => "list",
                IndexCommand::Find { .. } => "find",
                IndexCommand::Audit { .. } => "audit",
            },
            RegistryCommand::Hub(command) => match command {
                HubCommand::Report { .. } => "report",
                HubCommand::OwnerUsage { .. } => "owner_usage",
                HubCommand::Usage { .. } => "usage",
                HubCommand::Webhooks { .. } => "webhooks",
                HubCommand::Claim { .. } => "claim",
                HubCommand::Attempted { .. } => "attempted",
                HubCommand::Sweep => "sweep",
                HubCommand::Emit { .. } => "emit",
            },
        }
    }
}

/// A command about keys, for the shard that holds them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexCommand {
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
    /// This shard's part of a page of keys, newest first: of those
    /// `actor` may see, after the query's cursor.
    List {
        /// Filters, cursor and page size.
        query: ListQuery,
        /// Who lists: a key actor sees only keys within it.
        actor: Actor,
    },
    /// Which of these hashes open a key of this shard.
    Find {
        /// The hashes.
        hashes: Vec<KeyHash>,
    },
    /// A key's audit trail, newest first.
    Audit {
        /// The key.
        id: KeyId,
    },
}

/// A command about the deployment, for the hub (shard 0), except
/// `Report` and `Sweep`, which every shard takes for its own keys.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HubCommand {
    /// Isolates' counts, for this shard's keys and a share of the overall
    /// and owner usage (see [`crate::analytics::overall`]), added in one step.
    Report {
        /// A key and its latest use, from key objects of releases before
        /// the isolates reported it (during a deploy).
        #[serde(default)]
        touch: Option<(KeyId, Timestamp)>,
        /// Counts to add.
        usage: UsageReport,
        /// Usage alerts raised by key objects of earlier releases (during a
        /// deploy; they hand theirs to the hub as events now).
        #[serde(default)]
        alerts: Vec<(KeyId, KeyAlert)>,
    },
    /// One owner's usage rows and how many keys it has, this shard's part
    /// (`GET /v1/owners/{id}/usage`).
    OwnerUsage {
        /// The owner.
        owner_id: String,
        /// Granularity and range.
        query: UsageQuery,
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
    /// Events made by another shard, for the webhook endpoints.
    Emit {
        /// The events, in order.
        events: Vec<Event>,
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

/// The registry's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryReply {
    /// Written.
    Done,
    /// A shard's part of a page of keys.
    Page(ShardPage),
    /// The keys of this shard the hashes open (hashes opening none are left out).
    Found {
        /// Each hash found, and its key.
        keys: Vec<(KeyHash, KeyId)>,
    },
    /// A key's audit trail.
    Trail {
        /// Entries, newest first.
        entries: Vec<AuditEntry>,
    },
    /// A shard's part of the overall usage.
    Usage(UsagePart),
    /// A shard's part of an owner's usage.
    OwnerUsage {
        /// Its rows for the owner.
        stored: Stored,
        /// The owner's keys in this shard.
        keys: u64,
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
            RegistryReply::Page(_) => "page",
            RegistryReply::Found { .. } => "found",
            RegistryReply::Trail { .. } => "trail",
            RegistryReply::Usage(_) => "usage",
            RegistryReply::OwnerUsage { .. } => "owner_usage",
            RegistryReply::Refused { .. } => "refused",
            RegistryReply::Answer { .. } => "answer",
            RegistryReply::Claimed { .. } => "claimed",
            RegistryReply::Swept { .. } => "swept",
        }
    }
}
