//! A hash table with one cache line per slot, for the hot path's big maps.
//!
//! std's `HashMap` keeps its control bytes apart from its slots, so a get
//! in a table far larger than the caches waits for two misses, one after
//! the other. Here a key's home slot is computed from its hash alone and
//! holds the hash, the key and the value in one 64-byte line: a get that
//! finds its key at home waits for one miss. And a batch can *touch* the
//! homes of all its keys first ([`LineTable::touch`]), with nothing
//! between the loads but an index computation, so the processor overlaps
//! those misses (`benches --bin memory_latency`: about 10 ns a touch,
//! against 250–450 ns a get from std's map).
//!
//! Linear probing, at most 7/8 full, with backward-shift deletion (no
//! tombstones to sweep). Keys are [`InlineKey`]s, hashed by [`hash_key`].
//! Callers compute the hash once and use it for the shard, the home slot
//! and the comparison.

use std::hash::Hasher;

use crate::fxhash::FxHasher;
use crate::inline_key::InlineKey;

/// A hash of a key's bytes for [`LineTable`]: FxHash (see `fxhash`), its
/// length, then murmur3's 64-bit finalizer, which spreads every input bit
/// over the low bits (the home slot) and the high bits (a shard).
pub(crate) fn hash_key(bytes: &[u8]) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write(bytes);
    // FxHash pads the last word with zeros: `ab` and `ab\0` would collide.
    hasher.write_u8(bytes.len() as u8);
    let mut hash = hasher.finish();
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// The most a table holds, as a fraction of its slots, before it doubles.
/// Linear probing reads about `(1 + 1/(1-a)) / 2` slots to find a key at
/// load `a`, and `(1 + 1/(1-a)²) / 2` to find a key absent: at 7/8 that is
/// 4.5 and 32 lines, where a batch's read-ahead touches one.
const LOAD: (usize, usize) = (3, 4);

struct Entry<V> {
    hash: u64,
    key: InlineKey,
    value: V,
}

/// One slot, alone on its cache line.
#[repr(align(64))]
struct Line<V>(Option<Entry<V>>);

/// An open-addressing map from byte-string keys to `V` (see the module
/// docs). Every method takes the key's [`hash_key`].
pub(crate) struct LineTable<V> {
    lines: Vec<Line<V>>,
    len: usize,
}

impl<V> Default for LineTable<V> {
    fn default() -> Self {
        LineTable {
            lines: Vec::new(),
            len: 0,
        }
    }
}

impl<V> LineTable<V> {
    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn mask(&self) -> usize {
        self.lines.len().wrapping_sub(1)
    }

    fn home(&self, hash: u64) -> usize {
        (hash as usize) & self.mask()
    }

