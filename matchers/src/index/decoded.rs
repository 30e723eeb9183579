//! Decoded records, shared.
//!
//! Decoding a JSON record costs more than the rest of a lookup, and the
//! same records are read again and again: a customer by every strategy
//! that weighs a candidate, a customer's invoices by the amount strategy
//! and again by stage 2's allocation. So each record type keeps its
//! decoded records behind an `Arc`. Bounded (emptied when full); the
//! index's own writer drops a record before and after it changes, so no
//! reader is served a stale one. Ids are held inline, in a table with a
//! cache line per slot (see `line_table`): a lookup compares the id in the
//! one line it loaded.

use std::sync::{Arc, RwLock};

use crate::line_table::{hash_key, LineTable};

/// Records held per type before the map is emptied.
pub(super) const DECODED_MAX: usize = 2_000_000;

/// Decoded records of one type by id.
pub(super) struct Decoded<T> {
    map: RwLock<LineTable<Arc<T>>>,
}

impl<T> Default for Decoded<T> {
    fn default() -> Self {
        Decoded {
            map: RwLock::default(),
        }
    }
}

impl<T> Decoded<T> {
    pub(super) fn get(&self, id: &str) -> Option<Arc<T>> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(hash_key(id.as_bytes()), id.as_bytes())
            .cloned()
    }

    /// Reads ahead the records of `ids`, all together, so their cache
    /// misses overlap (see `KvStore::prefetch`): first their slots, then
    /// `touch` of each record held, which reads what a lookup reads next.
    pub(super) fn prefetch(&self, ids: &[&str], touch: impl Fn(&T) -> u64) {
        let hashes: Vec<u64> = ids.iter().map(|id| hash_key(id.as_bytes())).collect();
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        let mut touched = 0u64;
        for hash in &hashes {
            touched ^= map.touch(*hash);
        }
        let held: Vec<&Arc<T>> = ids
            .iter()
            .zip(&hashes)
            .filter_map(|(id, hash)| map.get(*hash, id.as_bytes()))
            .collect();
        for record in held {
            touched ^= touch(record);
        }
        std::hint::black_box(touched);
    }

    pub(super) fn insert(&self, id: &str, record: Arc<T>) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= DECODED_MAX {
            map.clear();
        }
        map.insert(hash_key(id.as_bytes()), id.as_bytes(), record);
    }

    /// Replaces everything held with `records`.
    pub(super) fn replace_all(&self, records: Vec<(String, Arc<T>)>) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        map.clear();
        map.reserve(records.len());
        for (id, record) in records {
            map.insert(hash_key(id.as_bytes()), id.as_bytes(), record);
        }
    }

    pub(super) fn forget<'a>(&self, ids: impl Iterator<Item = &'a String>) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for id in ids {
            map.remove(hash_key(id.as_bytes()), id.as_bytes());
        }
    }
}
