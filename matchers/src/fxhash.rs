//! A fast, non-cryptographic hasher for the in-memory maps of the hot path.
//!
//! std's default SipHash resists hash flooding, which the index does not
//! need: its keys come from the operator's own customer records, and a
//! payment can only probe it, never grow it. FxHash (rustc's) is several
//! times cheaper on short keys.
//!
//! Each word is mixed in with a *folded* multiply (the 128-bit product's
//! halves XORed, as rustc-hash 2 and wyhash do) rather than FxHash's plain
//! one. A plain multiply carries a change only upwards, so ids that differ
//! in their last characters (`C0000017`, `C0000018`: the high bytes of a
//! little-endian word) hashed alike in their low bits, which pick a
//! `HashMap`'s bucket, and in their top seven, which its probe compares
//! first: 20 000 such ids filled 6 204 of 32 768 buckets and 70 of 128
//! tags, and stage 2's state lookups spent a third of their time comparing
//! keys along the crowded probes (BENCHMARKS, Kafka "Session 29").

use std::hash::{BuildHasherDefault, Hasher};

/// FxHash's multiplier.
const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// `a × b` as 128 bits, its halves XORed: every input bit reaches both
/// the low and the high bits of the result.
#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// A fast multiplicative hasher (FxHash's shape, a folded multiply per
/// word: see the module docs). Keys are index keys, not attacker-chosen in
/// bulk (each costs a real payment), so speed wins over flood resistance
/// here.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = folded_multiply(self.0.rotate_left(5) ^ u64::from_le_bytes(word), K);
        }
    }
    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.0 = folded_multiply(self.0.rotate_left(5) ^ u64::from(n), K);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`FxHasher`]s for `HashMap` and `HashSet`.
pub type FxBuild = BuildHasherDefault<FxHasher>;

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, Hash};

    use super::*;

    /// Sequential ids, as billing systems number customers, spread over a
    /// table's buckets (low bits) and its tags (top seven bits) as random
    /// hashes would: 20 000 random 64-bit values fill about 14 900 of
    /// 32 768 buckets and all 128 tags.
    #[test]
    fn sequential_ids_spread_over_buckets_and_tags() {
        for format in [8usize, 7, 6] {
            let hashes: Vec<u64> = (0..20_000)
                .map(|i| FxBuild::default().hash_one(format!("C{i:0format$}")))
                .collect();
            let buckets: HashSet<u64> = hashes.iter().map(|h| h & 0x7fff).collect();
            let tags: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
            assert!(
                buckets.len() > 14_000,
                "{format}: {} buckets",
                buckets.len()
            );
            assert_eq!(tags.len(), 128, "{format}");
        }
    }

    #[test]
    fn equal_keys_hash_alike() {
        let hash = |s: &str| {
            let mut h = FxHasher::default();
            s.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash("C0000017"), hash("C0000017"));
        assert_ne!(hash("C0000017"), hash("C0000018"));
    }
}
