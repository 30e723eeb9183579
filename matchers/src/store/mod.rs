//! The key-value store under the index, the dedupe table and stage state.
//!
//! One small trait, two backends: [`RocksStore`] (the real one) and
//! [`MemoryStore`] (tests, and short-lived runs that need no disk). Secondary
//! keys are *sets* (several customers can share a phone number); sets are
//! updated with blind merge operands (`add`/`remove` a member), which RocksDB
//! folds in with a merge operator, so indexing never reads before it writes.

mod cached;
mod counting;
mod memory;
mod rocks;
pub mod set;
mod shared;

pub use cached::CachedStore;
pub use counting::CountingStore;
pub use memory::MemoryStore;
pub use rocks::{RocksOptions, RocksStore};
pub use shared::SharedBytes;

use crate::error::Result;

/// The tables (RocksDB column families).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// `customer_id` → customer record.
    Customers,
    /// `invoice_id` → invoice record.
    Invoices,
    /// Secondary keys → sets of members (see `index::keys`).
    Refs,
    /// `payment_id` → the first decision's summary, for redeliveries.
    Dedupe,
    /// Stage 2 state: balances, allocations, access overrides.
    State,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 5] = [
        Table::Customers,
        Table::Invoices,
        Table::Refs,
        Table::Dedupe,
        Table::State,
    ];

    /// The column family name.
    pub fn name(&self) -> &'static str {
        match self {
            Table::Customers => "customers",
            Table::Invoices => "invoices",
            Table::Refs => "refs",
            Table::Dedupe => "dedupe",
            Table::State => "state",
        }
    }
}

/// One write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Set a value.
    Put(Table, Vec<u8>, Vec<u8>),
    /// Remove a key.
    Delete(Table, Vec<u8>),
    /// Add a member to the set under a key.
    SetAdd(Table, Vec<u8>, Vec<u8>),
    /// Remove a member from the set under a key.
    SetRemove(Table, Vec<u8>, Vec<u8>),
    /// Several additions and removals to the set under a key, already
    /// encoded as one merge run (see [`set::run`]): one write instead of many.
    SetChanges(Table, Vec<u8>, Vec<u8>),
}

impl Op {
    /// The table and key it writes.
    pub fn target(&self) -> (Table, &[u8]) {
        match self {
            Op::Put(t, k, _)
            | Op::Delete(t, k)
            | Op::SetAdd(t, k, _)
            | Op::SetRemove(t, k, _)
            | Op::SetChanges(t, k, _) => (*t, k),
        }
    }
}

/// Writes applied atomically, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// The writes.
    pub ops: Vec<Op>,
}

impl Batch {
    /// Queues a put.
    pub fn put(&mut self, table: Table, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(Op::Put(table, key.into(), value.into()));
    }
    /// Queues a delete.
    pub fn delete(&mut self, table: Table, key: impl Into<Vec<u8>>) {
        self.ops.push(Op::Delete(table, key.into()));
    }
    /// Queues a set addition.
    pub fn set_add(&mut self, table: Table, key: impl Into<Vec<u8>>, member: impl Into<Vec<u8>>) {
        self.ops.push(Op::SetAdd(table, key.into(), member.into()));
    }
    /// Queues a set removal.
    pub fn set_remove(
        &mut self,
        table: Table,
        key: impl Into<Vec<u8>>,
        member: impl Into<Vec<u8>>,
    ) {
        self.ops
            .push(Op::SetRemove(table, key.into(), member.into()));
    }
    /// Number of queued writes.
    pub fn len(&self) -> usize {
        self.ops.len()
    }
    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A key-value store with tables, atomic batches and set-valued keys.
///
/// Implementations must make a written batch visible to the next `get` on
/// any thread, and apply a batch all or nothing.
pub trait KvStore: Send + Sync {
    /// Reads one value.
    ///
    /// # Errors
    /// A storage failure.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Reads one value as shared bytes: a store with a memory tier hands
    /// out the bytes it holds (inline or shared) instead of a copy.
    ///
    /// # Errors
    /// A storage failure.
    fn get_shared(&self, table: Table, key: &[u8]) -> Result<Option<SharedBytes>> {
        Ok(self.get(table, key)?.map(SharedBytes::from))
    }

    /// Reads several keys of `table` at once, each answer as
    /// [`KvStore::get_shared`] gives it, in order. A store with a memory
    /// tier touches where all of them are held before it reads any, so
    /// their cache misses overlap instead of adding up, and finds each key
    /// once (one hash, one lock) instead of once to touch and once to
    /// read. The default reads them one by one.
    fn get_many_shared(&self, table: Table, keys: &[&[u8]]) -> Vec<Result<Option<SharedBytes>>> {
        keys.iter().map(|key| self.get_shared(table, key)).collect()
    }

    /// Reads the members of a set-valued key in place (none when absent).
    ///
    /// # Errors
    /// A storage failure or a value that is not a set.
    fn members(&self, table: Table, key: &[u8]) -> Result<set::Members> {
        set::Members::parse(self.get_shared(table, key)?)
            .map_err(|detail| corrupt_set(table, key, detail))
    }

    /// Applies a batch atomically.
    ///
    /// # Errors
    /// A storage failure; nothing of the batch is applied then.
    fn write(&self, batch: Batch) -> Result<()>;

    /// Visits keys starting with `prefix` in order, until `visit` returns false.
    ///
    /// # Errors
    /// A storage failure.
    fn scan_prefix(
        &self,
        table: Table,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()>;

    /// Compacts a table after a bulk load, so reads find merged values in
    /// files with bloom filters instead of long chains of merge operands.
    ///
    /// # Errors
    /// A storage failure.
    fn compact(&self, _table: Table) -> Result<()> {
        Ok(())
    }

    /// Loads a whole table into a memory tier, if the store has one;
    /// returns whether the table is now held complete.
    ///
    /// # Errors
    /// A storage failure.
    fn preload(&self, _table: Table) -> Result<bool> {
        Ok(false)
    }

    /// Makes everything written so far durable (a no-op in memory).
    ///
    /// # Errors
    /// A storage failure.
    fn flush(&self) -> Result<()> {
        Ok(())
    }
}

/// A set-valued key whose value is not a set.
pub(crate) fn corrupt_set(table: Table, key: &[u8], detail: String) -> crate::Error {
    crate::Error::Corrupt {
        table: table.name(),
        key: String::from_utf8_lossy(key).into_owned(),
        detail,
    }
}

/// The members of a set-valued key, owned, for tests' comparisons.
#[cfg(test)]
pub(crate) fn owned_members(store: &dyn KvStore, table: Table, key: &[u8]) -> Vec<Vec<u8>> {
    store
        .members(table, key)
        .expect("a readable set")
        .iter()
        .map(<[u8]>::to_vec)
        .collect()
}
