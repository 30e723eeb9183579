//! Reading ahead for a batch of payments.
//!
//! Matching one payment is a chain of lookups in tables far larger than
//! the processor's caches, each waiting for memory before the next
//! starts: the profile of stage 1 was mostly those waits. The lookups of
//! *different* payments do not depend on each other, so a stage that has
//! a batch in hand first touches, for all of them together, the keys
//! matching starts from (the references as typed, the payer's phone) and
//! then the customers those keys name. The processor overlaps those
//! misses.
//!
//! The answers are kept, one [`ReadAhead`] per payment, and matching reads
//! them through [`Lookups`] instead of asking the store again: a store read
//! takes a lock and copies out of the memory tier, and doing the first ones
//! twice made the read-ahead cost as much as it saved (BENCHMARKS, session
//! 21). An answer is the one the store gave when the batch began; a
//! customer changed upstream in that instant (Kafka mode follows the
//! customer topics on another thread) is seen by the next batch, as it
//! would be had it changed an instant later.

use std::ops::Deref;
use std::sync::Arc;

use model::reference::{canonical_into, fold_case_and_punctuation_into};
use model::{Invoice, PayerPhone, Payment, ReferenceKind};

use super::keys::KeyList;
use super::{keys, phone_hash_value, CustomerIndex, RefTarget, PHONE_HASH};
use crate::error::Result;
use crate::inline_key::InlineKey;
use crate::store::set::Members;
use crate::store::Table;

/// What the read-ahead found for one payment: the members of the keys its
/// matching starts from, and what later strategies said they would read
/// (see `wants`).
#[derive(Debug, Default)]
pub struct ReadAhead {
    /// Keys held in place: most are a dozen bytes.
    answers: Vec<(InlineKey, Members)>,
    /// Typo lookups, by canonical reference.
    pub(super) fuzzy: Vec<(String, Vec<(String, RefTarget)>)>,
    /// Open invoices, by customer.
    pub(super) invoices: Vec<(String, Vec<Arc<Invoice>>)>,
}

impl ReadAhead {
    /// The answer for `keys::key(family, value)`, compared in place: most
    /// lookups are answered here, and building the key to compare cost an
    /// allocation each.
    fn answer(&self, family: char, value: &str) -> Option<&Members> {
        self.answers
            .iter()
            .find(|(k, _)| is_key(k.as_slice(), family, value))
            .map(|(_, members)| members)
    }
}

/// The answer kept for `key` among a read-ahead's `answers`.
fn held<'r, T>(answers: &'r [(String, T)], key: &str) -> Option<&'r T> {
    answers
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, answer)| answer)
}

/// Whether `key` is `keys::key(family, value)`.
fn is_key(key: &[u8], family: char, value: &str) -> bool {
    key.len() == value.len() + 2
        && key[0] == family as u8
        && key[1] == b':'
        && &key[2..] == value.as_bytes()
}

/// The index as one payment's matching reads it: keys the read-ahead
/// answered are taken from its [`ReadAhead`], the rest from the store.
/// Everything else is the [`CustomerIndex`]'s (through `Deref`).
#[derive(Clone, Copy)]
pub struct Lookups<'a> {
    index: &'a CustomerIndex,
    read_ahead: Option<&'a ReadAhead>,
}

impl Deref for Lookups<'_> {
    type Target = CustomerIndex;
    fn deref(&self) -> &CustomerIndex {
        self.index
    }
}

impl<'a> Lookups<'a> {
    /// Every lookup from the store.
    pub fn new(index: &'a CustomerIndex) -> Self {
        Lookups {
            index,
            read_ahead: None,
        }
    }

    /// Lookups the read-ahead answered from `read_ahead`.
    pub fn read_ahead(index: &'a CustomerIndex, read_ahead: &'a ReadAhead) -> Self {
        Lookups {
            index,
            read_ahead: Some(read_ahead),
        }
    }

