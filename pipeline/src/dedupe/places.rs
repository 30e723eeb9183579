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
//!
//! The entries live in one array of `u64` slots, probed linearly from the
//! fingerprint's bits: a payment's probe and the insert that follows it
//! touch the same cache line. std's set kept its control bytes apart from
//! its slots, so the insert wrote a line the probe had not read: a store
//! miss per payment, which held up the loads behind it in stage 1's
//! profile (BENCHMARKS, session 24).

/// Bits of the ordinal.
const ORDINAL_BITS: u32 = 24;
/// The packed ordinal standing for `u32::MAX` (an entry of the earlier
/// one-key-per-payment layout).
const PACKED_MAX: u64 = (1 << ORDINAL_BITS) - 1;

/// One entry: the fingerprint's top bits, then the packed ordinal.
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

/// Fingerprints → block ordinals (see the module docs): open addressing
/// over `u64` slots, linear probing, at most 3/4 full. A slot of 0 is
/// empty, so the one entry whose packed form could be 0 (fingerprint bits
/// all zero) is held apart, in `zero`.
#[derive(Default)]
pub(super) struct Places {
    slots: Vec<u64>,
    len: usize,
    /// The packed entry of the fingerprint bits 0, if held.
    zero: Option<u64>,
}

impl Places {
    /// Whether `ordinal` can be held here; the caller keeps the others by
    /// id.
    pub(super) fn fits(ordinal: u32) -> bool {
        ordinal == u32::MAX || u64::from(ordinal) < PACKED_MAX
    }

    /// Where a probe for `bits` (a fingerprint's top bits) starts.
    fn home(&self, bits: u64) -> usize {
        (bits as usize) & self.slots.len().wrapping_sub(1)
    }

    /// The slot holding `bits` (a fingerprint's top bits, not zero), or
    /// the empty slot where it would go. The table must not be empty.
    fn find(&self, bits: u64) -> usize {
        let mask = self.slots.len() - 1;
        let mut at = self.home(bits);
        loop {
            let slot = self.slots[at];
            if slot == 0 || slot >> ORDINAL_BITS == bits {
                return at;
            }
            at = (at + 1) & mask;
        }
    }

    /// The ordinal held for a fingerprint (or one sharing its top bits).
    pub(super) fn get(&self, fingerprint: u64) -> Option<u32> {
        let bits = fingerprint >> ORDINAL_BITS;
        let held = if bits == 0 {
            self.zero
        } else if self.slots.is_empty() {
            None
        } else {
            Some(self.slots[self.find(bits)]).filter(|&slot| slot != 0)
        };
        held.map(|slot| Place(slot).ordinal())
    }

    /// Reads the slot a probe for `fingerprint` starts from, and returns
    /// it for the caller to `black_box`: one load, so a loop of them over
    /// a batch overlaps their cache misses before the gets that follow.
    pub(super) fn touch(&self, fingerprint: u64) -> u64 {
        let home = self.home(fingerprint >> ORDINAL_BITS);
        self.slots.get(home).copied().unwrap_or(0)
    }

    /// Holds `ordinal` for `fingerprint`, replacing what its top bits held.
    /// `ordinal` must [`Places::fits`].
    pub(super) fn set(&mut self, fingerprint: u64, ordinal: u32) {
        let packed = if ordinal == u32::MAX {
            PACKED_MAX
        } else {
            u64::from(ordinal) & PACKED_MAX
        };
        let place = Place::probe(fingerprint).0 | packed;
        let bits = fingerprint >> ORDINAL_BITS;
        if bits == 0 {
            if self.zero.replace(place).is_none() {
                self.len += 1;
            }
            return;
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let at = self.find(bits);
        if self.slots[at] == 0 {
            self.len += 1;
        }
        self.slots[at] = place;
    }

    /// Doubles the slots and places every entry again.
    fn grow(&mut self) {
        let doubled = vec![0; (self.slots.len() * 2).max(64)];
        let old = std::mem::replace(&mut self.slots, doubled);
        for slot in old.into_iter().filter(|&slot| slot != 0) {
            let at = self.find(slot >> ORDINAL_BITS);
            self.slots[at] = slot;
        }
    }

    /// Entries held.
    pub(super) fn len(&self) -> usize {
        self.len
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

    #[test]
    fn a_touch_reads_the_slot_a_probe_starts_from() {
        let mut places = Places::default();
        assert_eq!(places.touch(u64::MAX), 0, "an empty table has no slot");
        let fingerprint = (5 << ORDINAL_BITS) | 77;
        places.set(fingerprint, 9);
        assert_eq!(Place(places.touch(fingerprint)).ordinal(), 9);
        assert_eq!(places.get(fingerprint), Some(9), "and changes nothing");
    }

    proptest! {
        /// The same answers as a map keyed by the fingerprints' top 40
        /// bits (here few, so fingerprints share them often), for
        /// ordinals that fit.
        #[test]
        fn answers_as_a_map_of_the_top_bits(
            ops in prop::collection::vec(
                (
                    prop_oneof![0u64..64, any::<u64>().prop_map(|bits| bits >> ORDINAL_BITS)],
                    any::<u64>(),
                    prop_oneof![0u32..(PACKED_MAX as u32), Just(u32::MAX)],
                ),
                0..600,
            ),
            absent in prop::collection::vec(any::<u64>(), 0..20),
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
            for top in absent.iter().map(|bits| bits >> ORDINAL_BITS) {
                let held = model.get(&top).copied();
                prop_assert_eq!(places.get(top << ORDINAL_BITS), held);
            }
            for (top, ordinal) in model {
                prop_assert_eq!(places.get((top << ORDINAL_BITS) | 12345), Some(ordinal));
            }
        }
    }
}
