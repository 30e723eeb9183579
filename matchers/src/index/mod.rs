//! The customer index: customers and invoices with their secondary keys, in
//! a [`KvStore`]. Every instance of stage 1 holds the whole index (a global
//! table) and keeps it current as customer and invoice records arrive;
//! updates and deletes remove exactly the keys the previous version wrote.

mod decoded;
pub mod keys;
mod lists;
mod prefetch;
mod wants;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use model::{Customer, Invoice, InvoiceStatus};
use serde::de::DeserializeOwned;

pub use keys::{KeyRules, RefTarget, Resolved};
pub use lists::InvoiceList;
pub use prefetch::{Lookups, ReadAhead};
pub use wants::Wants;

use decoded::{Decoded, DECODED_MAX};

use crate::error::{Error, Result};
use crate::store::set::Members;
use crate::store::{Batch, KvStore, Table};

/// Bounds on the fuzzy lookup, so a query costs the same at any size.
#[derive(Clone, Debug)]
pub struct FuzzyBounds {
    /// Members read per deletion key at most.
    pub max_members_per_key: usize,
    /// Distinct fuzzy candidates returned at most.
    pub max_candidates: usize,
}

impl Default for FuzzyBounds {
    fn default() -> Self {
        FuzzyBounds {
            max_members_per_key: 64,
            max_candidates: 32,
        }
    }
}

/// Read and write access to the index.
#[derive(Clone)]
pub struct CustomerIndex {
    store: Arc<dyn KvStore>,
    rules: KeyRules,
    bounds: FuzzyBounds,
    customers: Arc<Decoded<Customer>>,
    invoices: Arc<Decoded<Invoice>>,
    invoice_lists: Arc<lists::InvoiceLists>,
}

/// The key family of phone hashes.
const PHONE_HASH: char = 'h';

/// A phone hash as the index keys it (lower-case hex), under [`PHONE_HASH`].
fn phone_hash_value(sha256_hex: &str) -> String {
    sha256_hex.to_ascii_lowercase()
}

fn decode<T: DeserializeOwned>(table: Table, key: &[u8], bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
        table: table.name(),
        key: String::from_utf8_lossy(key).into_owned(),
        detail: e.to_string(),
    })
}

impl CustomerIndex {
    /// An index over a store.
    pub fn new(store: Arc<dyn KvStore>, rules: KeyRules, bounds: FuzzyBounds) -> Self {
        CustomerIndex {
            store,
            rules,
            bounds,
            customers: Arc::default(),
            invoices: Arc::default(),
            invoice_lists: Arc::default(),
        }
    }

    /// The store underneath (shared with dedupe and stage state).
    pub fn store(&self) -> &Arc<dyn KvStore> {
        &self.store
    }

    /// Compacts the index tables after a bulk load (see [`KvStore::compact`]).
    ///
    /// # Errors
    /// A storage failure.
    pub fn compact(&self) -> Result<()> {
        for table in [Table::Refs, Table::Customers, Table::Invoices] {
            self.store.compact(table)?;
        }
        Ok(())
    }

    /// Loads the index tables into the store's memory tier, where it has
    /// one (see `store::CachedStore`), and decodes the customer and
    /// invoice records the matchers and stage 2 read, so the first payment
    /// of each customer does not pay for JSON decodes (at a million
    /// customers, most payments are a customer's first). Returns whether
    /// all the tables fit. Call it after a load and before other writers
    /// start: a record changed during the scan could be decoded in its old
    /// version.
    ///
    /// # Errors
    /// A storage failure or a corrupt record.
    pub fn warm(&self) -> Result<bool> {
        let mut all = true;
        for table in [Table::Customers, Table::Invoices, Table::Refs] {
            all &= self.store.preload(table)?;
        }
        self.decode_all(Table::Customers, &self.customers, |c: &Customer| {
            c.customer_id.clone()
        })?;
        self.decode_all(Table::Invoices, &self.invoices, |i: &Invoice| {
            i.invoice_id.clone()
        })?;
        self.invoice_lists.clear();
        Ok(all)
    }