    /// The members of `keys::key(family, value)`.
    fn refs(&self, family: char, value: &str) -> Result<Members> {
        match self.read_ahead.and_then(|r| r.answer(family, value)) {
            Some(members) => Ok(members.clone()),
            None => self.index.refs(&keys::key(family, value)),
        }
    }

    fn targets(&self, family: char, value: &str) -> Result<Vec<RefTarget>> {
        if value.is_empty() {
            return Ok(Vec::new());
        }
        let members = self.refs(family, value)?;
        Ok(members.iter().filter_map(RefTarget::decode).collect())
    }

    fn customer_ids(&self, family: char, value: &str) -> Result<Vec<String>> {
        Ok(self
            .refs(family, value)?
            .iter()
            .filter_map(|m| std::str::from_utf8(m).ok().map(str::to_string))
            .collect())
    }

    /// As [`CustomerIndex::lookup_exact`].
    ///
    /// # Errors
    /// A storage failure.
    pub fn lookup_exact(&self, folded: &str) -> Result<Vec<RefTarget>> {
        self.targets('x', folded)
    }

    /// As [`CustomerIndex::lookup_canonical`].
    ///
    /// # Errors
    /// A storage failure.
    pub fn lookup_canonical(&self, canonical: &str) -> Result<Vec<RefTarget>> {
        self.targets('c', canonical)
    }

    /// Whether [`Lookups::lookup_canonical`] finds anything, without
    /// decoding what.
    ///
    /// # Errors
    /// A storage failure.
    pub fn canonical_is_known(&self, canonical: &str) -> Result<bool> {
        if canonical.is_empty() {
            return Ok(false);
        }
        let members = self.refs('c', canonical)?;
        let known = members
            .iter()
            .any(|member| RefTarget::customer_of(member).is_some());
        Ok(known)
    }

    /// As [`CustomerIndex::lookup_fuzzy`].
    ///
    /// # Errors
    /// A storage failure.
    pub fn lookup_fuzzy(&self, canonical: &str) -> Result<Vec<(String, RefTarget)>> {
        match self.read_ahead.and_then(|r| held(&r.fuzzy, canonical)) {
            Some(found) => Ok(found.clone()),
            None => self.index.lookup_fuzzy(canonical),
        }
    }

    /// As [`CustomerIndex::open_invoices`].
    ///
    /// # Errors
    /// A storage failure or a corrupt record.
    pub fn open_invoices(&self, customer_id: &str) -> Result<Vec<Arc<Invoice>>> {
        match self.read_ahead.and_then(|r| held(&r.invoices, customer_id)) {
            Some(open) => Ok(open.clone()),
            None => self.index.open_invoices(customer_id),
        }
    }

    /// As [`CustomerIndex::by_phone`].
    ///
    /// # Errors
    /// A storage failure.
    pub fn by_phone(&self, e164: &str) -> Result<Vec<String>> {
        self.customer_ids('p', e164)
    }

    /// As [`CustomerIndex::by_phone_hash`].
    ///
    /// # Errors
    /// A storage failure.
    pub fn by_phone_hash(&self, sha256_hex: &str) -> Result<Vec<String>> {
        self.customer_ids(PHONE_HASH, &phone_hash_value(sha256_hex))
    }

    /// As [`CustomerIndex::by_stripe_customer`].
    ///
    /// # Errors
    /// A storage failure.
    pub fn by_stripe_customer(&self, cus: &str) -> Result<Vec<String>> {
        self.customer_ids('s', cus)
    }
}

