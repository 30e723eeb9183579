//! The in-memory backend: a `BTreeMap` per table behind a lock. Same
//! semantics as RocksDB (sets merge the same way), no disk; for tests and
//! for runs that need no state after they end.

use std::collections::BTreeMap;
use std::sync::RwLock;

use super::{set, Batch, KvStore, Op, Table};
use crate::error::Result;

type Tables = BTreeMap<Table, BTreeMap<Vec<u8>, Vec<u8>>>;

/// The in-memory store.
#[derive(Default)]
pub struct MemoryStore {
    tables: RwLock<Tables>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn merge_member(tables: &mut Tables, table: Table, key: Vec<u8>, member: &[u8], present: bool) {
    merge_run(tables, table, key, set::operand(member, present));
}

fn merge_run(tables: &mut Tables, table: Table, key: Vec<u8>, operand: Vec<u8>) {
    let map = tables.entry(table).or_default();
    let merged = match map.get(&key) {
        Some(existing) => set::merge([existing.as_slice(), operand.as_slice()]).unwrap_or(operand),
        None => operand,
    };
    map.insert(key, merged);
}

impl KvStore for MemoryStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        Ok(tables.get(&table).and_then(|m| m.get(key)).cloned())
    }

    fn write(&self, batch: Batch) -> Result<()> {
        let mut tables = self.tables.write().unwrap_or_else(|e| e.into_inner());
        for op in batch.ops {
            match op {
                Op::Put(t, k, v) => {
                    tables.entry(t).or_default().insert(k, v);
                }
                Op::Delete(t, k) => {
                    tables.entry(t).or_default().remove(&k);
                }
                Op::SetAdd(t, k, m) => merge_member(&mut tables, t, k, &m, true),
                Op::SetRemove(t, k, m) => merge_member(&mut tables, t, k, &m, false),
                Op::SetChanges(t, k, run) => merge_run(&mut tables, t, k, run),
            }
        }
        Ok(())
    }

    fn scan_prefix(
        &self,
        table: Table,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        if let Some(map) = tables.get(&table) {
            for (k, v) in map.range(prefix.to_vec()..) {
                if !k.starts_with(prefix) || !visit(k, v) {
                    break;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_add_and_remove() {
        let store = MemoryStore::new();
        let mut b = Batch::default();
        b.set_add(Table::Refs, b"k".to_vec(), b"a".to_vec());
        b.set_add(Table::Refs, b"k".to_vec(), b"b".to_vec());
        b.set_remove(Table::Refs, b"k".to_vec(), b"a".to_vec());
        store.write(b).unwrap();
        assert_eq!(
            crate::store::owned_members(&store, Table::Refs, b"k"),
            vec![b"b".to_vec()]
        );
        assert!(crate::store::owned_members(&store, Table::Refs, b"missing").is_empty());
    }
}
