//! The encoding of set-valued keys and their merge.
//!
//! A stored set and a merge operand share one encoding: a sorted run of
//! entries `[present: u8][len: u16 LE][member bytes]`. Merging two runs keeps
//! every member, the right-hand entry winning for a member in both. That
//! merge is associative, so RocksDB may combine operands in any grouping;
//! removals stay as `present = 0` entries so a later merge still sees them.

use std::collections::BTreeMap;

use super::SharedBytes;

/// Encodes one operand: add (`present`) or remove a member.
pub fn operand(member: &[u8], present: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(member.len() + 3);
    push(&mut out, member, present);
    out
}

fn push(out: &mut Vec<u8>, member: &[u8], present: bool) {
    let len = u16::try_from(member.len()).unwrap_or(u16::MAX);
    out.push(u8::from(present));
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&member[..usize::from(len)]);
}

/// Encodes several changes (member, present) as one run; later changes to
/// the same member win.
pub fn run<'a>(changes: impl IntoIterator<Item = (&'a [u8], bool)>) -> Vec<u8> {
    let mut merged: BTreeMap<&[u8], bool> = BTreeMap::new();
    for (member, present) in changes {
        merged.insert(member, present);
    }
    let mut out = Vec::new();
    for (member, present) in merged {
        push(&mut out, member, present);
    }
    out
}

/// Takes the first entry off `rest`: its member and presence flag, or why
/// it cannot be read; `None` at the end.
fn next_entry<'a>(rest: &mut &'a [u8]) -> Option<Result<(&'a [u8], bool), String>> {
    if rest.is_empty() {
        return None;
    }
    let Some((&[present, lo, hi], tail)) = rest.split_first_chunk::<3>() else {
        return Some(Err("truncated set entry header".into()));
    };
    let len = usize::from(u16::from_le_bytes([lo, hi]));
    let Some(member) = tail.get(..len) else {
        return Some(Err("truncated set member".into()));
    };
    *rest = &tail[len..];
    Some(Ok((member, present != 0)))
}

/// Decodes entries, with their presence flag.
fn entries(bytes: &[u8]) -> Result<Vec<(&[u8], bool)>, String> {
    let mut rest = bytes;
    std::iter::from_fn(|| next_entry(&mut rest)).collect()
}

/// Merges runs left to right (later wins), returning the encoded result.
pub fn merge<'a>(runs: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<u8>, String> {
    let mut merged: BTreeMap<&[u8], bool> = BTreeMap::new();
    for run in runs {
        for (member, present) in entries(run)? {
            merged.insert(member, present);
        }
    }
    let mut out = Vec::new();
    for (member, present) in merged {
        push(&mut out, member, present);
    }
    Ok(out)
}

/// The members of a stored set, read in place: the bytes are the store's
/// memory tier's (see `KvStore::get_shared`: a short set copied out of its
/// slot, a longer one shared), checked once, and members are borrowed from
/// them, so a lookup allocates nothing per member.
#[derive(Clone, Debug, Default)]
pub struct Members {
    bytes: Option<SharedBytes>,
}

impl Members {
    /// Checks an encoded set (`None`: absent, no members).
    ///
    /// # Errors
    /// A description of the corruption.
    pub fn parse(bytes: Option<SharedBytes>) -> Result<Self, String> {
        let mut rest: &[u8] = bytes.as_deref().unwrap_or_default();
        while let Some(entry) = next_entry(&mut rest) {
            entry?;
        }
        Ok(Members { bytes })
    }

    /// The present members, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut rest: &[u8] = self.bytes.as_deref().unwrap_or_default();
        // Checked in `parse`: every entry reads.
        std::iter::from_fn(move || next_entry(&mut rest))
            .filter_map(|entry| entry.ok().filter(|(_, present)| *present))
            .map(|(member, _)| member)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The present members of an encoded set, owned.
    fn members(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let parsed = Members::parse(Some(SharedBytes::from(bytes)))?;
        Ok(parsed.iter().map(<[u8]>::to_vec).collect())
    }

    #[test]
    fn later_operands_win() {
        let a = operand(b"x", true);
        let b = operand(b"y", true);
        let c = operand(b"x", false);
        let merged = merge([a.as_slice(), b.as_slice(), c.as_slice()]).unwrap();
        assert_eq!(members(&merged).unwrap(), vec![b"y".to_vec()]);
        assert!(Members::parse(None).unwrap().iter().next().is_none());
    }

    proptest! {
        #[test]
        fn merge_is_associative(ops in proptest::collection::vec((0u8..5, any::<bool>()), 0..20), split in 0usize..20) {
            let encoded: Vec<Vec<u8>> = ops.iter().map(|(m, p)| operand(&[*m], *p)).collect();
            let all = merge(encoded.iter().map(Vec::as_slice)).unwrap();
            let split = split.min(encoded.len());
            let left = merge(encoded[..split].iter().map(Vec::as_slice)).unwrap();
            let right = merge(encoded[split..].iter().map(Vec::as_slice)).unwrap();
            let grouped = merge([left.as_slice(), right.as_slice()]).unwrap();
            prop_assert_eq!(members(&all).unwrap(), members(&grouped).unwrap());
        }

        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            // Garbage is refused exactly when its entries do not read, and
            // what reads lists the present entries.
            match entries(&bytes) {
                Ok(all) => {
                    let present: Vec<Vec<u8>> =
                        all.into_iter().filter(|(_, p)| *p).map(|(m, _)| m.to_vec()).collect();
                    prop_assert_eq!(members(&bytes).unwrap(), present);
                }
                Err(_) => prop_assert!(members(&bytes).is_err()),
            }
        }

        #[test]
        fn the_last_change_of_each_member_decides(ops in proptest::collection::vec((0u8..5, any::<bool>()), 0..20)) {
            let encoded: Vec<Vec<u8>> = ops.iter().map(|(m, p)| operand(&[*m, b'x'], *p)).collect();
            let set = merge(encoded.iter().map(Vec::as_slice)).unwrap();
            let mut last = BTreeMap::new();
            for (m, p) in &ops {
                last.insert(vec![*m, b'x'], *p);
            }
            let expected: Vec<Vec<u8>> =
                last.into_iter().filter(|(_, p)| *p).map(|(m, _)| m).collect();
            prop_assert_eq!(members(&set).unwrap(), expected);
        }
    }
}
