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
mod writer;

use std::collections::HashMap;
use std::sync::Arc;

use matchers::store::{Batch, KvStore, Table};

use matchers::fxhash::FxBuild;

use crate::error::Result;
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
    pending: HashMap<String, T, FxBuild>,
    /// Keys put since the last [`StateTable::take_changes`], in order;
    /// kept only once [`StateTable::track_changes`] was called.
    touched: Vec<(String, i32)>,
    tracks_changes: bool,
    /// The partition of the input being processed (Kafka mode).
    partition: i32,
    /// Values flushed lately, decoded.
    recent: Recent<T>,
    /// Writes committed values in the background (Kafka mode).
    writer: Option<LocalWriter>,
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
    young: HashMap<String, T, FxBuild>,
    old: HashMap<String, T, FxBuild>,
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
        self.young.get(key).or_else(|| self.old.get(key))
    }

    /// Whether inserting `n` more keys may forget some held now.
    fn forgets_after(&self, n: usize) -> bool {
        self.young.len() + n >= RECENT_PER_GENERATION
    }

    fn insert(&mut self, key: String, value: T) {
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
        self.young.remove(key);
        self.old.remove(key);
    }
}

impl<T: StateValue> StateTable<T> {
    /// A view of `table`.
    pub fn new(store: Arc<dyn KvStore>, table: Table) -> Self {
        StateTable {
            store,
            table,
            pending: HashMap::default(),
            touched: Vec::new(),
            tracks_changes: false,
            partition: 0,
            recent: Recent::default(),
            writer: None,
        }
    }

