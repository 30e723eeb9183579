//! Where each decided payment's dedupe entry is: its fingerprint → the
//! ordinal of the block holding it, in 8 bytes an entry.
//!
//! Every payment adds an entry and every payment probes the map, so its
//! size is paid at stream rate twice: as cache misses (the map is far
//! larger than the caches) and, as it doubles, in fresh pages the kernel
//! zeroes (a map of `u64 → u32` takes 16-byte slots; growing one to a
//! million entries was 3 % of stage 1, BENCHMARKS session 21). Here an
//! entry is one `u64`: the fingerprint's top 40 bits and a 24-bit block
//! ordinal (16.7 million blocks of 256 entries: over four billion
//! payments). Two ids sharing 40 bits is rare (about one pair among a
//! million payments, a few thousand among a hundred million; a new
//! payment probes a held one's bits with odds of one in a million per
//! million held), and harmless: the block is searched by the full
//! fingerprint and the id, and the caller's `collided` map keeps the
//! second id, as it does for ordinals too large to pack.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use matchers::fxhash::FxBuild;

/// Bits of the ordinal.
const ORDINAL_BITS: u32 = 24;
/// The packed ordinal standing for `u32::MAX` (an entry of the earlier
/// one-key-per-payment layout).
const PACKED_MAX: u64 = (1 << ORDINAL_BITS) - 1;

/// One entry: equal to, and hashed as, its fingerprint bits alone, so the
/// set is probed with a fingerprint and answers with the ordinal.
#[derive(Clone, Copy)]
struct Place(u64);

impl Place {
    fn probe(fingerprint: u64) -> Self {
        Place(fingerprint & !PACKED_MAX)
    }

    fn ordinal(self) -> u32 {
        match self.0 & PACKED_MAX {
            PACKED_MAX => u32::MAX,
            packed => packed as u32,
        }
    }
}

impl PartialEq for Place {
    fn eq(&self, other: &Self) -> bool {
        self.0 >> ORDINAL_BITS == other.0 >> ORDINAL_BITS
    }
}

impl Eq for Place {}

impl Hash for Place {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0 >> ORDINAL_BITS);
    }
}

/// Fingerprints → block ordinals (see the module docs).
#[derive(Default)]
pub(super) struct Places {
    set: HashSet<Place, FxBuild>,
}

impl Places {
    /// Whether `ordinal` can be held here; the caller keeps the others by
    /// id.
    pub(super) fn fits(ordinal: u32) -> bool {
        ordinal == u32::MAX || u64::from(ordinal) < PACKED_MAX
    }

    /// The ordinal held for a fingerprint (or one sharing its top bits).
    pub(super) fn get(&self, fingerprint: u64) -> Option<u32> {
        self.set
            .get(&Place::probe(fingerprint))
            .map(|p| p.ordinal())
    }

    /// Holds `ordinal` for `fingerprint`, replacing what its top bits held.
    /// `ordinal` must [`Places::fits`].
    pub(super) fn set(&mut self, fingerprint: u64, ordinal: u32) {
        let packed = if ordinal == u32::MAX {
            PACKED_MAX
        } else {
            u64::from(ordinal) & PACKED_MAX
        };
        self.set
            .replace(Place(Place::probe(fingerprint).0 | packed));
    }

    /// Entries held.
    pub(super) fn len(&self) -> usize {
        self.set.len()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_earlier_layouts_marker_and_large_ordinals() {
        let mut places = Places::default();
        places.set(7 << 40, u32::MAX);
        assert_eq!(places.get(7 << 40), Some(u32::MAX));
        assert!(Places::fits(u32::MAX) && Places::fits(PACKED_MAX as u32 - 1));
        assert!(!Places::fits(PACKED_MAX as u32) && !Places::fits(1 << 30));
    }

    proptest! {
        /// The same answers as a map keyed by the fingerprints' top 40
        /// bits (here few, so fingerprints share them often), for
        /// ordinals that fit.
        #[test]
        fn answers_as_a_map_of_the_top_bits(
            ops in prop::collection::vec((0u64..64, any::<u64>(), 0u32..(PACKED_MAX as u32)), 0..200),
        ) {
            let mut places = Places::default();
            let mut model: HashMap<u64, u32> = HashMap::new();
            for (top, low, ordinal) in ops {
                let fingerprint = (top << ORDINAL_BITS) | (low & PACKED_MAX);
                places.set(fingerprint, ordinal);
                model.insert(top, ordinal);
                prop_assert_eq!(places.get(fingerprint), Some(ordinal));
            }
            prop_assert_eq!(places.len(), model.len());
            for (top, ordinal) in model {
                prop_assert_eq!(places.get((top << ORDINAL_BITS) | 12345), Some(ordinal));
            }
        }
    }
}
