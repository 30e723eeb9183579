//! Decoded records, shared.
//!
//! Decoding a JSON record costs more than the rest of a lookup, and the
//! same records are read again and again: a customer by every strategy
//! that weighs a candidate, a customer's invoices by the amount strategy
//! and again by stage 2's allocation. So each record type keeps its
//! decoded records behind an `Arc`. Bounded (emptied when full); the
//! index's own writer drops a record before and after it changes, so no
//! reader is served a stale one. Ids are held inline (see
//! `inline_key`): a lookup compares the id in the slot it probed instead of
//! following a pointer to a boxed one.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::fxhash::FxBuild;
use crate::inline_key::InlineKey;

/// Records held per type before the map is emptied.
pub(super) const DECODED_MAX: usize = 2_000_000;

/// Decoded records of one type by id.
pub(super) struct Decoded<T> {
    map: RwLock<HashMap<InlineKey, Arc<T>, FxBuild>>,
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
            .get(id.as_bytes())
            .cloned()
    }

    pub(super) fn insert(&self, id: &str, record: Arc<T>) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= DECODED_MAX {
            map.clear();
        }
        map.insert(InlineKey::new(id.as_bytes()), record);
    }

    /// Replaces everything held with `records`.
    pub(super) fn replace_all(&self, records: Vec<(String, Arc<T>)>) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        map.clear();
        map.reserve(records.len());
        map.extend(
            records
                .into_iter()
                .map(|(id, record)| (InlineKey::new(id.as_bytes()), record)),
        );
    }

    pub(super) fn forget<'a>(&self, ids: impl Iterator<Item = &'a String>) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for id in ids {
            map.remove(id.as_bytes());
        }
    }
}
