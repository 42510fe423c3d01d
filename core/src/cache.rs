//! A small time-bounded map for per-isolate caching of KV lookups (found
//! and not-found alike). Staleness is safe by design: the key's Durable
//! Object re-checks status and secret on every admitted request, so the
//! cache can only save a KV read, never admit a revoked key.

use std::collections::HashMap;
use std::hash::Hash;

use crate::time::Timestamp;

/// Entries live `ttl_ms`; at most `capacity` are kept.
pub struct TtlCache<K, V> {
    entries: HashMap<K, (V, Timestamp)>,
    ttl_ms: u64,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// An empty cache.
    pub fn new(ttl_ms: u64, capacity: usize) -> Self {
        TtlCache {
            entries: HashMap::new(),
            ttl_ms,
            capacity,
        }
    }

    /// The value for `key` if it was stored less than `ttl_ms` before `now`.
    pub fn get(&mut self, key: &K, now: Timestamp) -> Option<V> {
        match self.entries.get(key) {
            Some((value, expires)) if now < *expires => Some(value.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Stores `value`. When full, expired entries go first; if none has
    /// expired, everything goes (a cache miss costs one KV read, while
    /// unbounded growth would cost the isolate).
    pub fn insert(&mut self, key: K, value: V, now: Timestamp) {
        if self.entries.len() >= self.capacity {
            self.entries.retain(|_, (_, expires)| now < *expires);
            if self.entries.len() >= self.capacity {
                self.entries.clear();
            }
        }
        self.entries
            .insert(key, (value, now.plus_millis(self.ttl_ms)));
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &K) {
        self.entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl() {
        let t = Timestamp::from_secs(100);
        let mut c = TtlCache::new(5_000, 10);
        c.insert("a", Some(1), t);
        c.insert("b", None::<i32>, t);
        assert_eq!(c.get(&"a", t.plus_millis(4_999)), Some(Some(1)));
        assert_eq!(c.get(&"b", t.plus_millis(4_999)), Some(None));
        assert_eq!(c.get(&"a", t.plus_millis(5_000)), None);
        assert_eq!(c.get(&"zzz", t), None);
    }

    #[test]
    fn capacity_is_bounded() {
        let t = Timestamp::from_secs(100);
        let mut c = TtlCache::new(5_000, 3);
        for i in 0..100 {
            c.insert(i, i, t);
            assert!(c.entries.len() <= 3);
        }
        assert_eq!(c.get(&99, t), Some(99));
        c.remove(&99);
        assert_eq!(c.get(&99, t), None);
    }
}
