//! Values handed out by a store without copying them: inline when short,
//! shared otherwise.
//!
//! Most values the memory tier holds are a set with one member
//! (`A␟C000123`, a customer id, a canonical reference): a dozen bytes. Held
//! behind an `Arc`, each read paid a cache miss on the `Arc`'s count (a
//! quarter of a lookup's time in stage 1's profile) and each value an
//! allocation. Held in the hash table's slot, a short value arrives with the
//! key the probe already compared, and a read copies 24 bytes.

use std::sync::Arc;

use crate::inline_key::pad;

/// Longest value held inline.
const INLINE: usize = 22;

/// Bytes read from a store: inline when short, shared otherwise. Cloning
/// never allocates.
#[derive(Clone)]
pub enum SharedBytes {
    /// Up to [`INLINE`] bytes, in place.
    Inline {
        /// How many of `bytes` are the value.
        len: u8,
        /// The value, then zeros.
        bytes: [u8; INLINE],
    },
    /// Longer values, shared.
    Shared(Arc<[u8]>),
}

impl SharedBytes {
    /// The value's bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            SharedBytes::Inline { len, bytes } => &bytes[..usize::from(*len)],
            SharedBytes::Shared(bytes) => bytes,
        }
    }
}

impl From<&[u8]> for SharedBytes {
    fn from(value: &[u8]) -> Self {
        match pad(value) {
            Some((len, bytes)) => SharedBytes::Inline { len, bytes },
            None => SharedBytes::Shared(Arc::from(value)),
        }
    }
}

impl From<Vec<u8>> for SharedBytes {
    fn from(value: Vec<u8>) -> Self {
        match pad(&value) {
            Some((len, bytes)) => SharedBytes::Inline { len, bytes },
            None => SharedBytes::Shared(Arc::from(value)),
        }
    }
}

impl std::ops::Deref for SharedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for SharedBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SharedBytes {}

impl std::fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_inline_and_long_ones_shared() {
        for len in [0, 1, INLINE, INLINE + 1, 300] {
            let value: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let from_slice = SharedBytes::from(value.as_slice());
            let from_vec = SharedBytes::from(value.clone());
            assert_eq!(from_slice.as_slice(), &value[..]);
            assert_eq!(&*from_vec, &value[..]);
            assert_eq!(from_slice, from_vec);
            assert_eq!(
                matches!(from_vec, SharedBytes::Inline { .. }),
                len <= INLINE
            );
        }
        assert_eq!(std::mem::size_of::<Option<SharedBytes>>(), 24);
    }
}
