//! Keyed state of the stages, on the same [`KvStore`] as the index: stage
//! 2's per-customer balances (stage 1's dedupe entries are written in
//! blocks instead: [`crate::dedupe`]).
//!
//! Writes collect in a pending map and reach the store in one atomic batch at
//! [`StateTable::flush`], the stage's commit point: in embedded mode every
//! few thousand payments, in Kafka mode with the transaction. Reads see
//! pending writes first, so the next payment of a customer inside one batch
//! sees the balance the last one left. In Kafka mode the changelog is the
//! durable copy, and a thread of its own writes the store after each
//! commit ([`writer`]).

mod customer;
mod key;
mod writer;

use std::sync::Arc;

use hashbrown::hash_map::EntryRef;
use hashbrown::HashMap;

use matchers::store::{Batch, KvStore, Table};

use matchers::fxhash::FxBuild;

use crate::error::Result;
use key::{Key, Lookup};
use writer::LocalWriter;

pub use customer::{AccessOverride, CustomerState};

/// How a state table's values are stored, in RocksDB and on the Kafka
/// changelog. JSON unless a table has reason to be compact.
pub trait StateValue: Clone {
    /// The stored bytes.
    fn encode(&self) -> Vec<u8>;

    /// Reads stored bytes back.
    ///
    /// # Errors
    /// Bytes this type never wrote, with why.
    fn decode(bytes: &[u8]) -> std::result::Result<Self, String>;
}

/// JSON-stored values.
macro_rules! json_state_value {
    ($($t:ty),*) => {$(
        impl StateValue for $t {
            fn encode(&self) -> Vec<u8> {
                serde_json::to_vec(self).unwrap_or_default()
            }
            fn decode(bytes: &[u8]) -> std::result::Result<Self, String> {
                serde_json::from_slice(bytes).map_err(|e| e.to_string())
            }
        }
    )*};
}

json_state_value!(u32);

/// A state change for a changelog: which partition, key and value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The changelog partition (that of the input that caused it).
    pub partition: i32,
    /// The record key.
    pub key: String,
    /// The record value.
    pub value: Vec<u8>,
}

/// A typed view of one table with write-behind.
pub struct StateTable<T> {
    store: Arc<dyn KvStore>,
    table: Table,
    pending: HashMap<Key, Pending<T>, FxBuild>,
    /// The keys for the changelog.
    changes: Changes,
    /// Values flushed lately, decoded.
    recent: Recent<T>,
    /// Writes committed values in the background (Kafka mode).
    writer: Option<LocalWriter>,
}

/// The keys put since the last [`StateTable::take_changes`], for the
/// changelog (Kafka mode).
#[derive(Default)]
struct Changes {
    /// Kept only once [`StateTable::track_changes`] was called.
    tracks: bool,
    /// The keys, each with its input's partition, in order.
    touched: Vec<(Key, i32)>,
    /// How many times [`StateTable::take_changes`] ran.
    taken: u64,
    /// The partition of the input being processed.
    partition: i32,
}

impl Changes {
    /// Lists `key` unless its pending value's `listed_at` says it was
    /// listed since the last take, and marks it.
    fn list(&mut self, key: &str, listed_at: &mut Option<u64>) {
        if self.tracks && *listed_at != Some(self.taken) {
            *listed_at = Some(self.taken);
            self.touched.push((Key::new(key), self.partition));
        }
    }
}

/// A value not yet in the store, and when its key was last listed for the
/// changelog.
struct Pending<T> {
    value: T,
    /// The [`StateTable::take_changes`] count when its key was last pushed
    /// to `touched`: a customer paid for a thousand times in a transaction
    /// is listed once, not copied a thousand times and sorted away.
    listed_at: Option<u64>,
}

/// Keys per generation of [`Recent`]: it holds between this many and twice
/// as many of the latest flushed values.
const RECENT_PER_GENERATION: usize = 1 << 18;

/// The values a table flushed lately, in memory, so the reads that follow
/// writes closely — a redelivery a few seconds after its payment, the next
/// payment of the same customer — need no store read (in RocksDB, a probe
/// of every young file). Two generations: when the young one is full it
/// becomes the old one and the old one is dropped, so the memory is bounded
/// without tracking the age of each key.
struct Recent<T> {
    young: HashMap<Key, T, FxBuild>,
    old: HashMap<Key, T, FxBuild>,
}

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Recent {
            young: HashMap::default(),
            old: HashMap::default(),
        }
    }
}

impl<T> Recent<T> {
    fn get(&self, key: &str) -> Option<&T> {
        let key = Lookup(key);
        self.young.get(&key).or_else(|| self.old.get(&key))
    }

