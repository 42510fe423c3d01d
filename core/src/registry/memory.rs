//! An in-memory [`RegistryStore`] for the native tests: the SQLite
//! store's semantics over a map, filtering with [`ListQuery::matches`].

use std::collections::BTreeMap;

use super::command::AuditEntry;
use super::cursor::{Cursor, Listed};
use super::store::{Entry, RegistryStore, StoreError};
use crate::hash::KeyHash;
use crate::key::KeyId;
use crate::lifecycle::list::ListQuery;
use crate::lifecycle::record::KeyView;
use crate::time::Timestamp;

/// One shard's tables, in memory.
#[derive(Default, Debug)]
pub struct MemoryStore {
    /// Keys by id, with where they list.
    pub keys: BTreeMap<KeyId, (Entry, Cursor)>,
    /// Secret hash → key.
    pub secrets: BTreeMap<String, KeyId>,
    /// Audit entries in the order written.
    pub audit: Vec<(KeyId, AuditEntry)>,
    /// Writes done (inserts, updates, audit rows, deletions), for tests
    /// that prove a command wrote nothing.
    pub writes: u64,
    /// Rows the scans looked at, for tests that bound a listing's cost.
    pub scanned: std::cell::Cell<u64>,
}

impl RegistryStore for MemoryStore {
    fn entry(&self, id: &KeyId) -> Result<Option<Entry>, StoreError> {
        Ok(self.keys.get(id).map(|(e, _)| e.clone()))
    }

    fn insert(
        &mut self,
        view: &KeyView,
        hashes: &[KeyHash],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let entry = Entry {
            view: view.clone(),
            live: false,
        };
        let position = Cursor {
            created_at: at,
            id: view.id.clone(),
        };
        self.keys.insert(view.id.clone(), (entry, position));
        self.writes += 1;
        self.add(&view.id, hashes);
        Ok(())
    }

    fn confirm(&mut self, id: &KeyId) -> Result<(), StoreError> {
        if let Some((entry, _)) = self.keys.get_mut(id) {
            entry.live = true;
            self.writes += 1;
        }
        Ok(())
    }

    fn update(&mut self, view: &KeyView, hashes: &[KeyHash]) -> Result<(), StoreError> {
        if let Some((entry, _)) = self.keys.get_mut(&view.id) {
            entry.view = view.clone();
            self.writes += 1;
        }
        self.add(&view.id, hashes);
        Ok(())
    }

    fn find(&self, hashes: &[KeyHash]) -> Result<Vec<(KeyHash, KeyId)>, StoreError> {
        Ok(hashes
            .iter()
            .filter_map(|h| {
                let id = self.secrets.get(h.as_str())?;
                self.keys.get(id)?.0.live.then(|| (h.clone(), id.clone()))
            })
            .collect())
    }

    fn audit(&mut self, id: &KeyId, entry: &AuditEntry) -> Result<(), StoreError> {
        self.audit.push((id.clone(), entry.clone()));
        self.writes += 1;
        Ok(())
    }

    fn trail(&self, id: &KeyId, since: Timestamp) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self
            .audit
            .iter()
            .rev()
            .filter(|(k, e)| k == id && e.at >= since)
            .map(|(_, e)| e.clone())
            .collect())
    }

    fn scan(
        &self,
        query: &ListQuery,
        after: Option<&Cursor>,
        limit: u32,
        now: Timestamp,
    ) -> Result<Vec<Listed>, StoreError> {
        let mut live: Vec<&(Entry, Cursor)> = self.keys.values().filter(|(e, _)| e.live).collect();
        live.sort_by(|a, b| a.1.order(&b.1));
        let found: Vec<Listed> = live
            .into_iter()
            .filter(|(_, at)| after.is_none_or(|c| at.is_after(c)))
            .filter(|(e, _)| query.matches(&e.view, now))
            .take(limit as usize)
            .map(|(e, at)| Listed {
                at: at.clone(),
                key: e.view.clone(),
            })
            .collect();
        self.scanned.set(self.scanned.get() + found.len() as u64);
        Ok(found)
    }

    fn prune(&mut self, before: Timestamp, limit: u32) -> Result<u32, StoreError> {
        let mut dropped = 0;
        self.audit.retain(|(_, e)| {
            let drop = e.at < before && dropped < limit;
            dropped += u32::from(drop);
            !drop
        });
        self.writes += u64::from(dropped);
        Ok(dropped)
    }
}

impl MemoryStore {
    fn add(&mut self, id: &KeyId, hashes: &[KeyHash]) {
        for hash in hashes {
            self.secrets
                .entry(hash.as_str().to_owned())
                .or_insert_with(|| id.clone());
            self.writes += 1;
        }
    }
}
