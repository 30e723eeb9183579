//! An in-memory tier in front of another store, for the index tables.
//!
//! Stage 1 reads a few key families for every payment; even from RocksDB's
//! block cache a point read costs over a microsecond (memtable probe, bloom
//! filter, block seek, LRU bookkeeping), and a payment needs several. Every
//! instance holds the whole index anyway (a global table), so this
//! decorator keeps it in a sharded hash map, bounded by an entry count:
//!
//! * **read-through**: answers — including "absent" — are cached as read;
//! * **complete**: after [`KvStore::preload`] a table that fits is held
//!   whole, so a miss *is* the answer and never reaches RocksDB; writes then
//!   refresh the cached value instead of dropping it.
//!
//! Keys with a bypass prefix (the large typo-key family, read only for
//! unresolved references) go straight to the inner store. Every write passes
//! through here; a per-shard version number stops a reader that read the old
//! value before a write from caching it after.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::{Batch, KvStore, Op, SharedBytes, Table};
use crate::error::Result;
use crate::line_table::{hash_key, LineTable};

/// Shards, each behind its own lock. A batch's reads take one lock per
/// shard they touch, twice (touch, then get): with 64 shards a batch's
/// few dozen keys fell one to a shard, a lock and an unlock per key per
/// pass. 16 let them share locks (stage 1 +1.9 % side by side,
/// BENCHMARKS session 26); the index's writers are one follower thread,
/// and the readers two stage threads, so contention stays rare.
const SHARDS: usize = 16;

#[derive(Default)]
struct Shard {
    /// One map per table (indexed by table ordinal), keyed by the raw key
    /// (a cache line per entry: see `line_table`).
    tables: [LineTable<Option<SharedBytes>>; Table::ALL.len()],
    version: u64,
}

impl Shard {
    fn len(&self) -> usize {
        self.tables.iter().map(LineTable::len).sum()
    }
}

/// Where a key lives: its shard and its hash.
#[derive(Clone, Copy)]
struct Place {
    shard: usize,
    hash: u64,
}

/// A caching decorator over a [`KvStore`].
pub struct CachedStore {
    inner: Arc<dyn KvStore>,
    tables: Vec<Table>,
    bypass: Vec<(Table, Vec<u8>)>,
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    complete: [AtomicBool; Table::ALL.len()],
    entries: AtomicUsize,
}

fn ordinal(table: Table) -> usize {
    Table::ALL.iter().position(|t| *t == table).unwrap_or(0)
}

