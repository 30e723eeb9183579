//! Short keys held inline in a hash table's slot.
//!
//! The hot path's maps (the store's memory tier, the decoded records) are
//! probed with short keys: `x:ACC10023`, `p:254712345678`, `C000123`. A
//! boxed key is a pointer to another cache line, and at a million entries
//! that miss was a third of a lookup's time; an inline key is compared in
//! the slot the probe already loaded.

use std::hash::Hasher;

/// Longest key held inline.
pub(crate) const INLINE: usize = 22;

/// A key, inline when short, boxed otherwise. Equality and hashing are
/// its bytes', as `Borrow<[u8]>` requires, so maps are probed with `&[u8]`.
#[derive(Clone, Debug)]
pub(crate) enum InlineKey {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

/// `bytes` copied into a zero-padded array with their length, when they
/// fit in `N` (at most 255) bytes.
pub(crate) fn pad<const N: usize>(bytes: &[u8]) -> Option<(u8, [u8; N])> {
    let len = u8::try_from(bytes.len())
        .ok()
        .filter(|l| usize::from(*l) <= N)?;
    let mut padded = [0u8; N];
    padded[..bytes.len()].copy_from_slice(bytes);
    Some((len, padded))
}

impl InlineKey {
    pub(crate) fn new(key: &[u8]) -> Self {
        match pad(key) {
            Some((len, bytes)) => InlineKey::Inline { len, bytes },
            None => InlineKey::Heap(key.into()),
        }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            InlineKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            InlineKey::Heap(bytes) => bytes,
        }
    }
}

impl PartialEq for InlineKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for InlineKey {}

impl std::hash::Hash for InlineKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl std::borrow::Borrow<[u8]> for InlineKey {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_keys_compare_by_their_bytes() {
        let long = vec![b'h'; INLINE + 1];
        assert_eq!(InlineKey::new(&long), InlineKey::new(&long.clone()));
        assert_eq!(InlineKey::new(&long).as_slice(), &long[..]);
        assert_eq!(InlineKey::new(b"ab").as_slice(), b"ab");
        assert!(InlineKey::new(b"ab") != InlineKey::new(b"ab\0"));
        assert!(InlineKey::new(&[b'p'; INLINE]) != InlineKey::new(&long));
    }
}