    /// Decodes every record of `table` (up to [`DECODED_MAX`]) into
    /// `decoded`, replacing what it held.
    fn decode_all<T: DeserializeOwned>(
        &self,
        table: Table,
        decoded: &Decoded<T>,
        id_of: impl Fn(&T) -> String,
    ) -> Result<()> {
        let mut records = Vec::new();
        let mut failure = None;
        self.store.scan_prefix(table, b"", &mut |key, bytes| {
            match decode::<T>(table, key, bytes) {
                Ok(record) => records.push((id_of(&record), Arc::new(record))),
                Err(e) => failure = Some(e),
            }
            failure.is_none() && records.len() < DECODED_MAX
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        decoded.replace_all(records);
        Ok(())
    }

    /// The key rules (country code for phones, fuzzy length).
    pub fn rules(&self) -> &KeyRules {
        &self.rules
    }

    /// Starts a batch of record changes.
    pub fn writer(&self) -> IndexWriter<'_> {
        IndexWriter {
            index: self,
            batch: Batch::default(),
            set_changes: HashMap::new(),
            customers: HashMap::new(),
            invoices: HashMap::new(),
            list_customers: HashSet::new(),
        }
    }

    /// A customer record.
    ///
    /// # Errors
    /// A storage failure or a corrupt record.
    pub fn customer(&self, customer_id: &str) -> Result<Option<Arc<Customer>>> {
        self.record(&self.customers, Table::Customers, customer_id)
    }

    /// An invoice record.
    ///
    /// # Errors
    /// A storage failure or a corrupt record.
    pub fn invoice(&self, invoice_id: &str) -> Result<Option<Arc<Invoice>>> {
        self.record(&self.invoices, Table::Invoices, invoice_id)
    }

    /// A record of `table`, decoded once and then shared.
    fn record<T: DeserializeOwned>(
        &self,
        decoded: &Decoded<T>,
        table: Table,
        id: &str,
    ) -> Result<Option<Arc<T>>> {
        if let Some(hit) = decoded.get(id) {
            return Ok(Some(hit));
        }
        let key = id.as_bytes();
        let Some(bytes) = self.store.get(table, key)? else {
            return Ok(None);
        };
        let record: Arc<T> = Arc::new(decode(table, key, &bytes)?);
        decoded.insert(id, record.clone());
        Ok(Some(record))
    }

    /// A customer's invoices, any status, oldest due first.
    ///
    /// # Errors
    /// A storage failure or a corrupt record.
    pub fn invoices_of(&self, customer_id: &str) -> Result<Vec<Arc<Invoice>>> {
        let ids = self
            .store
            .members(Table::Refs, &keys::key('o', customer_id))?;
        self.invoices_from(customer_id, &ids)
    }

    /// [`CustomerIndex::invoices_of`], built once and then shared until an
    /// invoice of the customer changes (see `lists`): what stage 2 reads
    /// for every payment it applies.
    ///
    /// # Errors
    /// As [`CustomerIndex::invoices_of`].
    pub fn invoice_list(&self, customer_id: &str) -> Result<InvoiceList> {
        if let Some(list) = self.invoice_lists.get(customer_id) {
            return Ok(list);
        }
        let reading = self.invoice_lists.start_reading();
        let list = Arc::new(self.invoices_of(customer_id)?);
        self.invoice_lists.keep(reading, customer_id, list.clone());
        Ok(list)
    }

    /// The invoices of `customer_id` among `ids` (the members of its
    /// invoice list), oldest due first.
    fn invoices_from(&self, customer_id: &str, ids: &Members) -> Result<Vec<Arc<Invoice>>> {
        let mut out = Vec::new();
        for id in ids.iter().filter_map(|m| std::str::from_utf8(m).ok()) {
            if let Some(inv) = self.invoice(id)? {
                if inv.customer_id == customer_id {
                    out.push(inv);
                }
            }
        }
        out.sort_by(|a, b| {
            (a.due_at.unwrap_or(a.issued_at), a.issued_at, &a.invoice_id).cmp(&(
                b.due_at.unwrap_or(b.issued_at),
                b.issued_at,
                &b.invoice_id,
            ))
        });
        Ok(out)
    }

    /// A customer's open invoices, oldest due first.
    ///
    /// # Errors
    /// As [`CustomerIndex::invoices_of`].
    pub fn open_invoices(&self, customer_id: &str) -> Result<Vec<Arc<Invoice>>> {
        let ids = self
            .store
            .members(Table::Refs, &keys::key('o', customer_id))?;
        self.open_invoices_from(customer_id, &ids)
    }

    /// [`CustomerIndex::open_invoices`] from the members of its invoice
    /// list, read already.
    fn open_invoices_from(&self, customer_id: &str, ids: &Members) -> Result<Vec<Arc<Invoice>>> {
        let mut all = self.invoices_from(customer_id, ids)?;
        all.retain(|i| i.status == InvoiceStatus::Open);
        Ok(all)
    }

    /// The members of a reference, phone or Stripe key.
    fn refs(&self, key: &[u8]) -> Result<Members> {
        self.store.members(Table::Refs, key)
    }

    /// What a reference points at, ignoring only case and punctuation.
    ///
    /// # Errors
    /// A storage failure.
    pub fn lookup_exact(&self, folded: &str) -> Result<Vec<RefTarget>> {
        Lookups::new(self).lookup_exact(folded)
    }

    /// What a canonical reference points at (see `model::reference::canonical`).
    ///
    /// # Errors
    /// A storage failure.
    pub fn lookup_canonical(&self, canonical: &str) -> Result<Vec<RefTarget>> {
        Lookups::new(self).lookup_canonical(canonical)
    }

    /// Canonical references within one edit or one adjacent transposition of
    /// `canonical` (itself excluded), with what they point at. Reads
    /// `len + 1` keys, each capped, so the cost is bounded.
    ///
    /// # Errors
    /// A storage failure.
    pub fn lookup_fuzzy(&self, canonical: &str) -> Result<Vec<(String, RefTarget)>> {
        self.fuzzy_many(&[canonical])
            .pop()
            .unwrap_or_else(|| Ok(Vec::new()))
    }

    /// Customers with this E.164 number.
    ///
    /// # Errors
    /// A storage failure.
    pub fn by_phone(&self, e164: &str) -> Result<Vec<String>> {
        Lookups::new(self).by_phone(e164)
    }

    /// Customers whose number hashes to this SHA-256 hex digest.
    ///
    /// # Errors
    /// A storage failure.
    pub fn by_phone_hash(&self, sha256_hex: &str) -> Result<Vec<String>> {
        Lookups::new(self).by_phone_hash(sha256_hex)
    }

    /// Customers with this Stripe customer id.
    ///
    /// # Errors
    /// A storage failure.
    pub fn by_stripe_customer(&self, cus: &str) -> Result<Vec<String>> {
        Lookups::new(self).by_stripe_customer(cus)
    }
}

/// A batch of customer and invoice changes, applied atomically by
/// [`IndexWriter::commit`]. Changes to the same record within one batch are
/// folded, so a bulk load may contain several versions of a customer.
pub struct IndexWriter<'a> {
    index: &'a CustomerIndex,
    batch: Batch,
    /// Set changes per key, folded into one merge operand each at commit.
    set_changes: HashMap<Vec<u8>, Vec<(Vec<u8>, bool)>>,
    customers: HashMap<String, Option<Customer>>,
    invoices: HashMap<String, Option<Invoice>>,
    /// The customers whose invoice lists the batch changes (an invoice's
    /// customer before and after).
    list_customers: HashSet<String>,
}

