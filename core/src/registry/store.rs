//! What a registry shard stores, as the operations [`super::apply`] needs:
//! the SQLite tables of a shard's Durable Object at the edge
//! (`src/objects/registry_store.rs`), a map in the native tests
//! ([`super::memory`]). Every operation reads or writes a bounded number of
//! rows; none walks a table.

use std::fmt;

use crate::hash::KeyHash;
use crate::key::KeyId;
use crate::lifecycle::list::ListQuery;
use crate::lifecycle::record::KeyView;
use crate::registry::command::AuditEntry;
use crate::registry::cursor::{Cursor, Listed};
use crate::time::Timestamp;

/// A key as a shard holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The view the admin API shows (as of the last write).
    pub view: KeyView,
    /// Issued for good: pending rows (a crash mid-issue) are never listed.
    pub live: bool,
}

/// A store's failure, for the log (it never carries a value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A shard's storage.
pub trait RegistryStore {
    /// Key `id`, if this shard has it.
    fn entry(&self, id: &KeyId) -> Result<Option<Entry>, StoreError>;
    /// Adds a new key (pending) and its secrets' hashes, listed at `at`.
    fn insert(
        &mut self,
        view: &KeyView,
        hashes: &[KeyHash],
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Marks key `id` live.
    fn confirm(&mut self, id: &KeyId) -> Result<(), StoreError>;
    /// Replaces a key's view and adds hashes (a rotation's new secret).
    fn update(&mut self, view: &KeyView, hashes: &[KeyHash]) -> Result<(), StoreError>;
    /// Which of `hashes` open a live key here.
    fn find(&self, hashes: &[KeyHash]) -> Result<Vec<(KeyHash, KeyId)>, StoreError>;
    /// Appends one audit entry about key `id`.
    fn audit(&mut self, id: &KeyId, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Key `id`'s audit entries since `since`, newest first.
    fn trail(&self, id: &KeyId, since: Timestamp) -> Result<Vec<AuditEntry>, StoreError>;
    /// Up to `limit` live keys passing `query`'s filter at `now`, after
    /// `after`, newest first; each with its latest use and today's requests.
    fn scan(
        &self,
        query: &ListQuery,
        after: Option<&Cursor>,
        limit: u32,
        now: Timestamp,
    ) -> Result<Vec<Listed>, StoreError>;
    /// Deletes up to `limit` audit entries from before `before`: how many.
    fn prune(&mut self, before: Timestamp, limit: u32) -> Result<u32, StoreError>;
}
