//! What the later strategies will read, read for a whole batch at once.
//!
//! The read-ahead (`prefetch`) covers the keys matching starts from. What
//! the later strategies read depends on what the earlier ones found: the
//! typo lookup runs only for a reference nothing else resolved, and finds
//! customers whose records the name strategy then reads; the amount
//! strategy reads the invoices of candidates still tied. Read payment by
//! payment, each of those is a chain of cache misses waited for one after
//! the other (a typo probe, then the canonical key it names, then the
//! customer; a customer's invoice list, then each invoice): at a million
//! customers, most of the typo and amount strategies' time (BENCHMARKS,
//! session 24).
//!
//! So a batch runs each strategy over all its payments in turn: first every
//! payment names what the strategy will read ([`Wants`], through
//! `Matcher::wants`), then [`CustomerIndex::read_wants`] reads all of it
//! together, level by level, so the misses of different payments overlap,
//! and keeps the answers in each payment's [`ReadAhead`] for the strategy
//! to take. A want is a hint: a strategy that reads something it did not
//! name reads it from the store as before, and one that names more than it
//! reads only costs a read.

use super::keys::KeyList;
use super::prefetch::ReadAhead;
use super::{keys, CustomerIndex, RefTarget};
use crate::error::Result;
use crate::store::set::Members;
use crate::store::SharedBytes;
use crate::store::{corrupt_set, Table};

/// What one strategy will read for each payment of a batch (see the
/// module docs). `'e` is the batch's evidence, which names the customers.
#[derive(Default)]
pub struct Wants<'e> {
    /// The payment the next wants are for.
    owner: usize,
    /// Canonical references to look up for typos, by payment.
    fuzzy: Vec<(usize, String)>,
    /// Customers whose open invoices will be read, by payment.
    invoices_of: Vec<(usize, &'e str)>,
}

impl<'e> Wants<'e> {
    /// Nothing wanted yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next wants are for the payment at `owner` in the batch (the
    /// index of its [`ReadAhead`]).
    pub fn for_payment(&mut self, owner: usize) {
        self.owner = owner;
    }

    /// The typo lookup of a canonical reference (`lookup_fuzzy`).
    pub fn fuzzy(&mut self, canonical: String) {
        self.fuzzy.push((self.owner, canonical));
    }

    /// A customer's open invoices (`open_invoices`).
    pub fn open_invoices(&mut self, customer_id: &'e str) {
        self.invoices_of.push((self.owner, customer_id));
    }

    /// Whether nothing is wanted.
    pub fn is_empty(&self) -> bool {
        self.fuzzy.is_empty() && self.invoices_of.is_empty()
    }
}

impl CustomerIndex {
    /// Reads what `wants` names, for all its payments together, and keeps
    /// the answers in their `read_aheads` (indexed as the wants' owners).
    /// A read that fails is not kept: the strategy reads it again and
    /// reports the failure.
    pub fn read_wants(&self, wants: Wants<'_>, read_aheads: &mut [ReadAhead]) {
        if !wants.fuzzy.is_empty() {
            let canonicals: Vec<&str> = wants.fuzzy.iter().map(|(_, c)| c.as_str()).collect();
            let found = self.fuzzy_many(&canonicals);
            // The customers found are new candidates, whose records the
            // name strategy and the decision read next (the read-ahead
            // brought in those of the other candidates).
            let named: Vec<&str> = found
                .iter()
                .flat_map(|found| found.as_deref().unwrap_or_default())
                .map(|(_, target)| target.customer_id())
                .collect();
            self.touch_customers(&named);
            for ((owner, canonical), found) in wants.fuzzy.into_iter().zip(found) {
                if let (Ok(found), Some(read_ahead)) = (found, read_aheads.get_mut(owner)) {
                    read_ahead.fuzzy.push((canonical, found));
                }
            }
        }
        if !wants.invoices_of.is_empty() {
            let mut lists = KeyList::with_capacity(wants.invoices_of.len());
            for (_, customer) in &wants.invoices_of {
                lists.push('o', customer);
            }
            let lists = self.read_members(&lists.slices());
            let ids: Vec<&str> = lists
                .iter()
                .flatten()
                .flat_map(Members::iter)
                .filter_map(|id| std::str::from_utf8(id).ok())
                .collect();
            // What `invoices_from` reads of each: the owner it checks.
            self.invoices.prefetch(&ids, |invoice| {
                invoice.customer_id.bytes().next().map_or(0, u64::from)
            });
            for ((owner, customer), list) in wants.invoices_of.into_iter().zip(lists) {
                let Some(list) = list else { continue };
                if let (Ok(open), Some(read_ahead)) = (
                    self.open_invoices_from(customer, &list),
                    read_aheads.get_mut(owner),
                ) {
                    read_ahead.invoices.push((customer.to_string(), open));
                }
            }
        }
    }