    /// Whether inserting `n` more keys may forget some held now.
    fn forgets_after(&self, n: usize) -> bool {
        self.young.len() + n >= RECENT_PER_GENERATION
    }

    fn insert(&mut self, key: Key, value: T) {
        if self.young.len() >= RECENT_PER_GENERATION {
            // Reuse the old generation's table: no rehashing while the new
            // one grows, and no fresh pages for the kernel to zero.
            std::mem::swap(&mut self.young, &mut self.old);
            self.young.clear();
        }
        // The first generation grows with its keys instead of reserving a
        // full generation up front: a table sized for 2^18 keys spreads a
        // few thousand customers over 50 MiB, and each first write to one
        // of its pages was a page to zero (a tenth of stage 2's thread in
        // Kafka mode; BENCHMARKS, Kafka "Session 25").
        self.young.insert(key, value);
    }

    fn forget(&mut self, key: &str) {
        self.young.remove(&Lookup(key));
        self.old.remove(&Lookup(key));
    }
}

impl<T: StateValue> StateTable<T> {
    /// A view of `table`.
    pub fn new(store: Arc<dyn KvStore>, table: Table) -> Self {
        StateTable {
            store,
            table,
            pending: HashMap::default(),
            changes: Changes::default(),
            recent: Recent::default(),
            writer: None,
        }
    }

    /// Keeps the keys of every put for [`StateTable::take_changes`]: the
    /// Kafka mode writes each record's changes to the changelog. Embedded
    /// mode has no changelog and does not pay a copy of each key for it.
    pub fn track_changes(&mut self) {
        self.changes.tracks = true;
    }

    /// Writes what [`StateTable::commit_local`] is given on a thread named
    /// `thread`, so the stage goes on with its next transaction meanwhile
    /// (Kafka mode, where the changelog is the durable copy). Values stay
    /// in memory until their write has landed.
    ///
    /// # Errors
    /// The OS refused a thread.
    pub fn write_in_background(&mut self, thread: &str) -> Result<()> {
        self.writer = Some(LocalWriter::spawn(self.store.clone(), thread)?);
        Ok(())
    }

    /// Waits for the background writes, if any.
    fn written(&self) -> Result<()> {
        match &self.writer {
            Some(writer) => writer.wait(),
            None => Ok(()),
        }
    }

    /// The value under `key`, pending writes first.
    ///
    /// # Errors
    /// A storage failure or a corrupt value.
    pub fn get(&self, key: &str) -> Result<Option<T>> {
        if let Some(v) = self.pending.get(&Lookup(key)).map(|p| &p.value) {
            return Ok(Some(v.clone()));
        }
        Self::read_settled(&self.recent, &*self.store, self.table, key)
    }

    /// The value under `key` in memory (recent) or in the store, pending
    /// writes aside. Of the table's fields it reads only these, so a
    /// caller may hold a pending entry meanwhile.
    fn read_settled(
        recent: &Recent<T>,
        store: &dyn KvStore,
        table: Table,
        key: &str,
    ) -> Result<Option<T>> {
        if let Some(v) = recent.get(key) {
            return Ok(Some(v.clone()));
        }
        match store.get(table, key.as_bytes())? {
            Some(bytes) => T::decode(&bytes).map(Some).map_err(|detail| {
                matchers::Error::Corrupt {
                    table: table.name(),
                    key: key.to_string(),
                    detail,
                }
                .into()
            }),
            None => Ok(None),
        }
    }

    /// The value under `key` to change in place (the default when there
    /// is none), as a [`StateTable::get`] and a [`StateTable::put`] of the
    /// changed value would: the key counts as put. A key already pending is
    /// changed where it lies, with no copy of its value and no new key;
    /// cloning a customer's state per payment was a tenth of stage 2's
    /// thread in Kafka mode (BENCHMARKS, Kafka "Session 28").
    ///
    /// # Errors
    /// A storage failure or a corrupt value; nothing is put then.
    pub fn entry(&mut self, key: &str) -> Result<&mut T>
    where
        T: Default,
    {
        // One probe of the pending map, hit or miss (BENCHMARKS, Kafka
        // "Sessions 29 and 30").
        let pending = match self.pending.entry_ref(&Lookup(key)) {
            EntryRef::Occupied(found) => found.into_mut(),
            EntryRef::Vacant(slot) => {
                let value = Self::read_settled(&self.recent, &*self.store, self.table, key)?;
                slot.insert(Pending {
                    value: value.unwrap_or_default(),
                    listed_at: None,
                })
            }
        };
        self.changes.list(key, &mut pending.listed_at);
        Ok(&mut pending.value)
    }