    /// Keeps the keys of every put for [`StateTable::take_changes`]: the
    /// Kafka mode writes each record's changes to the changelog. Embedded
    /// mode has no changelog and does not pay a copy of each key for it.
    pub fn track_changes(&mut self) {
        self.tracks_changes = true;
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
        if let Some(v) = self.pending.get(key).or_else(|| self.recent.get(key)) {
            return Ok(Some(v.clone()));
        }
        match self.store.get(self.table, key.as_bytes())? {
            Some(bytes) => T::decode(&bytes).map(Some).map_err(|detail| {
                matchers::Error::Corrupt {
                    table: self.table.name(),
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
        if !self.pending.contains_key(key) {
            let value = self.get(key)?.unwrap_or_default();
            self.pending.insert(key.to_string(), value);
        }
        if self.tracks_changes {
            self.touched.push((key.to_string(), self.partition));
        }
        // Present: found, or inserted just above.
        Ok(self
            .pending
            .get_mut(key)
            .expect("a pending value under the key"))
    }

    /// The partition of the input the next puts come from: their changes
    /// go to the changelog's partition of the same number.
    pub fn set_partition(&mut self, partition: i32) {
        self.partition = partition;
    }

    /// Sets the value under `key` (written at the next flush).
    pub fn put(&mut self, key: &str, value: T) {
        if self.tracks_changes {
            self.touched.push((key.to_string(), self.partition));
        }
        self.pending.insert(key.to_string(), value);
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
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        touched
            .into_iter()
            .filter_map(|(key, partition)| {
                let value = self.pending.get(&key)?.encode();
                Some(Change {
                    partition,
                    key,
                    value,
                })
            })
            .collect()
    }

    /// Forgets pending writes (their transaction was aborted).
    pub fn discard(&mut self) {
        self.pending.clear();
        self.touched.clear();
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
        for (key, value) in self.pending.drain() {
            self.recent.insert(key, value);
        }
        self.touched.clear();
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
        for (k, v) in &self.pending {
            batch.put(self.table, k.as_bytes().to_vec(), v.encode());
        }
        self.store.write(batch)?;
        self.pending_stored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use matchers::store::MemoryStore;

    #[test]
    fn changes_carry_the_last_value_of_each_key_and_restore_rebuilds_the_table() {
        let store = Arc::new(MemoryStore::new());
        let mut table: StateTable<u32> = StateTable::new(store.clone(), Table::State);
        table.track_changes();
        table.put("C1", 1);
        table.put("C2", 2);
        table.put("C1", 3);
        table.set_partition(3);
        table.put("C4", 4);
        let changes = table.take_changes();
        let change = |key: &str, partition: i32, value: &[u8]| Change {
            partition,
            key: key.to_string(),
            value: value.to_vec(),
        };
        assert_eq!(
            changes,
            vec![
                change("C1", 0, b"3"),
                change("C2", 0, b"2"),
                change("C4", 3, b"4")
            ]
        );
        assert!(table.take_changes().is_empty());
        table.discard();
        assert_eq!(table.get("C1").unwrap(), None);
        let records: Vec<_> = changes
            .into_iter()
            .map(|c| (c.key.into_bytes(), Some(c.value)))
            .collect();
        table.restore(&records).unwrap();
        assert_eq!(table.get("C1").unwrap(), Some(3));
        table.restore(&[(b"C1".to_vec(), None)]).unwrap();
        assert_eq!(table.get("C1").unwrap(), None);
    }

    #[test]
    fn without_tracking_puts_flush_but_list_no_changes() {
        let store = Arc::new(MemoryStore::new());
        let mut table: StateTable<u32> = StateTable::new(store.clone(), Table::State);
        table.put("C1", 1);
        assert!(table.take_changes().is_empty());
        table.flush().unwrap();
        assert_eq!(table.get("C1").unwrap(), Some(1));
        let fresh: StateTable<u32> = StateTable::new(store, Table::State);
        assert_eq!(fresh.get("C1").unwrap(), Some(1));
    }

    /// A table over a store that counts its reads.
    fn counted_table() -> (Arc<matchers::store::CountingStore>, StateTable<u32>) {
        let store = Arc::new(matchers::store::CountingStore::new(Arc::new(
            MemoryStore::new(),
        )));
        let mut table = StateTable::new(store.clone(), Table::State);
        table.track_changes();
        (store, table)
    }

    /// Commits what the table changed, as the Kafka mode does after a
    /// transaction.
    fn commit_changes(table: &mut StateTable<u32>) {
        let changes = table.take_changes();
        commit_changes_of(table, changes);
    }

    /// Commits `changes`, taken from the table already.
    fn commit_changes_of(table: &mut StateTable<u32>, changes: Vec<Change>) {
        let changes = changes
            .into_iter()
            .map(|c| (c.key.into_bytes(), Some(c.value)))
            .collect();
        table.commit_local(changes).unwrap();
    }

    #[test]
    fn an_entry_changes_a_value_in_place_as_a_get_and_a_put_would() {
        let (store, mut table) = counted_table();
        // Missing: the default, changed, and counted as put.
        *table.entry("C1").unwrap() += 5;
        assert_eq!(table.get("C1").unwrap(), Some(5));
        // Pending: changed where it lies, with no store read.
        let reads = store.gets();
        *table.entry("C1").unwrap() += 1;
        assert_eq!(store.gets(), reads);
        assert_eq!(table.get("C1").unwrap(), Some(6));
        let changes = table.take_changes();
        assert_eq!(changes.len(), 1, "one change per key");
        assert_eq!(
            (changes[0].key.as_str(), &changes[0].value[..]),
            ("C1", &b"6"[..])
        );
        commit_changes_of(&mut table, changes);
        // Committed: read from memory, changed, and a change again.
        *table.entry("C1").unwrap() *= 2;
        assert_eq!(table.get("C1").unwrap(), Some(12));
        assert_eq!(table.take_changes()[0].value, b"12");
        // From the store alone, for a fresh table (a restart).
        table.flush().unwrap();
        let mut fresh: StateTable<u32> = StateTable::new(store.clone(), Table::State);
        *fresh.entry("C1").unwrap() += 1;
        assert_eq!(fresh.get("C1").unwrap(), Some(13));
        // Left untouched, an entry is still a put of the value it read.
        let (_, mut other) = counted_table();
        other.put("C2", 7);
        commit_changes(&mut other);
        let _ = other.entry("C2").unwrap();
        assert_eq!(other.take_changes()[0].value, b"7");
    }

    #[test]
    fn committed_values_are_read_from_memory() {
        let (store, mut table) = counted_table();
        table.put("C1", 1);
        table.put("C1", 2);
        table.put("C2", 3);
        commit_changes(&mut table);
        assert_eq!(table.pending(), 0);
        let reads = store.gets();
        assert_eq!(table.get("C1").unwrap(), Some(2));
        assert_eq!(table.get("C2").unwrap(), Some(3));
        assert_eq!(store.gets(), reads, "read from memory");
        // And the store has them, for a restart.
        let fresh: StateTable<u32> = StateTable::new(store.clone(), Table::State);
        assert_eq!(fresh.get("C1").unwrap(), Some(2));
        assert!(store.gets() > reads);
    }

    #[test]
    fn background_writes_land_and_never_overwrite_a_later_restore() {
        let (store, mut table) = counted_table();
        table.write_in_background("test-state").unwrap();
        let commit = |table: &mut StateTable<u32>, key: &str, value: u32| {
            table.put(key, value);
            commit_changes(table);
        };
        for v in 1..=20 {
            commit(&mut table, "C1", v);
        }
        assert_eq!(table.get("C1").unwrap(), Some(20), "from memory at once");
        // A restore waits for the queued writes: none of them lands after it.
        table
            .restore(&[(b"C1".to_vec(), Some(b"7".to_vec()))])
            .unwrap();
        assert_eq!(table.get("C1").unwrap(), Some(7));
        commit(&mut table, "C2", 9);
        table.written().unwrap();
        let fresh: StateTable<u32> = StateTable::new(store.clone(), Table::State);
        assert_eq!(fresh.get("C1").unwrap(), Some(7));
        assert_eq!(fresh.get("C2").unwrap(), Some(9));
    }

    /// A store whose writes take a while, as a busy disk's do.
    struct SlowStore(MemoryStore);

    impl KvStore for SlowStore {
        fn get(&self, table: Table, key: &[u8]) -> matchers::Result<Option<Vec<u8>>> {
            self.0.get(table, key)
        }
        fn write(&self, batch: Batch) -> matchers::Result<()> {
            std::thread::sleep(std::time::Duration::from_millis(300));
            self.0.write(batch)
        }
        fn scan_prefix(
            &self,
            table: Table,
            prefix: &[u8],
            visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
        ) -> matchers::Result<()> {
            self.0.scan_prefix(table, prefix, visit)
        }
    }

    #[test]
    fn the_memory_forgets_only_what_the_background_wrote() {
        let mut table: StateTable<u32> =
            StateTable::new(Arc::new(SlowStore(MemoryStore::new())), Table::State);
        table.track_changes();
        table.write_in_background("test-state").unwrap();
        // One transaction with enough keys to turn the recent generations
        // over twice: its first keys leave the memory at once, so their
        // slow write must have landed first.
        let keys = RECENT_PER_GENERATION * 2 + 10;
        for i in 0..keys {
            table.put(&i.to_string(), i as u32);
        }
        commit_changes(&mut table);
        for i in 0..keys {
            assert_eq!(table.get(&i.to_string()).unwrap(), Some(i as u32));
        }
    }

    #[test]
    fn flushed_values_are_read_from_memory_and_restores_replace_them() {
        let (store, mut table) = counted_table();
        table.put("C1", 1);
        table.flush().unwrap();
        let reads = store.gets();
        assert_eq!(table.get("C1").unwrap(), Some(1));
        assert_eq!(store.gets(), reads, "read from memory");
        // A value that came back from the changelog wins over the memory.
        table
            .restore(&[(b"C1".to_vec(), Some(b"7".to_vec()))])
            .unwrap();
        assert_eq!(table.get("C1").unwrap(), Some(7));
    }

    #[test]
    fn the_memory_is_bounded() {
        let mut recent = Recent::default();
        for i in 0..RECENT_PER_GENERATION * 3 {
            recent.insert(i.to_string(), i);
        }
        assert!(recent.young.len() + recent.old.len() <= 2 * RECENT_PER_GENERATION);
        let last = RECENT_PER_GENERATION * 3 - 1;
        assert_eq!(recent.get(&last.to_string()), Some(&last));
        assert_eq!(recent.get("0"), None);
    }
}
