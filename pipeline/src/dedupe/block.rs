//! A block of dedupe entries: up to [`BLOCK_ENTRIES`] decided payments in
//! one stored value.
//!
//! Sorted by fingerprint, with a fixed-width table in front, so a lookup is
//! a binary search over the stored bytes: nothing is decoded but the one
//! entry found. Layout (integers little-endian):
//!
//! ```text
//! version (1 byte) | count (u16)
//! count × [ fingerprint (u64) | end of its body (u32, from the bodies' start) ]
//! bodies: id length (u16) | id | the Seen encoding
//! ```
//!
//! Every read checks its bounds: a damaged block is an error, never a panic.

/// Entries per block. A block is one RocksDB value and one changelog
/// record; a redelivery found in a block copies it once from the store, so
/// it stays small (about 15 KB).
pub(crate) const BLOCK_ENTRIES: usize = 256;

/// First byte of a block: a dedupe value written one per payment id (an
/// earlier layout) starts with `{` (JSON) or 1, never with this.
const BLOCK_V1: u8 = 0xB1;
const HEAD: usize = 3;
const SLOT: usize = 12;

/// A payment id's 64-bit fingerprint. Stored in blocks, so it must never
/// change: std's `DefaultHasher` may change between Rust releases, this
/// will not (a test pins it). Word by word through SplitMix64's finalizer,
/// which mixes every input bit into every output bit.
pub(crate) fn fingerprint(id: &str) -> u64 {
    fn mix(mut x: u64) -> u64 {
        x ^= x >> 30;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^= x >> 27;
        x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }
    let mut h = 0x9e37_79b9_7f4a_7c15 ^ id.len() as u64;
    for chunk in id.as_bytes().chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = mix(h ^ u64::from_le_bytes(word));
    }
    mix(h)
}

/// The block being filled: entries in arrival order.
#[derive(Default)]
pub(crate) struct OpenBlock {
    /// Fingerprint, start and end of each entry's body in `bodies`.
    entries: Vec<(u64, u32, u32)>,
    bodies: Vec<u8>,
}

impl OpenBlock {
    pub(crate) fn is_full(&self) -> bool {
        self.entries.len() >= BLOCK_ENTRIES
    }

    /// Adds an entry; `seen` is its [`super::Seen`] encoding.
    pub(crate) fn push(&mut self, fingerprint: u64, id: &str, seen: &[u8]) {
        let start = self.bodies.len() as u32;
        // Payment ids are short; a longer one is cut rather than corrupt
        // the layout (it then never matches, which dedupe tolerates
        // better than a lost decision).
        let id = &id.as_bytes()[..id.len().min(usize::from(u16::MAX))];
        self.bodies
            .extend_from_slice(&(id.len() as u16).to_le_bytes());
        self.bodies.extend_from_slice(id);
        self.bodies.extend_from_slice(seen);
        self.entries
            .push((fingerprint, start, self.bodies.len() as u32));
    }

    /// The encoded [`super::Seen`] of `id`, if this block holds it.
    pub(crate) fn find(&self, fingerprint: u64, id: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .filter(|(f, ..)| *f == fingerprint)
            .find_map(|&(_, start, end)| body_of(&self.bodies[start as usize..end as usize], id))
    }

    /// The stored bytes: entries sorted by fingerprint.
    pub(crate) fn seal(mut self) -> Vec<u8> {
        self.entries.sort_unstable_by_key(|&(f, ..)| f);
        let mut out = Vec::with_capacity(HEAD + SLOT * self.entries.len() + self.bodies.len());
        out.push(BLOCK_V1);
        out.extend_from_slice(&(self.entries.len() as u16).to_le_bytes());
        let mut end = 0u32;
        for &(f, start, stop) in &self.entries {
            end += stop - start;
            out.extend_from_slice(&f.to_le_bytes());
            out.extend_from_slice(&end.to_le_bytes());
        }
        for &(_, start, stop) in &self.entries {
            out.extend_from_slice(&self.bodies[start as usize..stop as usize]);
        }
        out
    }
}

/// The `Seen` bytes of a body, if the body is `id`'s.
fn body_of<'a>(body: &'a [u8], id: &str) -> Option<&'a [u8]> {
    let (len, rest) = body.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_le_bytes(*len));
    (rest.get(..len)? == id.as_bytes()).then(|| &rest[len..])
}

/// A stored block, read in place.
pub(crate) struct Sealed<'a> {
    bytes: &'a [u8],
    count: usize,
}