    /// The partition of the input the next puts come from: their changes
    /// go to the changelog's partition of the same number.
    pub fn set_partition(&mut self, partition: i32) {
        self.changes.partition = partition;
    }

    /// Sets the value under `key` (written at the next flush).
    pub fn put(&mut self, key: &str, value: T) {
        let pending = match self.pending.entry_ref(&Lookup(key)) {
            EntryRef::Occupied(found) => {
                let pending = found.into_mut();
                pending.value = value;
                pending
            }
            EntryRef::Vacant(slot) => slot.insert(Pending {
                value,
                listed_at: None,
            }),
        };
        self.changes.list(key, &mut pending.listed_at);
    }

    /// The keys put since the last call (once changes are tracked: see
    /// [`StateTable::track_changes`]), each once with its latest pending
    /// value encoded as stored: what the Kafka mode writes to the stage's
    /// changelog topic at the end of a transaction, and after the commit
    /// to the store with [`StateTable::commit_local`] (encoded once for
    /// both). A customer paid for five times in one transaction is one
    /// record, as in Kafka Streams' record cache: the changelog only has
    /// to rebuild the state each commit left.
    pub fn take_changes(&mut self) -> Vec<Change> {
        // Sorting beats hashing here, and distinct keys need no particular
        // order. One key always comes from one partition (inputs are keyed
        // by it), so the pairs dedupe as keys do.
        let mut touched = std::mem::take(&mut self.changes.touched);
        self.changes.taken += 1;
        touched.sort_unstable();
        touched.dedup();
        touched
            .into_iter()
            .filter_map(|(key, partition)| {
                let value = self.pending.get(&key)?.value.encode();
                Some(Change {
                    partition,
                    key: key.to_text(),
                    value,
                })
            })
            .collect()
    }

    /// Forgets pending writes (their transaction was aborted).
    pub fn discard(&mut self) {
        self.pending.clear();
        self.changes.touched.clear();
    }

    /// Writes values exactly as read back from a changelog into the store
    /// (tombstones delete), bypassing the pending map.
    ///
    /// # Errors
    /// A storage failure.
    pub fn restore(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        // No older write of the same keys may land after these.
        self.written()?;
        for (key, _) in records {
            self.recent.forget(&String::from_utf8_lossy(key));
        }
        self.store.write(self.batch(records.iter().cloned()))?;
        Ok(())
    }

    /// The transaction that carried `records` (this table's
    /// [`StateTable::take_changes`]) committed: writes them to the store
    /// (in the background, once [`StateTable::write_in_background`] was
    /// called), and keeps the pending values — those just written — in
    /// memory as the latest, as a flush does. (Kafka mode used to restore
    /// them, which forgot every key it had just committed: the next
    /// payment of the same customer read its state back from RocksDB.)
    ///
    /// # Errors
    /// A storage failure (of this write, or of an earlier one in the
    /// background).
    pub fn commit_local(&mut self, records: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<()> {
        let batch = self.batch(records.into_iter());
        match &self.writer {
            Some(writer) => writer.write(batch)?,
            None => self.store.write(batch)?,
        }
        self.pending_stored()
    }

    /// The pending values are in the store now (or queued for it): they
    /// become the recent ones, read from memory. Before the memory forgets
    /// older values to make room, their background writes must have landed.
    fn pending_stored(&mut self) -> Result<()> {
        if self.recent.forgets_after(self.pending.len()) {
            self.written()?;
        }
        for (key, pending) in self.pending.drain() {
            self.recent.insert(key, pending.value);
        }
        self.changes.touched.clear();
        Ok(())
    }

    fn batch(&self, records: impl Iterator<Item = (Vec<u8>, Option<Vec<u8>>)>) -> Batch {
        let mut batch = Batch::default();
        for (key, value) in records {
            match value {
                Some(v) => batch.put(self.table, key, v),
                None => batch.delete(self.table, key),
            }
        }
        batch
    }

    /// Number of pending writes.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Writes pending values to the store.
    ///
    /// # Errors
    /// A storage failure; pending values are kept to retry.
    pub fn flush(&mut self) -> Result<()> {
        self.written()?;
        let mut batch = Batch::default();
        for (k, p) in &self.pending {
            batch.put(self.table, k.as_bytes().to_vec(), p.value.encode());
        }
        self.store.write(batch)?;
        self.pending_stored()
    }
}

#[cfg(test)]
mod tests;
