//! Each customer's invoices, as one list, built once and then shared.
//!
//! Stage 2 reads a customer's invoices for every payment it applies: the
//! customer's invoice set, each invoice by id, a sort by due date. That was
//! a seventh of stage 2's thread in Kafka mode (BENCHMARKS, Kafka "Session
//! 28"), for lists that change only when an invoice does. So the sorted
//! list is kept per customer, behind an `Arc`.
//!
//! A list is built from several reads, so a writer could change an invoice
//! in the middle of one. A generation counter guards the cache, as a
//! sequence lock does: the writer makes it odd before it forgets the lists
//! it changes and writes, and even again after it forgets them once more;
//! a reader caches a list only if the generation was even when it started
//! reading, and takes its list back out if the generation moved by the
//! time the list is in. Either the writer's second forget comes after the
//! reader's insert and removes it, or the reader sees the generation move.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use model::Invoice;

use super::decoded::Decoded;

/// A customer's invoices, any status, oldest due first.
pub type InvoiceList = Arc<Vec<Arc<Invoice>>>;

/// The lists by customer id, and the writers' generation.
#[derive(Default)]
pub(super) struct InvoiceLists {
    lists: Decoded<Vec<Arc<Invoice>>>,
    generation: AtomicU64,
}

/// Where a reader started: the generation it read, if even.
pub(super) struct Reading(Option<u64>);

impl InvoiceLists {
    pub(super) fn get(&self, customer_id: &str) -> Option<InvoiceList> {
        self.lists.get(customer_id)
    }

    /// Call before reading what a list is built from.
    pub(super) fn start_reading(&self) -> Reading {
        let generation = self.generation.load(Ordering::SeqCst);
        Reading(generation.is_multiple_of(2).then_some(generation))
    }

    /// Keeps `list`, built from reads that began at `reading`, unless a
    /// writer was or may have been at work meanwhile.
    pub(super) fn keep(&self, reading: Reading, customer_id: &str, list: InvoiceList) {
        let Reading(Some(started)) = reading else {
            return;
        };
        self.lists.insert(customer_id, list);
        if self.generation.load(Ordering::SeqCst) != started {
            self.lists.forget(std::iter::once(&customer_id.to_string()));
        }
    }

    /// A writer is about to change the invoices of `customers`.
    pub(super) fn writing<'a>(&self, customers: impl Iterator<Item = &'a String>) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.lists.forget(customers);
    }

    /// The writer is done with the invoices of `customers`.
    pub(super) fn written<'a>(&self, customers: impl Iterator<Item = &'a String>) {
        self.lists.forget(customers);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Forgets every list (the index was reloaded).
    pub(super) fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.lists.replace_all(Vec::new());
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}
