//! The encoding of set-valued keys and their merge.
//!
//! A stored set and a merge operand share one encoding: a sorted run of
//! entries `[present: u8][len: u16 LE][member bytes]`. Merging two runs keeps
//! every member, the right-hand entry winning for a member in both. That
//! merge is associative, so RocksDB may combine operands in any grouping;
//! removals stay as `present = 0` entries so a later merge still sees them.

use std::collections::BTreeMap;
use std::sync::Arc;

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

/// Visits the entries of a run in order, with their presence flag.
fn walk<'a>(bytes: &'a [u8], mut visit: impl FnMut(&'a [u8], bool)) -> Result<(), String> {
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < 3 {
            return Err("truncated set entry header".into());
        }
        let present = rest[0] != 0;
        let len = usize::from(u16::from_le_bytes([rest[1], rest[2]]));
        let member = rest.get(3..3 + len).ok_or("truncated set member")?;
        visit(member, present);
        rest = &rest[3 + len..];
    }
    Ok(())
}

/// Decodes entries, with their presence flag.
fn entries(bytes: &[u8]) -> Result<Vec<(&[u8], bool)>, String> {
    let mut out = Vec::new();
    walk(bytes, |member, present| out.push((member, present)))?;
    Ok(out)
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

/// The present members of an encoded set.
///
/// # Errors
/// A description of the corruption.
pub fn members(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    Ok(entries(bytes)?
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(m, _)| m.to_vec())
        .collect())
}

/// The members of a stored set, read in place: the bytes are shared with
/// the store's memory tier (see `KvStore::get_shared`), checked once, and
/// members are borrowed from them, so a lookup allocates nothing per
/// member.
#[derive(Clone, Debug, Default)]
pub struct Members {
    bytes: Option<Arc<[u8]>>,
}

impl Members {
    /// Checks an encoded set (`None`: absent, no members).
    ///
    /// # Errors
    /// A description of the corruption.
    pub fn parse(bytes: Option<Arc<[u8]>>) -> Result<Self, String> {
        if let Some(bytes) = &bytes {
            walk(bytes, |_, _| {})?;
        }
        Ok(Members { bytes })
    }

    /// The present members, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut rest: &[u8] = self.bytes.as_deref().unwrap_or_default();
        std::iter::from_fn(move || loop {
            // Checked in `parse`: every header and member is whole.
            let (&[present, lo, hi], tail) = rest.split_first_chunk::<3>()?;
            let len = usize::from(u16::from_le_bytes([lo, hi]));
            let member = tail.get(..len)?;
            rest = &tail[len..];
            if present != 0 {
                return Some(member);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn later_operands_win() {
        let a = operand(b"x", true);
        let b = operand(b"y", true);
        let c = operand(b"x", false);
        let merged = merge([a.as_slice(), b.as_slice(), c.as_slice()]).unwrap();
        assert_eq!(members(&merged).unwrap(), vec![b"y".to_vec()]);
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
            let listed = members(&bytes);
            let parsed = Members::parse(Some(Arc::from(bytes.as_slice())));
            prop_assert_eq!(listed.is_ok(), parsed.is_ok());
            if let (Ok(listed), Ok(parsed)) = (listed, parsed) {
                prop_assert_eq!(listed, parsed.iter().map(<[u8]>::to_vec).collect::<Vec<_>>());
            }
        }

        #[test]
        fn members_in_place_are_the_decoded_ones(ops in proptest::collection::vec((0u8..5, any::<bool>()), 0..20)) {
            let encoded: Vec<Vec<u8>> = ops.iter().map(|(m, p)| operand(&[*m, b'x'], *p)).collect();
            let set = merge(encoded.iter().map(Vec::as_slice)).unwrap();
            let parsed = Members::parse(Some(Arc::from(set.as_slice()))).unwrap();
            prop_assert_eq!(members(&set).unwrap(), parsed.iter().map(<[u8]>::to_vec).collect::<Vec<_>>());
        }
    }
}