    /// Brings the records of `ids`, and the names the strategies compare,
    /// into cache, all together.
    pub(super) fn touch_customers(&self, ids: &[&str]) {
        if !ids.is_empty() {
            self.customers.prefetch(ids, |customer| {
                customer.name.bytes().next().map_or(0, u64::from)
            });
        }
    }

    /// [`CustomerIndex::lookup_fuzzy`] of each of `canonicals`, read
    /// together: first every deletion key of all of them, then every
    /// canonical key those name.
    pub(super) fn fuzzy_many(&self, canonicals: &[&str]) -> Vec<Result<Vec<(String, RefTarget)>>> {
        // Each lookup's probes, in order: how many are its own.
        let mut probes = KeyList::default();
        let mut counts = Vec::with_capacity(canonicals.len());
        for canonical in canonicals {
            let before = probes.len();
            if canonical.chars().count() + 1 >= self.rules.fuzzy_min_len {
                for deletion in keys::deletions(canonical) {
                    probes.push('f', &deletion);
                }
                probes.push('f', canonical);
            }
            counts.push(probes.len() - before);
        }
        // Independent reads: read together, so their misses overlap.
        let reads = self.store.get_many_shared(Table::Refs, &probes.slices());
        let mut reads = probes.iter().zip(reads);
        // An empty near reference points at nothing (as `lookup_canonical`
        // says) and is not read.
        let near: Vec<Result<Vec<String>>> = canonicals
            .iter()
            .zip(counts)
            .map(|(canonical, count)| {
                let near = self.near(canonical, reads.by_ref().take(count).collect())?;
                Ok(near.into_iter().filter(|m| !m.is_empty()).collect())
            })
            .collect();
        // Then what the near references point at, read together too.
        let mut canonical_keys = KeyList::default();
        for m in near.iter().flat_map(|n| n.as_deref().unwrap_or_default()) {
            canonical_keys.push('c', m);
        }
        let reads = self
            .store
            .get_many_shared(Table::Refs, &canonical_keys.slices());
        let mut reads = canonical_keys.iter().zip(reads);
        near.into_iter()
            .map(|near| {
                let near = near?;
                // This lookup's reads are taken whole before any is used,
                // so a failure cannot hand its rest to the next lookup.
                let mine: Vec<_> = reads.by_ref().take(near.len()).collect();
                let mut out = Vec::new();
                for (m, (key, read)) in near.into_iter().zip(mine) {
                    let members = Members::parse(read?)
                        .map_err(|detail| corrupt_set(Table::Refs, key, detail))?;
                    for t in members.iter().filter_map(RefTarget::decode) {
                        out.push((m.clone(), t));
                    }
                }
                Ok(out)
            })
            .collect()
    }