impl<'a> Sealed<'a> {
    /// Checks the header and the table's bounds.
    ///
    /// # Errors
    /// Bytes that are not a block, with why.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, String> {
        match bytes {
            [BLOCK_V1, a, b, ..] => {
                let count = usize::from(u16::from_le_bytes([*a, *b]));
                if bytes.len() < HEAD + SLOT * count {
                    return Err(format!("a block of {count} entries cut short"));
                }
                Ok(Sealed { bytes, count })
            }
            _ => Err("not a dedupe block".into()),
        }
    }

    /// Whether `bytes` are a block rather than an entry of the earlier
    /// one-value-per-payment layout.
    pub(crate) fn is_block(bytes: &[u8]) -> bool {
        bytes.first() == Some(&BLOCK_V1)
    }

    fn slot(&self, i: usize) -> (u64, usize) {
        let at = HEAD + SLOT * i;
        let s = &self.bytes[at..at + SLOT];
        let mut f = [0u8; 8];
        f.copy_from_slice(&s[..8]);
        let mut e = [0u8; 4];
        e.copy_from_slice(&s[8..]);
        (u64::from_le_bytes(f), u32::from_le_bytes(e) as usize)
    }

    fn body(&self, i: usize) -> Option<&'a [u8]> {
        let bodies = HEAD + SLOT * self.count;
        let start = if i == 0 { 0 } else { self.slot(i - 1).1 };
        let end = self.slot(i).1;
        self.bytes.get(bodies + start..bodies + end)
    }

    /// The encoded `Seen` of `id` (fingerprint `fingerprint`), if held.
    pub(crate) fn find(&self, fingerprint: u64, id: &str) -> Option<&'a [u8]> {
        let first = partition_point(self.count, |i| self.slot(i).0 < fingerprint);
        (first..self.count)
            .take_while(|&i| self.slot(i).0 == fingerprint)
            .find_map(|i| body_of(self.body(i)?, id))
    }

    /// Every entry's fingerprint and id.
    ///
    /// # Errors
    /// A damaged entry.
    pub(crate) fn ids(&self) -> Result<Vec<(u64, &'a str)>, String> {
        (0..self.count)
            .map(|i| {
                let body = self.body(i).ok_or("an entry out of bounds")?;
                let (len, rest) = body.split_first_chunk::<2>().ok_or("an empty entry")?;
                let id = rest
                    .get(..usize::from(u16::from_le_bytes(*len)))
                    .ok_or("an id out of bounds")?;
                let id = std::str::from_utf8(id).map_err(|_| "an id not UTF-8")?;
                Ok((self.slot(i).0, id))
            })
            .collect()
    }
}

/// The first index in `0..n` where `pred` is false (`pred` true then false).
fn partition_point(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_fingerprint_never_changes() {
        // Stored in every block: a new value here would miss redeliveries
        // of every payment decided before the change.
        assert_eq!(fingerprint("mpesa_c2b:RKTQDM7W6S"), 0xbc52_7245_f266_415c);
        assert_eq!(fingerprint(""), 0xe220_a839_7b1d_cdaf);
        assert_ne!(fingerprint("stripe:ch_1"), fingerprint("stripe:ch_2"));
    }

    #[test]
    fn a_sealed_block_finds_what_the_open_one_held() {
        let mut open = OpenBlock::default();
        for i in 0..BLOCK_ENTRIES {
            let id = format!("mtn_momo:{i}");
            open.push(fingerprint(&id), &id, format!("seen {i}").as_bytes());
        }
        // Two ids under one fingerprint (a collision) stay apart.
        open.push(7, "generic:a", b"A");
        open.push(7, "generic:b", b"B");
        assert!(open.is_full());
        assert_eq!(open.find(7, "generic:b"), Some(&b"B"[..]));
        let bytes = open.seal();
        let block = Sealed::parse(&bytes).unwrap();
        assert!(Sealed::is_block(&bytes));
        for i in [0, 1, 100, BLOCK_ENTRIES - 1] {
            let id = format!("mtn_momo:{i}");
            assert_eq!(
                block.find(fingerprint(&id), &id),
                Some(format!("seen {i}").as_bytes())
            );
        }
        assert_eq!(block.find(7, "generic:a"), Some(&b"A"[..]));
        assert_eq!(block.find(7, "generic:b"), Some(&b"B"[..]));
        assert_eq!(block.find(7, "generic:c"), None);
        assert_eq!(block.find(fingerprint("mtn_momo:x"), "mtn_momo:x"), None);
        let ids = block.ids().unwrap();
        assert_eq!(ids.len(), BLOCK_ENTRIES + 2);
        assert!(ids.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    proptest! {
        /// Damaged or foreign bytes are an error or a miss, never a panic.
        #[test]
        fn any_bytes_are_refused_or_read_safely(
            mut bytes in prop::collection::vec(any::<u8>(), 0..400),
            id in "[a-z:0-9]{0,12}",
        ) {
            if let Some(first) = bytes.first_mut() {
                *first = BLOCK_V1;
            }
            if let Ok(block) = Sealed::parse(&bytes) {
                let _ = block.find(fingerprint(&id), &id);
                let _ = block.ids();
            }
        }
    }
}
