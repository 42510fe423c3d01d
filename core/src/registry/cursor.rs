//! Listing cursors and the merge of shards' pages. Keys are listed newest
//! first by position: when their shard recorded them (in milliseconds; a
//! view's `created_at` shows whole seconds), then id — a total order no
//! insert or revoke changes, so a walk by cursor returns each key at most
//! once whatever happens between pages: a key issued during a walk sorts
//! before the cursor and waits for the next walk.
//!
//! Each shard answers a page of at most `per_page` visible keys after the
//! cursor, and where it would go on from (`resume`): its last key when the
//! page filled, or its last row looked at when its scan budget ran out
//! first (see [`super::apply`]). Everything a shard has above its `resume`
//! is in its answer, so the merged page is exact down to the newest
//! `resume` of all shards, and the next cursor is never past it.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::key::KeyId;
use crate::lifecycle::record::KeyView;
use crate::time::Timestamp;

/// A position in the newest-first order: keys after it are older (or as
/// old with a smaller id). Shown to clients as `meta.next_cursor`, as
/// `<created_at ms>.<key id>`; they pass it back as `?cursor=`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cursor {
    /// When the key's shard recorded it.
    pub created_at: Timestamp,
    /// The key, breaking ties.
    pub id: KeyId,
}

impl Cursor {
    /// Newest first: `Less` when `self` lists before `other`.
    pub fn order(&self, other: &Cursor) -> Ordering {
        (other.created_at, &other.id).cmp(&(self.created_at, &self.id))
    }

    /// Whether a key at `self` lists after (is older than) `cursor`.
    pub fn is_after(&self, cursor: &Cursor) -> bool {
        self.order(cursor) == Ordering::Greater
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.created_at.as_millis(), self.id)
    }
}

impl FromStr for Cursor {
    type Err = String;
    fn from_str(s: &str) -> Result<Cursor, String> {
        let bad = || "is not a cursor this API gave out (meta.next_cursor)".to_owned();
        let (ms, id) = s.split_once('.').ok_or_else(bad)?;
        let ms: u64 = ms.parse().map_err(|_| bad())?;
        Ok(Cursor {
            created_at: Timestamp::from_millis(ms),
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

impl TryFrom<String> for Cursor {
    type Error = String;
    fn try_from(s: String) -> Result<Cursor, String> {
        s.parse()
    }
}

impl From<Cursor> for String {
    fn from(c: Cursor) -> String {
        c.to_string()
    }
}

/// A listed key and its position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    /// Where it lists.
    pub at: Cursor,
    /// The key.
    pub key: KeyView,
}

/// One shard's answer to a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardPage {
    /// Visible keys after the cursor, newest first, at most `per_page`.
    pub data: Vec<Listed>,
    /// Where this shard would go on from; `None` when it has nothing
    /// after `data`.
    pub resume: Option<Cursor>,
}

/// A listing's page: the keys, and the cursor of the next page (`None`
/// on the last).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// Newest first.
    pub data: Vec<KeyView>,
    /// Pass back as `?cursor=` for the next page.
    pub next: Option<Cursor>,
}

/// Merges the shards' answers to one listing into its page of `per_page`.
pub fn merge(shards: Vec<ShardPage>, per_page: usize) -> Page {
    // Exact only down to the highest resume: below it some shard has not looked.
    let horizon = shards
        .iter()
        .filter_map(|s| s.resume.clone())
        .min_by(|a, b| a.order(b));
    let mut data: Vec<Listed> = shards.into_iter().flat_map(|s| s.data).collect();
    data.sort_by(|a, b| a.at.order(&b.at));
    if let Some(h) = &horizon {
        data.retain(|k| !k.at.is_after(h));
    }
    let more = data.len() > per_page || horizon.is_some();
    data.truncate(per_page);
    let next = match (more, data.last()) {
        (false, _) => None,
        (true, Some(last)) if data.len() == per_page => Some(last.at.clone()),
        (true, _) => horizon,
    };
    Page {
        data: data.into_iter().map(|l| l.key).collect(),
        next,
    }
}