impl CachedStore {
    /// Caches reads of `tables` from `inner`, holding at most about
    /// `max_entries` answers (a full shard is emptied and refilled, and its
    /// table stops being complete). Keys of a table starting with a
    /// `bypass` prefix are never cached.
    pub fn new(
        inner: Arc<dyn KvStore>,
        tables: &[Table],
        bypass: &[(Table, &[u8])],
        max_entries: usize,
    ) -> Self {
        CachedStore {
            inner,
            tables: tables.to_vec(),
            bypass: bypass.iter().map(|(t, p)| (*t, p.to_vec())).collect(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: (max_entries / SHARDS).max(16),
            complete: Default::default(),
            entries: AtomicUsize::new(0),
        }
    }

    fn cached(&self, table: Table, key: &[u8]) -> bool {
        self.tables.contains(&table)
            && !self
                .bypass
                .iter()
                .any(|(t, p)| *t == table && key.starts_with(p))
    }

    fn is_complete(&self, table: Table) -> bool {
        self.complete[ordinal(table)].load(Ordering::Acquire)
    }

    /// Inserts into a locked shard, evicting (and giving up completeness)
    /// when the shard is full.
    fn insert(
        &self,
        shard: &mut Shard,
        table: Table,
        place: Place,
        key: &[u8],
        value: Option<SharedBytes>,
    ) {
        if shard.len() >= self.per_shard {
            let dropped = shard.len();
            shard.tables.iter_mut().for_each(LineTable::clear);
            self.entries.fetch_sub(dropped, Ordering::Relaxed);
            for flag in &self.complete {
                flag.store(false, Ordering::Release);
            }
        }
        if shard.tables[ordinal(table)]
            .insert(place.hash, key, value)
            .is_none()
        {
            self.entries.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Answers held in memory.
    pub fn len(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn place(table: Table, key: &[u8]) -> Place {
        let hash = hash_key(key);
        // The low bits pick the slot; the high ones, with the table, the
        // shard.
        Place {
            shard: ((hash >> 40) as usize + ordinal(table)) % SHARDS,
            hash,
        }
    }

    fn lock(&self, shard: usize) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[shard].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A read of a table this tier holds: from memory, else read through
    /// and kept.
    fn get_held(&self, table: Table, key: &[u8]) -> Result<Option<SharedBytes>> {
        let place = Self::place(table, key);
        let version = {
            let shard = self.lock(place.shard);
            if let Some(hit) = shard.tables[ordinal(table)].get(place.hash, key) {
                return Ok(hit.clone());
            }
            if self.is_complete(table) {
                return Ok(None);
            }
            shard.version
        };
        let value = self.inner.get_shared(table, key)?;
        let mut shard = self.lock(place.shard);
        if shard.version == version {
            self.insert(&mut shard, table, place, key, value.clone());
        }
        Ok(value)
    }

    /// Where each of `keys` this tier holds lives, with its position in
    /// `keys`, by shard. Every key is hashed here, first (the keys are in
    /// cache), so the touching loop has nothing between its loads but an
    /// index.
    fn places(&self, table: Table, keys: &[&[u8]]) -> Vec<(usize, Place)> {
        let mut places: Vec<(usize, Place)> = keys
            .iter()
            .enumerate()
            .filter(|(_, key)| self.cached(table, key))
            .map(|(at, key)| (at, Self::place(table, key)))
            .collect();
        places.sort_unstable_by_key(|(_, place)| place.shard);
        places
    }

    /// Loads the line each of `places` starts its probe from: misses that
    /// overlap (see `line_table`).
    fn touch(&self, table: Table, places: &[(usize, Place)]) {
        let map = ordinal(table);
        let mut touched = 0u64;
        // One lock per shard; a lock does not hold back the loads after
        // it (`memory_latency`: 16 ns a read after an atomic, 13 without).
        for same_shard in places.chunk_by(|a, b| a.1.shard == b.1.shard) {
            let shard = self.lock(same_shard[0].1.shard);
            for (_, place) in same_shard {
                touched ^= shard.tables[map].touch(place.hash);
            }
        }
        std::hint::black_box(touched);
    }

    fn invalidate(&self, table: Table, key: &[u8]) {
        let place = Self::place(table, key);
        let mut shard = self.lock(place.shard);
        shard.version += 1;
        if shard.tables[ordinal(table)]
            .remove(place.hash, key)
            .is_some()
        {
            self.entries.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl KvStore for CachedStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if !self.cached(table, key) {
            // Straight through: no shared copy to copy again.
            return self.inner.get(table, key);
        }
        Ok(self.get_held(table, key)?.map(|bytes| bytes.to_vec()))
    }

    fn get_shared(&self, table: Table, key: &[u8]) -> Result<Option<SharedBytes>> {
        if !self.cached(table, key) {
            return self.inner.get_shared(table, key);
        }
        self.get_held(table, key)
    }

    fn get_many_shared(&self, table: Table, keys: &[&[u8]]) -> Vec<Result<Option<SharedBytes>>> {
        if !self.tables.contains(&table) {
            return self.inner.get_many_shared(table, keys);
        }
        let held = self.places(table, keys);
        self.touch(table, &held);
        // Then read them in the same order (the first touched has had the
        // longest to arrive), one lock per shard.
        let map = ordinal(table);
        let mut answers: Vec<Option<Option<SharedBytes>>> = vec![None; keys.len()];
        for same_shard in held.chunk_by(|a, b| a.1.shard == b.1.shard) {
            let shard = self.lock(same_shard[0].1.shard);
            for (at, place) in same_shard {
                let key = &keys[*at];
                match shard.tables[map].get(place.hash, key) {
                    Some(hit) => answers[*at] = Some(hit.clone()),
                    None if self.is_complete(table) => answers[*at] = Some(None),
                    None => {}
                }
            }
        }
        // The rest (bypassed keys, misses of a table not held whole) as
        // one read each.
        answers
            .into_iter()
            .zip(keys)
            .map(|(answer, key)| answer.map_or_else(|| self.get_shared(table, key), Ok))
            .collect()
    }

    fn write(&self, batch: Batch) -> Result<()> {
        let touched: Vec<(Table, Vec<u8>)> = batch
            .ops
            .iter()
            .map(Op::target)
            .filter(|(t, k)| self.cached(*t, k))
            .map(|(t, k)| (t, k.to_vec()))
            .collect();
        for (t, k) in &touched {
            self.invalidate(*t, k);
        }
        let result = self.inner.write(batch);
        for (t, k) in touched {
            self.invalidate(t, &k);
            if result.is_ok() && self.is_complete(t) {
                // Keep a complete table complete: cache the merged value.
                let value = self.inner.get_shared(t, &k)?;
                let place = Self::place(t, &k);
                let mut shard = self.lock(place.shard);
                self.insert(&mut shard, t, place, &k, value);
            }
        }
        result
    }

    fn preload(&self, table: Table) -> Result<bool> {
        if !self.tables.contains(&table) {
            return Ok(false);
        }
        let capacity = self.per_shard * SHARDS;
        let mut fits = true;
        self.inner.scan_prefix(table, b"", &mut |key, value| {
            if !self.cached(table, key) {
                return true;
            }
            if self.len() >= capacity * 9 / 10 {
                fits = false;
                return false;
            }
            let place = Self::place(table, key);
            let mut shard = self.lock(place.shard);
            if shard.len() >= self.per_shard {
                fits = false;
                return false;
            }
            self.insert(
                &mut shard,
                table,
                place,
                key,
                Some(SharedBytes::from(value)),
            );
            true
        })?;
        self.complete[ordinal(table)].store(fits, Ordering::Release);
        Ok(fits)
    }

    fn scan_prefix(
        &self,
        table: Table,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        self.inner.scan_prefix(table, prefix, visit)
    }

    fn compact(&self, table: Table) -> Result<()> {
        self.inner.compact(table)
    }

    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn writes_are_seen_through_the_cache() {
        let store = CachedStore::new(
            Arc::new(MemoryStore::new()),
            &[Table::Refs, Table::Customers],
            &[],
            1000,
        );
        assert_eq!(store.get(Table::Customers, b"C1").unwrap(), None);
        let mut b = Batch::default();
        b.put(Table::Customers, b"C1".to_vec(), b"v1".to_vec());
        b.set_add(Table::Refs, b"k".to_vec(), b"C1".to_vec());
        store.write(b).unwrap();
        assert_eq!(
            store.get(Table::Customers, b"C1").unwrap(),
            Some(b"v1".to_vec())
        );
        assert_eq!(
            crate::store::owned_members(&store, Table::Refs, b"k"),
            vec![b"C1".to_vec()]
        );
        let mut b = Batch::default();
        b.delete(Table::Customers, b"C1".to_vec());
        b.set_remove(Table::Refs, b"k".to_vec(), b"C1".to_vec());
        store.write(b).unwrap();
        assert_eq!(store.get(Table::Customers, b"C1").unwrap(), None);
        assert!(crate::store::owned_members(&store, Table::Refs, b"k").is_empty());
    }

    #[test]
    fn short_and_long_keys_are_found_alike() {
        let store = CachedStore::new(Arc::new(MemoryStore::new()), &[Table::Refs], &[], 1000);
        let long = vec![b'h'; crate::inline_key::INLINE + 1];
        for key in [&b""[..], b"x:A", &[b'p'; crate::inline_key::INLINE], &long] {
            let mut b = Batch::default();
            b.put(Table::Refs, key.to_vec(), key.to_vec());
            store.write(b).unwrap();
            assert_eq!(store.get(Table::Refs, key).unwrap(), Some(key.to_vec()));
            assert_eq!(store.get(Table::Refs, key).unwrap(), Some(key.to_vec()));
        }
    }

    #[test]
    fn the_bound_holds() {
        let store = CachedStore::new(Arc::new(MemoryStore::new()), &[Table::Refs], &[], 64 * 16);
        for i in 0..100_000u32 {
            store.get(Table::Refs, &i.to_le_bytes()).unwrap();
        }
        let total: usize = store.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= 64 * 16);
    }

    #[test]
    fn a_complete_table_answers_misses_and_stays_current() {
        let inner = Arc::new(MemoryStore::new());
        let mut b = Batch::default();
        b.put(Table::Customers, b"C1".to_vec(), b"v1".to_vec());
        b.set_add(Table::Refs, b"x:A".to_vec(), b"C1".to_vec());
        b.set_add(Table::Refs, b"f:A".to_vec(), b"A".to_vec());
        inner.write(b).unwrap();
        let store = CachedStore::new(
            inner.clone(),
            &[Table::Refs, Table::Customers],
            &[(Table::Refs, b"f:")],
            10_000,
        );
        assert!(store.preload(Table::Customers).unwrap());
        assert!(store.preload(Table::Refs).unwrap());
        assert_eq!(store.len(), 2, "the bypassed family is not held");
        assert_eq!(
            store.get(Table::Customers, b"C1").unwrap(),
            Some(b"v1".to_vec())
        );
        assert_eq!(store.get(Table::Customers, b"C2").unwrap(), None);
        // Merges through the cache land merged in it.
        let mut b = Batch::default();
        b.set_add(Table::Refs, b"x:A".to_vec(), b"C2".to_vec());
        b.put(Table::Customers, b"C2".to_vec(), b"v2".to_vec());
        store.write(b).unwrap();
        assert_eq!(
            crate::store::owned_members(&store, Table::Refs, b"x:A"),
            vec![b"C1".to_vec(), b"C2".to_vec()]
        );
        assert_eq!(
            store.get(Table::Customers, b"C2").unwrap(),
            Some(b"v2".to_vec())
        );
        assert_eq!(
            crate::store::owned_members(&store, Table::Refs, b"f:A"),
            vec![b"A".to_vec()]
        );
    }

    proptest::proptest! {
        /// Read together, keys answer as read one by one: held or not,
        /// bypassed or not, present or not, short or long, with the tier
        /// complete (preloaded) or read-through (cold, or warmed by the
        /// reads of an earlier round).
        #[test]
        fn many_read_together_answer_as_one_by_one(
            stored in proptest::collection::vec(0u8..40, 0..30),
            wanted in proptest::collection::vec(0u8..48, 0..40),
            warm in 0u8..3,
        ) {
            let key = |i: u8| {
                let prefix = if i.is_multiple_of(5) { "f:" } else { "x:" };
                let mut key = format!("{prefix}{i}").into_bytes();
                if i.is_multiple_of(7) {
                    key.extend_from_slice(&[b'l'; 30]);
                }
                key
            };
            let inner = Arc::new(MemoryStore::new());
            let mut b = Batch::default();
            for i in &stored {
                b.put(Table::Refs, key(*i), vec![*i; usize::from(*i)]);
            }
            inner.write(b).unwrap();
            let store = CachedStore::new(inner, &[Table::Refs], &[(Table::Refs, b"f:")], 10_000);
            let keys: Vec<Vec<u8>> = wanted.iter().map(|i| key(*i)).collect();
            let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            match warm {
                0 => {}
                1 => drop(store.get_many_shared(Table::Refs, &keys[..keys.len() / 2])),
                _ => assert!(store.preload(Table::Refs).unwrap()),
            }
            let together: Vec<Option<Vec<u8>>> = store
                .get_many_shared(Table::Refs, &keys)
                .into_iter()
                .map(|r| r.unwrap().map(|b| b.to_vec()))
                .collect();
            let one_by_one: Vec<Option<Vec<u8>>> =
                keys.iter().map(|k| store.get(Table::Refs, k).unwrap()).collect();
            proptest::prop_assert_eq!(together, one_by_one);
        }
    }

    #[test]
    fn a_table_too_big_stays_read_through() {
        let inner = Arc::new(MemoryStore::new());
        let mut b = Batch::default();
        for i in 0..5_000u32 {
            b.put(Table::Customers, i.to_le_bytes().to_vec(), b"v".to_vec());
        }
        inner.write(b).unwrap();
        let store = CachedStore::new(inner, &[Table::Customers], &[], 64 * 16);
        assert!(!store.preload(Table::Customers).unwrap());
        assert_eq!(
            store
                .get(Table::Customers, &4_999u32.to_le_bytes())
                .unwrap(),
            Some(b"v".to_vec())
        );
    }
}
