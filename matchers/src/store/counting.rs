//! A decorator that counts reads: benchmarks report store reads per
//! payment with it, and tests prove a lookup is bounded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{Batch, KvStore, SharedBytes, Table};
use crate::error::Result;

/// Counts `get` and `scan_prefix` calls on the store it wraps.
pub struct CountingStore {
    inner: Arc<dyn KvStore>,
    gets: AtomicU64,
    scans: AtomicU64,
}

impl CountingStore {
    /// Wraps a store.
    pub fn new(inner: Arc<dyn KvStore>) -> Self {
        CountingStore {
            inner,
            gets: AtomicU64::new(0),
            scans: AtomicU64::new(0),
        }
    }

    /// Point reads so far.
    pub fn gets(&self) -> u64 {
        self.gets.load(Ordering::Relaxed)
    }

    /// Prefix scans so far.
    pub fn scans(&self) -> u64 {
        self.scans.load(Ordering::Relaxed)
    }
}

impl KvStore for CountingStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        self.inner.get(table, key)
    }

    fn get_shared(&self, table: Table, key: &[u8]) -> Result<Option<SharedBytes>> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        self.inner.get_shared(table, key)
    }

    fn get_many_shared(&self, table: Table, keys: &[&[u8]]) -> Vec<Result<Option<SharedBytes>>> {
        self.gets.fetch_add(keys.len() as u64, Ordering::Relaxed);
        self.inner.get_many_shared(table, keys)
    }

    fn write(&self, batch: Batch) -> Result<()> {
        self.inner.write(batch)
    }

    fn scan_prefix(
        &self,
        table: Table,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        self.scans.fetch_add(1, Ordering::Relaxed);
        self.inner.scan_prefix(table, prefix, visit)
    }

    fn compact(&self, table: Table) -> Result<()> {
        self.inner.compact(table)
    }

    fn preload(&self, table: Table) -> Result<bool> {
        self.inner.preload(table)
    }

    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }
}