impl CustomerIndex {
    /// Reads ahead what matching `payments` reads first (see the module
    /// docs), in two waves: the references as typed, the Stripe ids and
    /// the payers' phones; then the canonical form of every reference the
    /// first wave found nothing under. Then the customers all of those
    /// name. Costs a few lookups per payment, overlapped; their answers
    /// are returned, one [`ReadAhead`] per payment, in order.
    pub fn prefetch(&self, payments: &[&Payment]) -> Vec<ReadAhead> {
        // The keys are written into one buffer each wave (`KeyList`).
        let mut first = KeyList::with_capacity(payments.len() * 3);
        // Which payment each key is for (then each canonical key's too).
        let mut owners: Vec<usize> = Vec::with_capacity(payments.len() * 3);
        for (owner, payment) in payments.iter().enumerate() {
            for reference in &payment.references {
                if reference.kind == ReferenceKind::ProviderCustomer {
                    first.push('s', reference.value.trim());
                    owners.push(owner);
                } else if first.push_with('x', |key| {
                    fold_case_and_punctuation_into(&reference.value, key)
                }) > 0
                {
                    owners.push(owner);
                } else {
                    first.pop();
                }
            }
            match &payment.payer_phone {
                Some(PayerPhone::Clear(m)) => first.push('p', m.as_str()),
                Some(PayerPhone::Hashed(h)) => first.push(PHONE_HASH, &phone_hash_value(h)),
                None => continue,
            }
            owners.push(owner);
        }
        // Who the keys name, read together. A read that fails is not
        // kept: matching reads it again and reports the failure.
        let mut named: Vec<Option<Members>> = self.read_members(&first.slices());
        let mut unresolved = KeyList::with_capacity(first.len());
        for (at, key) in first.iter().enumerate() {
            if key.first() == Some(&b'x')
                && customers_named(key, named[at].as_ref()).next().is_none()
            {
                let typed = std::str::from_utf8(key.get(2..).unwrap_or_default()).unwrap_or("");
                unresolved.push_with('c', |key| canonical_into(typed, key));
                owners.push(owners[at]);
            }
        }
        named.extend(self.read_members(&unresolved.slices()));
        let keys = first.iter().chain(unresolved.iter());
        // Then those customers' records, and the names the strategies
        // compare.
        let ids: Vec<&str> = keys
            .clone()
            .zip(&named)
            .flat_map(|(key, members)| customers_named(key, members.as_ref()))
            .collect();
        self.touch_customers(&ids);
        // Kept for matching, by payment.
        let mut read_ahead: Vec<ReadAhead> =
            payments.iter().map(|_| ReadAhead::default()).collect();
        for ((key, owner), members) in keys.zip(owners).zip(named) {
            if let Some(members) = members {
                read_ahead[owner]
                    .answers
                    .push((InlineKey::new(key), members));
            }
        }
        read_ahead
    }

    /// The members of each of `keys` of the reference table, read
    /// together (`KvStore::get_many_shared`); `None` where a read failed.
    pub(super) fn read_members(&self, keys: &[&[u8]]) -> Vec<Option<Members>> {
        self.store
            .get_many_shared(Table::Refs, keys)
            .into_iter()
            .map(|read| Members::parse(read.ok()?).ok())
            .collect()
    }
}

/// The customers the members of `key` name (as the lookups read them):
/// reference keys (`x`, `c`) hold encoded targets, phone and Stripe keys
/// customer ids.
fn customers_named<'m>(key: &[u8], members: Option<&'m Members>) -> impl Iterator<Item = &'m str> {
    let family = key.first().copied().unwrap_or_default();
    members
        .into_iter()
        .flat_map(Members::iter)
        .filter_map(move |member| {
            if matches!(family, b'x' | b'c') {
                RefTarget::customer_of(member)
            } else {
                std::str::from_utf8(member).ok()
            }
        })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The in-place comparison says what comparing a built key says.
        #[test]
        fn is_key_is_comparing_the_built_key(
            key in prop::collection::vec(prop::sample::select(vec![b'x', b'c', b':', b'a', 0xc3, 0xa9, 0xe9]), 0..6),
            family in prop::sample::select(vec!['x', 'c', 'p', 'é']),
            value in "[xa:é]{0,4}",
        ) {
            prop_assert_eq!(is_key(&key, family, &value), key == keys::key(family, &value));
            prop_assert!(is_key(&keys::key(family, &value), family, &value));
        }
    }
}
