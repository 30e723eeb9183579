//! A fast, non-cryptographic hasher for the in-memory maps of the hot path.
//!
//! std's default SipHash resists hash flooding, which the index does not
//! need: its keys come from the operator's own customer records, and a
//! payment can only probe it, never grow it. FxHash (rustc's) is several
//! times cheaper on short keys.

use std::hash::{BuildHasherDefault, Hasher};

/// A fast multiplicative hasher (the `FxHash` of rustc). Keys are index
/// keys, not attacker-chosen in bulk (each costs a real payment), so speed
/// wins over flood resistance here.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(n)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        // A multiply mixes upwards only: the low bits, which pick the hash
        // table's bucket, would depend on few input bits. Bring the
        // well-mixed high bits down (as rustc-hash 2 does).
        self.0.rotate_left(26)
    }
}

/// Builds [`FxHasher`]s for `HashMap` and `HashSet`.
pub type FxBuild = BuildHasherDefault<FxHasher>;
