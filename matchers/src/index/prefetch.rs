//! Reading ahead for a batch of payments.
//!
//! Matching one payment is a chain of lookups in tables far larger than
//! the processor's caches, each waiting for memory before the next
//! starts: the profile of stage 1 was mostly those waits. The lookups of
//! *different* payments do not depend on each other, so a stage that has
//! a batch in hand first touches, for all of them together, the keys
//! matching starts from (the references as typed, the payer's phone) and
//! then the customers those keys name. The processor overlaps those
//! misses; matching then finds its first reads in cache. A hint only:
//! nothing here changes a result.

use model::reference::{canonical, fold_case_and_punctuation};
use model::{PayerPhone, Payment, ReferenceKind};

use super::{keys, phone_hash_key, CustomerIndex, RefTarget};
use crate::store::set::Members;
use crate::store::Table;

impl CustomerIndex {
    /// Reads ahead what matching `payments` reads first (see the module
    /// docs), in two waves: the references as typed, the Stripe ids and
    /// the payers' phones; then the canonical form of every reference the
    /// first wave found nothing under. Then the customers all of those
    /// name. Costs a few lookups per payment, overlapped.
    pub fn prefetch(&self, payments: &[&Payment]) {
        let mut first: Vec<Vec<u8>> = Vec::with_capacity(payments.len() * 3);
        for payment in payments {
            for reference in &payment.references {
                if reference.kind == ReferenceKind::ProviderCustomer {
                    first.push(keys::key('s', reference.value.trim()));
                } else {
                    let folded = fold_case_and_punctuation(&reference.value);
                    if !folded.is_empty() {
                        first.push(keys::key('x', &folded));
                    }
                }
            }
            match &payment.payer_phone {
                Some(PayerPhone::Clear(m)) => first.push(keys::key('p', m.as_str())),
                Some(PayerPhone::Hashed(h)) => first.push(phone_hash_key(h)),
                None => {}
            }
        }
        self.store.prefetch(Table::Refs, &first);
        // The keys are in cache now: read who they name, in place.
        let mut named: Vec<(u8, Members)> = Vec::with_capacity(first.len());
        let mut unresolved = Vec::new();
        for key in &first {
            let family = key.first().copied().unwrap_or_default();
            let members = self.named_by(key);
            if family == b'x' && customers_named(family, &members).next().is_none() {
                let typed = std::str::from_utf8(key.get(2..).unwrap_or_default()).unwrap_or("");
                unresolved.push(keys::key('c', &canonical(typed)));
            }
            named.push((family, members));
        }
        self.store.prefetch(Table::Refs, &unresolved);
        for key in &unresolved {
            named.push((b'c', self.named_by(key)));
        }
        // Then those customers' records, and the names the strategies
        // compare.
        let ids: Vec<&str> = named
            .iter()
            .flat_map(|(family, members)| customers_named(*family, members))
            .collect();
        self.customers.prefetch(&ids, |customer| {
            customer.name.bytes().next().map_or(0, u64::from)
        });
    }

    /// The members of a reference or phone key. A read that fails names
    /// no one: the lookup itself will report it.
    fn named_by(&self, key: &[u8]) -> Members {
        self.store.members(Table::Refs, key).unwrap_or_default()
    }
}

/// The customers the members of a key of `family` name (as the lookups
/// read them): reference keys (`x`, `c`) hold encoded targets, phone and
/// Stripe keys customer ids.
fn customers_named(family: u8, members: &Members) -> impl Iterator<Item = &str> {
    members.iter().filter_map(move |member| {
        if matches!(family, b'x' | b'c') {
            RefTarget::customer_of(member)
        } else {
            std::str::from_utf8(member).ok()
        }
    })
}