    /// The slot holding `key`, if any.
    fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        if self.lines.is_empty() {
            return None;
        }
        let mut at = self.home(hash);
        loop {
            match &self.lines[at].0 {
                None => return None,
                Some(entry) if entry.hash == hash && entry.key.as_slice() == key => {
                    return Some(at)
                }
                Some(_) => at = (at + 1) & self.mask(),
            }
        }
    }

    /// The value under `key`.
    pub(crate) fn get(&self, hash: u64, key: &[u8]) -> Option<&V> {
        let at = self.find(hash, key)?;
        self.lines[at].0.as_ref().map(|entry| &entry.value)
    }

    /// Reads the line `key`'s probe starts from, and returns something of
    /// it for the caller to `black_box`: a read-ahead that costs one
    /// load, so a loop of them overlaps its misses.
    pub(crate) fn touch(&self, hash: u64) -> u64 {
        self.lines
            .get(self.home(hash))
            .and_then(|line| line.0.as_ref())
            .map_or(0, |entry| entry.hash)
    }

    /// Sets `key` to `value`; returns the value it replaces.
    pub(crate) fn insert(&mut self, hash: u64, key: &[u8], value: V) -> Option<V> {
        if let Some(at) = self.find(hash, key) {
            let entry = self.lines[at].0.as_mut()?;
            return Some(std::mem::replace(&mut entry.value, value));
        }
        if (self.len + 1) * LOAD.1 > self.lines.len() * LOAD.0 {
            self.grow((self.lines.len() * 2).max(16));
        }
        self.place(Entry {
            hash,
            key: InlineKey::new(key),
            value,
        });
        self.len += 1;
        None
    }

    /// Makes room for `additional` more entries without growing on the way.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let wanted = ((self.len + additional) * LOAD.1 / LOAD.0 + 1).next_power_of_two();
        if wanted > self.lines.len() {
            self.grow(wanted);
        }
    }

    fn grow(&mut self, capacity: usize) {
        let old = std::mem::replace(&mut self.lines, (0..capacity).map(|_| Line(None)).collect());
        for entry in old.into_iter().filter_map(|line| line.0) {
            self.place(entry);
        }
    }

    /// Puts an entry whose key is not held in the first free slot of its
    /// run. There is always one: the table is never full (see [`LOAD`]).
    fn place(&mut self, entry: Entry<V>) {
        let mut at = self.home(entry.hash);
        while self.lines[at].0.is_some() {
            at = (at + 1) & self.mask();
        }
        self.lines[at].0 = Some(entry);
    }

    /// Removes `key`; returns its value.
    pub(crate) fn remove(&mut self, hash: u64, key: &[u8]) -> Option<V> {
        let mut hole = self.find(hash, key)?;
        let removed = self.lines[hole].0.take()?;
        self.len -= 1;
        // Backward shift: an entry later in the run moves into the hole
        // when the hole lies between its home and where it sits, so every
        // probe still reaches its key before an empty slot.
        let mask = self.mask();
        let mut at = (hole + 1) & mask;
        while let Some(entry) = &self.lines[at].0 {
            let home = self.home(entry.hash);
            if at.wrapping_sub(home) & mask >= at.wrapping_sub(hole) & mask {
                self.lines[hole].0 = self.lines[at].0.take();
                hole = at;
            }
            at = (at + 1) & mask;
        }
        Some(removed.value)
    }

    /// Removes everything, keeping the slots.
    pub(crate) fn clear(&mut self) {
        if self.len > 0 {
            self.lines.iter_mut().for_each(|line| line.0 = None);
            self.len = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_slot_is_one_cache_line() {
        assert_eq!(
            std::mem::size_of::<Line<Option<crate::store::SharedBytes>>>(),
            64
        );
        assert_eq!(std::mem::align_of::<Line<std::sync::Arc<u8>>>(), 64);
    }

    #[test]
    fn hashes_differ_in_their_low_and_high_bits() {
        let low: std::collections::HashSet<u64> = (0..1000u32)
            .map(|i| hash_key(format!("C{i:06}").as_bytes()) & 1023)
            .collect();
        assert!(low.len() > 550, "low bits spread: {}", low.len());
        let high: std::collections::HashSet<u64> = (0..1000u32)
            .map(|i| hash_key(format!("C{i:06}").as_bytes()) >> 54)
            .collect();
        assert!(high.len() > 550, "high bits spread: {}", high.len());
        assert_ne!(hash_key(b"ab"), hash_key(b"ab\0"));
    }

    fn key(k: u16) -> Vec<u8> {
        // Few distinct keys, so inserts and removes meet; some longer than
        // an inline key.
        let mut key = format!("k{}", k % 300).into_bytes();
        if k.is_multiple_of(7) {
            key.extend_from_slice(&[b'x'; 30]);
        }
        key
    }

    proptest! {
        // Any sequence of inserts, removes and clears leaves the table
        // answering as std's map does; with `crowded`, every home is one
        // of the last eight slots, so runs are long and wrap around.
        #[test]
        fn behaves_as_a_map(
            crowded in any::<bool>(),
            ops in proptest::collection::vec((0u8..10, any::<u16>(), any::<u32>()), 0..2000),
        ) {
            let hash = |k: &[u8]| if crowded { hash_key(k) | (u64::MAX << 3) } else { hash_key(k) };
            let mut table = LineTable::default();
            let mut model = HashMap::new();
            for (op, k, v) in ops {
                let k = key(k);
                match op {
                    0..=5 => prop_assert_eq!(table.insert(hash(&k), &k, v), model.insert(k.clone(), v)),
                    6..=8 => prop_assert_eq!(table.remove(hash(&k), &k), model.remove(&k)),
                    _ if v.is_multiple_of(50) => { table.clear(); model.clear(); }
                    _ => {}
                }
                prop_assert_eq!(table.len(), model.len());
            }
            for k in 0..300u16 {
                let k = key(k);
                prop_assert_eq!(table.get(hash(&k), &k), model.get(&k));
            }
        }
    }

    #[test]
    fn colliding_homes_survive_removal_in_any_order() {
        // Every key's hash has the same low bits: one long run that wraps
        // past the end of the slots.
        let hash = |i: u64| (i << 32) | 0xf;
        for first in 0..12u64 {
            let mut table = LineTable::default();
            table.reserve(14);
            for i in 0..12u64 {
                table.insert(hash(i), &i.to_le_bytes(), i);
            }
            assert_eq!(table.remove(hash(first), &first.to_le_bytes()), Some(first));
            for i in (0..12u64).filter(|i| *i != first) {
                assert_eq!(table.get(hash(i), &i.to_le_bytes()), Some(&i));
            }
            assert_eq!(table.get(hash(first), &first.to_le_bytes()), None);
            assert_eq!(table.len(), 11);
        }
    }
}
