//! A registry shard's SQLite tables as a [`RegistryStore`]: the key index
//! (one row per key, its view as JSON beside the columns listings filter
//! on), secret hashes and the audit trail, with the indexes every read and
//! delete uses. The schema is versioned in `meta`; a shard written by an
//! earlier release (the single registry was shard 0) is upgraded in place
//! the first time it is used.

use worker::{SqlStorage, SqlStorageValue};

use super::rows::rows;
use keygate_core::analytics::Granularity;
use keygate_core::hash::KeyHash;
use keygate_core::key::KeyId;
use keygate_core::lifecycle::list::{holds_admin, search_text, ListQuery, SqlArg};
use keygate_core::lifecycle::record::KeyView;
use keygate_core::registry::command::AuditEntry;
use keygate_core::registry::cursor::{Cursor, Listed};
use keygate_core::registry::store::{Entry, RegistryStore, StoreError};
use keygate_core::time::Timestamp;

/// The schema version this release writes.
const VERSION: i64 = 2;

/// Every table, as the first release made them (version 1).
const TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS keys (
        id TEXT PRIMARY KEY, state TEXT NOT NULL, created_at INTEGER NOT NULL,
        environment TEXT NOT NULL, type TEXT NOT NULL, owner_id TEXT, search TEXT NOT NULL,
        revoked INTEGER NOT NULL, expires_at INTEGER, last_used INTEGER, view TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS secrets (hash TEXT PRIMARY KEY, key_id TEXT NOT NULL)",
    // Earlier versions kept the admin guard here; it has its own objects now.
    "DROP TABLE IF EXISTS guard",
    "CREATE TABLE IF NOT EXISTS audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL,
        action TEXT NOT NULL, key_id TEXT NOT NULL, detail TEXT)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
];

/// Version 1 → 2: whether a key holds `admin` as a column (NULL for rows
/// from before: the reach rule still judges those), and an index for
/// every order, filter and delete.
const TO_2: &[&str] = &[
    "ALTER TABLE keys ADD COLUMN admin INTEGER",
    "DROP INDEX IF EXISTS keys_newest",
    "CREATE INDEX IF NOT EXISTS keys_order ON keys (created_at DESC, id DESC)",
    "CREATE INDEX IF NOT EXISTS keys_owner ON keys (owner_id, created_at DESC, id DESC)",
    "CREATE INDEX IF NOT EXISTS keys_reach ON keys (environment, owner_id, created_at DESC, id DESC)",
    "CREATE INDEX IF NOT EXISTS audit_at ON audit (at)",
    "CREATE INDEX IF NOT EXISTS audit_key ON audit (key_id, at)",
];

fn failed(e: worker::Error) -> StoreError {
    StoreError(e.to_string())
}

fn text(s: impl Into<String>) -> SqlStorageValue {
    SqlStorageValue::String(s.into())
}

fn ms(t: Timestamp) -> SqlStorageValue {
    SqlStorageValue::Integer(t.as_millis() as i64)
}

fn opt_ms(t: Option<Timestamp>) -> SqlStorageValue {
    t.map_or(SqlStorageValue::Null, ms)
}

/// Creates the tables, or brings an earlier release's up to [`VERSION`].
pub fn migrate(sql: &SqlStorage) -> worker::Result<()> {
    for statement in TABLES {
        sql.exec(statement, None)?;
    }
    let found = rows(sql.exec("SELECT value FROM meta WHERE name = 'version'", None)?)?;
    let version = found.first().map_or(Ok(1), |r| r.int(0))?;
    if version < 2 {
        for statement in TO_2 {
            sql.exec(statement, None)?;
        }
    }
    if version < VERSION {
        sql.exec(
            "INSERT OR REPLACE INTO meta (name, value) VALUES ('version', ?)",
            vec![VERSION.into()],
        )?;
    }
    Ok(())
}

/// A shard's tables.
pub struct SqlStore<'a> {
    /// The object's storage.
    pub sql: &'a SqlStorage,
}

impl SqlStore<'_> {
    fn exec(
        &self,
        query: &str,
        values: Vec<SqlStorageValue>,
    ) -> Result<Vec<super::rows::Row>, StoreError> {
        let cursor = self.sql.exec(query, values).map_err(failed)?;
        rows(cursor).map_err(failed)
    }

    fn add_secrets(&self, id: &KeyId, hashes: &[KeyHash]) -> Result<(), StoreError> {
        for hash in hashes {
            self.exec(
                "INSERT OR IGNORE INTO secrets (hash, key_id) VALUES (?, ?)",
                vec![text(hash.as_str()), text(id.as_str())],
            )?;
        }
        Ok(())
    }

    /// The columns a listing filters on, from the view, in `columns()` order.
    fn columns(key: &KeyView) -> Result<Vec<SqlStorageValue>, StoreError> {
        let view = serde_json::to_string(key).map_err(|e| StoreError(e.to_string()))?;
        Ok(vec![
            text(key.environment.as_str()),
            text(key.key_type.as_str()),
            key.owner_id.clone().map_or(SqlStorageValue::Null, text),
            text(search_text(key)),
            i64::from(key.revoked_at.is_some()).into(),
            opt_ms(key.expires_at),
            i64::from(holds_admin(key)).into(),
            text(view),
        ])
    }

    fn view(text: &str) -> Result<KeyView, StoreError> {
        serde_json::from_str(text).map_err(|e| StoreError(format!("stored view: {e}")))
    }
}