    /// The canonical references one edit from `canonical` that its probes
    /// name, at most `max_candidates`.
    fn near(
        &self,
        canonical: &str,
        probes: Vec<(&[u8], Result<Option<SharedBytes>>)>,
    ) -> Result<Vec<String>> {
        let mut near: Vec<String> = Vec::new();
        for (probe, read) in probes {
            let members =
                Members::parse(read?).map_err(|detail| corrupt_set(Table::Refs, probe, detail))?;
            for m in members
                .iter()
                .take(self.bounds.max_members_per_key)
                .filter_map(|m| std::str::from_utf8(m).ok())
            {
                // One edit apart, so never `canonical` itself.
                if !near.iter().any(|n| n == m) && keys::one_edit_apart(m, canonical) {
                    near.push(m.to_string());
                }
            }
            if near.len() >= self.bounds.max_candidates {
                break;
            }
        }
        near.truncate(self.bounds.max_candidates);
        Ok(near)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::tests::{customer, invoice, rules};
    use super::super::{FuzzyBounds, Lookups};
    use super::*;
    use crate::store::{CountingStore, MemoryStore};

    /// Customers (id, account number) most tests index.
    const THREE_ACCOUNTS: &[(&str, &str)] =
        &[("C1", "ACC10023"), ("C2", "ACC10024"), ("C3", "ACC20050")];

    /// Indexes a customer per (id, account number), the same payer for all.
    fn with_accounts(index: &CustomerIndex, accounts: &[(&str, &str)]) {
        let mut w = index.writer();
        for (id, account) in accounts {
            w.upsert_customer(customer(id, account, "Jane Doe", "0712345678"))
                .unwrap();
        }
        w.commit().unwrap();
    }

    /// What `read_wants` read for a payment, that payment's lookups answer
    /// without a store read and as the index answers; another payment's
    /// lookups do not hold it.
    #[test]
    fn wanted_reads_are_answered_for_their_payment() {
        let store = Arc::new(CountingStore::new(Arc::new(MemoryStore::new())));
        let index = CustomerIndex::new(store.clone(), rules(), FuzzyBounds::default());
        with_accounts(&index, THREE_ACCOUNTS);
        let mut w = index.writer();
        w.upsert_invoice(invoice("INV-1", "C1", "INV000123", 2500))
            .unwrap();
        w.upsert_invoice(invoice("INV-2", "C1", "INV000124", 100))
            .unwrap();
        w.commit().unwrap();

        let mut read_aheads = vec![ReadAhead::default(), ReadAhead::default()];
        let mut wants = Wants::new();
        wants.for_payment(0);
        wants.fuzzy("ACC10025".into());
        wants.open_invoices("C1");
        wants.for_payment(1);
        wants.fuzzy("ACC20051".into());
        index.read_wants(wants, &mut read_aheads);

        let first = Lookups::read_ahead(&index, &read_aheads[0]);
        let second = Lookups::read_ahead(&index, &read_aheads[1]);
        let before = store.gets();
        let typo = first.lookup_fuzzy("ACC10025").unwrap();
        let open = first.open_invoices("C1").unwrap();
        let other_typo = second.lookup_fuzzy("ACC20051").unwrap();
        assert_eq!(store.gets(), before, "answered without a read");
        assert_eq!(typo, index.lookup_fuzzy("ACC10025").unwrap());
        assert_eq!(typo.len(), 2);
        assert_eq!(open, index.open_invoices("C1").unwrap());
        assert_eq!(open.len(), 2);
        assert_eq!(other_typo, index.lookup_fuzzy("ACC20051").unwrap());
        assert_eq!(other_typo.len(), 1);

        let before = store.gets();
        assert_eq!(second.lookup_fuzzy("ACC10025").unwrap(), typo);
        assert!(
            store.gets() > before,
            "payment 1 did not want payment 0's typo"
        );
    }

    /// Typo lookups read together answer as one by one, whatever their
    /// lengths (too short to look up, empty, repeated).
    #[test]
    fn typo_lookups_read_together_answer_as_one_by_one() {
        let index = super::super::tests::memory_index();
        with_accounts(
            &index,
            &[("C1", "ACC10023"), ("C2", "ACC10024"), ("C3", "AB12")],
        );
        let canonicals = [
            "ACC10025", "", "AB1", "AB13", "ACC10025", "ZZZZZZ", "ACC1002",
        ];
        let together: Vec<_> = index
            .fuzzy_many(&canonicals)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let alone: Vec<_> = canonicals
            .iter()
            .map(|c| index.lookup_fuzzy(c).unwrap())
            .collect();
        assert_eq!(together, alone);
        assert!(together.iter().filter(|found| !found.is_empty()).count() >= 3);
    }

    /// A lookup whose canonical read fails reports it, and the lookups
    /// read with it still answer as alone (its unread rest is not handed
    /// to the next one).
    #[test]
    fn a_failed_read_stays_with_its_lookup() {
        let index = super::super::tests::memory_index();
        with_accounts(&index, THREE_ACCOUNTS);
        let mut corrupt = crate::store::Batch::default();
        corrupt.put(Table::Refs, keys::key('c', "ACC10023"), vec![0xff]);
        index.store().write(corrupt).unwrap();
        assert!(index.lookup_canonical("ACC10023").is_err());

        let together = index.fuzzy_many(&["ACC10025", "ACC20051"]);
        assert!(together[0].is_err());
        assert_eq!(
            together[1].as_ref().unwrap(),
            &index.lookup_fuzzy("ACC20051").unwrap()
        );
        assert_eq!(together[1].as_ref().unwrap().len(), 1);
    }
}
