//! Every decision a registry shard makes about its keys, over a
//! [`RegistryStore`]: what a command writes, what it answers and which
//! webhook events it raises. The shard's object only loads, runs this and
//! passes the events on (see `src/objects/registry.rs`).

use super::command::{AuditEntry, Change, IndexCommand, RegistryReply, AUDIT_RETENTION_MS};
use super::cursor::{Listed, ShardPage};
use super::store::{RegistryStore, StoreError};
use crate::lifecycle::record::KeyView;
use crate::policy::actor::Actor;
use crate::time::Timestamp;
use crate::webhook::{Event, EventType};

/// How a listing reads a shard: one more row than the page first, then
/// `chunk` rows at a time while the reach rule turns rows away, and at
/// most `budget` rows in all. A listing by an admin key whose reach is a
/// few keys among many may come back short (even empty) with a cursor to
/// go on: its cost is bounded, not the table's.
#[derive(Clone, Copy, Debug)]
pub struct Scan {
    /// Rows per read after the first.
    pub chunk: u32,
    /// Rows per call, at most (a chunk may end past it).
    pub budget: u32,
}

/// The scan every listing uses.
pub const SCAN: Scan = Scan {
    chunk: 100,
    budget: 500,
};
/// Audit entries one sweep deletes per shard, at most.
pub const PRUNE_BATCH: u32 = 1_000;

/// What a command came to: the answer, and events for the webhook endpoints.
#[derive(Debug)]
pub struct Applied {
    /// The answer.
    pub reply: RegistryReply,
    /// Events to emit, in order.
    pub events: Vec<Event>,
}

impl Applied {
    fn reply(reply: RegistryReply) -> Applied {
        Applied {
            reply,
            events: Vec::new(),
        }
    }
}

fn event(
    kind: EventType,
    key: &KeyView,
    fields: serde_json::Value,
    now: Timestamp,
) -> Result<Event, StoreError> {
    Event::about_key(kind, key, fields, now).map_err(|e| StoreError(format!("event id: {e}")))
}

fn entry(at: Timestamp, actor: String, action: &str, detail: Option<String>) -> AuditEntry {
    AuditEntry {
        at,
        actor,
        action: action.to_owned(),
        detail,
    }
}

/// Runs `command` at `now` on `store`.
pub fn apply(
    command: IndexCommand,
    now: Timestamp,
    store: &mut impl RegistryStore,
) -> Result<Applied, StoreError> {
    match command {
        IndexCommand::Insert { key, hashes, actor } => {
            store.insert(&key, &hashes, now)?;
            store.audit(&key.id, &entry(now, actor, "create", None))?;
            Ok(Applied::reply(RegistryReply::Done))
        }
        IndexCommand::Confirm { id } => {
            let Some(entry) = store.entry(&id)? else {
                return Ok(Applied::reply(RegistryReply::Done));
            };
            store.confirm(&id)?;
            let created = event(
                EventType::KeyCreated,
                &entry.view,
                serde_json::json!({}),
                now,
            )?;
            Ok(Applied {
                reply: RegistryReply::Done,
                events: vec![created],
            })
        }
        IndexCommand::Update {
            key,
            hashes,
            action,
            actor,
            detail,
        } => {
            let revoking = matches!(action, Change::Revoke | Change::RevokeLeaked);
            let was_revoked = store
                .entry(&key.id)?
                .is_some_and(|e| e.view.revoked_at.is_some());
            // Revoking is idempotent: a repeat has nothing to write or tell.
            if revoking && was_revoked {
                return Ok(Applied::reply(RegistryReply::Done));
            }
            store.update(&key, &hashes)?;
            let fields = match (action, &detail) {
                (Change::RevokeLeaked, Some(found)) => serde_json::json!({ "where": found }),
                (Change::Revoke, _) => serde_json::json!({ "reason": key.revoked_reason }),
                (change, _) => serde_json::json!({ "change": change.as_str() }),
            };
            let changed = event(action.event(), &key, fields, now)?;
            store.audit(&key.id, &entry(now, actor, action.as_str(), detail))?;
            Ok(Applied {
                reply: RegistryReply::Done,
                events: vec![changed],
            })
        }
        IndexCommand::List { query, actor } => list(query, &actor, now, store, SCAN),
        IndexCommand::Find { hashes } => Ok(Applied::reply(RegistryReply::Found {
            keys: store.find(&hashes)?,
        })),
        IndexCommand::Audit { id } => {
            let since = Timestamp::from_millis(now.as_millis().saturating_sub(AUDIT_RETENTION_MS));
            Ok(Applied::reply(RegistryReply::Trail {
                entries: store.trail(&id, since)?,
            }))
        }
    }
}

/// This shard's part of a listing (see [`super::cursor`]): at most
/// `per_page` keys `actor` sees, after at most `scan.budget` rows.
pub(super) fn list(
    mut query: crate::lifecycle::list::ListQuery,
    actor: &Actor,
    now: Timestamp,
    store: &impl RegistryStore,
    scan: Scan,
) -> Result<Applied, StoreError> {
    // A key actor only ever sees its own environment and owner, and no
    // admin key: narrowed in SQL before the rule runs on each row, so most
    // rows pass it and the first read, one more than the page, usually
    // fills it; reads after that (the rule turned rows away) take `chunk`.
    if let Actor::Key { bounds, .. } = actor {
        query = query.within(&bounds.environment, bounds.owner_id.as_deref());
    }
    let mut chunk = query.per_page + 1;
    let per_page = query.per_page as usize;
    let mut data: Vec<Listed> = Vec::new();
    let mut after = query.cursor.clone();
    let mut scanned = 0;
    let page = |data, resume| {
        Ok(Applied::reply(RegistryReply::Page(ShardPage {
            data,
            resume,
        })))
    };
    loop {
        let rows = store.scan(&query, after.as_ref(), chunk, now)?;
        let exhausted = rows.len() < chunk as usize;
        scanned += rows.len() as u32;
        for mut row in rows {
            let at = row.at.clone();
            if actor.sees(&row.key) {
                if data.len() == per_page {
                    let last = data.last().map(|l| l.at.clone());
                    return page(data, last);
                }
                row.key.refresh(None, now);
                data.push(row);
            }
            after = Some(at);
        }
        if exhausted {
            return page(data, None);
        }
        if scanned >= scan.budget {
            return page(data, after);
        }
        chunk = chunk.max(scan.chunk);
    }
}

/// Deletes a batch of audit entries past retention: how many (the sweep
/// calls it until fewer than [`PRUNE_BATCH`] go).
pub fn prune(now: Timestamp, store: &mut impl RegistryStore) -> Result<u32, StoreError> {
    let before = Timestamp::from_millis(now.as_millis().saturating_sub(AUDIT_RETENTION_MS));
    store.prune(before, PRUNE_BATCH)
}