impl RegistryStore for SqlStore<'_> {
    fn entry(&self, id: &KeyId) -> Result<Option<Entry>, StoreError> {
        let found = self.exec(
            "SELECT view, state FROM keys WHERE id = ?",
            vec![text(id.as_str())],
        )?;
        found
            .first()
            .map(|row| {
                Ok(Entry {
                    view: Self::view(&row.text(0).map_err(failed)?)?,
                    live: row.text(1).map_err(failed)? == "live",
                })
            })
            .transpose()
    }

    fn insert(
        &mut self,
        key: &KeyView,
        hashes: &[KeyHash],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        // The listing position: the shard's clock, to the millisecond.
        let mut values = vec![text(key.id.as_str()), ms(at)];
        values.extend(Self::columns(key)?);
        self.exec(
            "INSERT INTO keys (id, created_at, environment, type, owner_id, search, revoked, expires_at, admin, view, state)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
            values,
        )?;
        self.add_secrets(&key.id, hashes)
    }

    fn confirm(&mut self, id: &KeyId) -> Result<(), StoreError> {
        self.exec(
            "UPDATE keys SET state = 'live' WHERE id = ?",
            vec![text(id.as_str())],
        )?;
        Ok(())
    }

    fn update(&mut self, key: &KeyView, hashes: &[KeyHash]) -> Result<(), StoreError> {
        let mut values = Self::columns(key)?;
        values.push(text(key.id.as_str()));
        self.exec(
            "UPDATE keys SET environment = ?, type = ?, owner_id = ?, search = ?, revoked = ?,
                 expires_at = ?, admin = ?, view = ?
             WHERE id = ?",
            values,
        )?;
        self.add_secrets(&key.id, hashes)
    }

    fn find(&self, hashes: &[KeyHash]) -> Result<Vec<(KeyHash, KeyId)>, StoreError> {
        let mut found = Vec::new();
        for hash in hashes {
            let row = self.exec(
                "SELECT s.key_id FROM secrets s JOIN keys k ON k.id = s.key_id
                 WHERE s.hash = ? AND k.state = 'live'",
                vec![text(hash.as_str())],
            )?;
            if let Some(row) = row.first() {
                let id = row.text(0).map_err(failed)?.parse().map_err(StoreError)?;
                found.push((hash.clone(), id));
            }
        }
        Ok(found)
    }

    fn audit(&mut self, id: &KeyId, entry: &AuditEntry) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO audit (at, actor, action, key_id, detail) VALUES (?, ?, ?, ?, ?)",
            vec![
                ms(entry.at),
                text(entry.actor.as_str()),
                text(entry.action.as_str()),
                text(id.as_str()),
                entry.detail.clone().map_or(SqlStorageValue::Null, text),
            ],
        )?;
        Ok(())
    }

    fn trail(&self, id: &KeyId, since: Timestamp) -> Result<Vec<AuditEntry>, StoreError> {
        let found = self.exec(
            "SELECT at, actor, action, detail FROM audit WHERE key_id = ? AND at >= ?
             ORDER BY at DESC, seq DESC",
            vec![text(id.as_str()), ms(since)],
        )?;
        found
            .into_iter()
            .map(|r| {
                Ok(AuditEntry {
                    at: Timestamp::from_millis(r.int(0)? as u64),
                    actor: r.text(1)?,
                    action: r.text(2)?,
                    detail: r.opt_text(3)?,
                })
            })
            .collect::<worker::Result<_>>()
            .map_err(failed)
    }

    fn scan(
        &self,
        query: &ListQuery,
        after: Option<&Cursor>,
        limit: u32,
        now: Timestamp,
    ) -> Result<Vec<Listed>, StoreError> {
        let (filter, args) = query.filter(now);
        // Today's requests as reported so far (see `usage_tables`).
        let mut bound = vec![ms(Granularity::Day.floor(now))];
        bound.extend(args.into_iter().map(|a| match a {
            SqlArg::Text(t) => text(t),
            SqlArg::Int(i) => i.into(),
        }));
        let position = match after {
            Some(c) => {
                bound.extend([ms(c.created_at), text(c.id.as_str())]);
                " AND (created_at, id) < (?, ?)"
            }
            None => "",
        };
        bound.push(i64::from(limit).into());
        let found = self.exec(
            &format!(
                "SELECT view, last_used, (SELECT requests FROM usage_keys u
                     WHERE u.key_id = keys.id AND u.day = ?), created_at
                 FROM keys WHERE {filter}{position}
                 ORDER BY created_at DESC, id DESC LIMIT ?"
            ),
            bound,
        )?;
        found
            .into_iter()
            .map(|row| {
                let mut view = Self::view(&row.text(0).map_err(failed)?)?;
                let last_used = row.opt_int(1).map_err(failed)?;
                view.last_used = last_used
                    .map(|ms| Timestamp::from_millis(ms as u64))
                    .max(view.last_used);
                view.requests_today = Some(row.opt_int(2).map_err(failed)?.unwrap_or(0) as u64);
                let at = Cursor {
                    created_at: Timestamp::from_millis(row.int(3).map_err(failed)? as u64),
                    id: view.id.clone(),
                };
                Ok(Listed { at, key: view })
            })
            .collect()
    }

    fn prune(&mut self, before: Timestamp, limit: u32) -> Result<u32, StoreError> {
        let cursor = self
            .sql
            .exec(
                "DELETE FROM audit WHERE seq IN (SELECT seq FROM audit WHERE at < ? LIMIT ?)",
                vec![ms(before), i64::from(limit).into()],
            )
            .map_err(failed)?;
        Ok(cursor.rows_written() as u32)
    }
}