impl IndexWriter<'_> {
    fn old_customer(&self, id: &str) -> Result<Option<Customer>> {
        match self.customers.get(id) {
            Some(pending) => Ok(pending.clone()),
            None => Ok(self.index.customer(id)?.map(|c| (*c).clone())),
        }
    }

    fn old_invoice(&self, id: &str) -> Result<Option<Invoice>> {
        match self.invoices.get(id) {
            Some(pending) => Ok(pending.clone()),
            None => Ok(self.index.invoice(id)?.map(Arc::unwrap_or_clone)),
        }
    }

    fn apply_keys(&mut self, old: keys::KeyPairs, new: keys::KeyPairs) {
        for pair in old.iter().filter(|p| !new.contains(p)) {
            // Fuzzy keys only hint at canonical references, which are checked
            // on lookup; stale hints are harmless, so they are left.
            if pair.0.first() != Some(&b'f') {
                self.batch
                    .set_remove(Table::Refs, pair.0.clone(), pair.1.clone());
            }
        }
        for pair in new.into_iter().filter(|p| !old.contains(p)) {
            self.batch.set_add(Table::Refs, pair.0, pair.1);
        }
    }

    /// Adds or replaces a customer.
    ///
    /// # Errors
    /// A storage failure reading the previous version.
    pub fn upsert_customer(&mut self, customer: Customer) -> Result<()> {
        let rules = &self.index.rules;
        let old = self.old_customer(&customer.customer_id)?;
        let old_keys = old
            .map(|c| keys::customer_keys(rules, &c))
            .unwrap_or_default();
        let new_keys = keys::customer_keys(rules, &customer);
        self.apply_keys(old_keys, new_keys);
        let bytes = serde_json::to_vec(&customer).unwrap_or_default();
        self.batch
            .put(Table::Customers, customer.customer_id.as_bytes(), bytes);
        self.customers
            .insert(customer.customer_id.clone(), Some(customer));
        Ok(())
    }

    /// Removes a customer (a tombstone on the customers topic).
    ///
    /// # Errors
    /// A storage failure reading the previous version.
    pub fn delete_customer(&mut self, customer_id: &str) -> Result<()> {
        if let Some(old) = self.old_customer(customer_id)? {
            let old_keys = keys::customer_keys(&self.index.rules, &old);
            self.apply_keys(old_keys, Vec::new());
        }
        self.batch.delete(Table::Customers, customer_id.as_bytes());
        self.customers.insert(customer_id.to_string(), None);
        Ok(())
    }

    /// Adds or replaces an invoice.
    ///
    /// # Errors
    /// A storage failure reading the previous version.
    pub fn upsert_invoice(&mut self, invoice: Invoice) -> Result<()> {
        let rules = &self.index.rules;
        let old = self.old_invoice(&invoice.invoice_id)?;
        let old_keys = old
            .map(|i| {
                self.list_customers.insert(i.customer_id.clone());
                keys::invoice_keys(rules, &i)
            })
            .unwrap_or_default();
        self.list_customers.insert(invoice.customer_id.clone());
        let new_keys = keys::invoice_keys(rules, &invoice);
        self.apply_keys(old_keys, new_keys);
        let bytes = serde_json::to_vec(&invoice).unwrap_or_default();
        self.batch
            .put(Table::Invoices, invoice.invoice_id.as_bytes(), bytes);
        self.invoices
            .insert(invoice.invoice_id.clone(), Some(invoice));
        Ok(())
    }

    /// Removes an invoice.
    ///
    /// # Errors
    /// A storage failure reading the previous version.
    pub fn delete_invoice(&mut self, invoice_id: &str) -> Result<()> {
        if let Some(old) = self.old_invoice(invoice_id)? {
            self.list_customers.insert(old.customer_id.clone());
            let old_keys = keys::invoice_keys(&self.index.rules, &old);
            self.apply_keys(old_keys, Vec::new());
        }
        self.batch.delete(Table::Invoices, invoice_id.as_bytes());
        self.invoices.insert(invoice_id.to_string(), None);
        Ok(())
    }

    /// Queued writes so far.
    pub fn pending(&self) -> usize {
        self.batch.len() + self.set_changes.len()
    }

    /// Writes everything atomically.
    ///
    /// # Errors
    /// A storage failure; nothing is written then.
    pub fn commit(mut self) -> Result<()> {
        let mut keys: Vec<_> = self.set_changes.into_iter().collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (key, changes) in keys {
            let run = crate::store::set::run(changes.iter().map(|(m, p)| (m.as_slice(), *p)));
            self.batch
                .ops
                .push(crate::store::Op::SetChanges(Table::Refs, key, run));
        }
        // Drop decoded copies before and after the write, so no reader keeps
        // one that was decoded from the old bytes.
        self.index.invoice_lists.writing(self.list_customers.iter());
        self.index.customers.forget(self.customers.keys());
        self.index.invoices.forget(self.invoices.keys());
        let result = self.index.store.write(self.batch);
        self.index.customers.forget(self.customers.keys());
        self.index.invoices.forget(self.invoices.keys());
        self.index.invoice_lists.written(self.list_customers.iter());
        result
    }
}

#[cfg(test)]
pub(crate) mod tests;
