//! State keys held inside the hash table's own slots when they fit.
//!
//! Stage 2 finds its customer's state in maps of up to hundreds of
//! thousands of keys once or twice per payment. With `String` keys each
//! hit compared the key behind a pointer, a cache miss of its own: 10 % of
//! stage 2's thread was `memcmp` (BENCHMARKS, Kafka "Session 30"). A
//! customer's key (`customer:C0012345`) fits in [`INLINE`] bytes and then
//! sits in the slot beside the value the lookup reads anyway; longer keys
//! (long customer ids) live on the heap as before. Lookups borrow the
//! caller's `&str` through [`Lookup`], so finding a key copies nothing.

use std::hash::{Hash, Hasher};

/// Bytes a key may have to be held inline.
pub(crate) const INLINE: usize = 30;

/// An owned state key.
#[derive(Clone)]
pub(crate) enum Key {
    /// Up to [`INLINE`] bytes, in place.
    Inline {
        /// How many of `bytes` are the key.
        len: u8,
        /// The key, then zeros.
        bytes: [u8; INLINE],
    },
    /// A longer key.
    Heap(Box<str>),
}

impl Key {
    /// The key `text`.
    pub(crate) fn new(text: &str) -> Self {
        match u8::try_from(text.len()) {
            Ok(len) if text.len() <= INLINE => {
                let mut bytes = [0u8; INLINE];
                bytes[..text.len()].copy_from_slice(text.as_bytes());
                Key::Inline { len, bytes }
            }
            _ => Key::Heap(text.into()),
        }
    }

    /// Its bytes (UTF-8: every key was made from a `&str`).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Key::Heap(text) => text.as_bytes(),
        }
    }

    /// The key as text.
    pub(crate) fn to_text(&self) -> String {
        String::from_utf8_lossy(self.as_bytes()).into_owned()
    }
}

/// How a key hashes, owned or borrowed alike (as `str` does: its bytes,
/// then a byte no UTF-8 text holds).
fn hash_key<H: Hasher>(bytes: &[u8], state: &mut H) {
    state.write(bytes);
    state.write_u8(0xff);
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_key(self.as_bytes(), state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// A borrowed key to look one up by.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lookup<'a>(pub(crate) &'a str);

impl Hash for Lookup<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_key(self.0.as_bytes(), state);
    }
}

/// What inserting through a lookup stores (hashbrown's `entry_ref`).
impl From<&Lookup<'_>> for Key {
    fn from(lookup: &Lookup<'_>) -> Self {
        Key::new(lookup.0)
    }
}

impl hashbrown::Equivalent<Key> for Lookup<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.0.as_bytes() == key.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use matchers::fxhash::FxBuild;
    use std::hash::BuildHasher;

    #[test]
    fn short_keys_are_inline_and_long_ones_on_the_heap() {
        let short = Key::new("customer:C0012345");
        assert!(matches!(short, Key::Inline { len: 17, .. }));
        assert_eq!(short.to_text(), "customer:C0012345");
        let edge = "c".repeat(INLINE);
        assert!(matches!(Key::new(&edge), Key::Inline { .. }));
        let long = format!("customer:{}", "9b2f1c3e-4a5d-4e6f-8a7b-1c2d3e4f5a6b");
        assert!(matches!(Key::new(&long), Key::Heap(_)));
        assert_eq!(Key::new(&long).to_text(), long);
        assert_eq!(Key::new("").to_text(), "");
    }

    #[test]
    fn a_lookup_hashes_and_compares_as_its_key() {
        let build = FxBuild::default();
        for text in ["", "customer:C1", &"x".repeat(INLINE), &"y".repeat(80)] {
            let key = Key::new(text);
            assert_eq!(build.hash_one(&key), build.hash_one(Lookup(text)));
            assert!(hashbrown::Equivalent::equivalent(&Lookup(text), &key));
        }
        // A shorter key is not a prefix match of a longer one.
        assert!(!hashbrown::Equivalent::equivalent(
            &Lookup("customer:C1"),
            &Key::new("customer:C12")
        ));
        assert_ne!(Key::new("a"), Key::new("a\0"));
    }

    #[test]
    fn keys_order_as_their_text() {
        let mut keys: Vec<Key> = ["b", "a", &"z".repeat(40), "ab"]
            .iter()
            .map(|t| Key::new(t))
            .collect();
        keys.sort();
        let texts: Vec<String> = keys.iter().map(Key::to_text).collect();
        assert_eq!(texts, ["a", "ab", "b", &"z".repeat(40)]);
    }

    #[test]
    fn a_map_finds_inline_and_heap_keys_by_lookup() {
        let mut map: hashbrown::HashMap<Key, u32, FxBuild> = hashbrown::HashMap::default();
        let long = "l".repeat(64);
        map.insert(Key::new("customer:C1"), 1);
        map.insert(Key::new(&long), 2);
        assert_eq!(map.get(&Lookup("customer:C1")), Some(&1));
        assert_eq!(map.get(&Lookup(&long)), Some(&2));
        assert_eq!(map.get(&Lookup("customer:C2")), None);
    }
}
