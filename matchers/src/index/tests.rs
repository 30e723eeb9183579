use std::sync::Arc;

use model::{Currency, Customer, CustomerStatus, Invoice, InvoiceStatus, Service};
use rust_decimal::Decimal;

use super::*;
use crate::store::{MemoryStore, RocksOptions, RocksStore};

pub(crate) fn customer(id: &str, account: &str, name: &str, phone: &str) -> Customer {
    Customer {
        customer_id: id.into(),
        account_number: Some(account.into()),
        name: name.into(),
        msisdns: vec![phone.into()],
        stripe_customer_id: None,
        services: vec![Service {
            service_id: format!("S-{id}"),
            username: format!(
                "{}.pppoe",
                name.split(' ').next().unwrap_or("x").to_lowercase()
            ),
            nas_id: Some("nas-1".into()),
            plan: None,
        }],
        status: CustomerStatus::Active,
        currency: Currency::KES,
        updated_at: None,
    }
}

pub(crate) fn invoice(id: &str, customer: &str, number: &str, amount: i64) -> Invoice {
    Invoice {
        invoice_id: id.into(),
        customer_id: customer.into(),
        number: Some(number.into()),
        amount: Decimal::new(amount, 0),
        currency: Currency::KES,
        issued_at: "2026-11-01T00:00:00Z".parse().unwrap(),
        due_at: Some("2026-11-10T00:00:00Z".parse().unwrap()),
        status: InvoiceStatus::Open,
    }
}

pub(crate) fn rules() -> KeyRules {
    KeyRules {
        default_country_code: "254".into(),
        fuzzy_min_len: 5,
    }
}

pub(crate) fn memory_index() -> CustomerIndex {
    CustomerIndex::new(
        Arc::new(MemoryStore::new()),
        rules(),
        FuzzyBounds::default(),
    )
}

fn ids(targets: Vec<RefTarget>) -> Vec<String> {
    let mut v: Vec<_> = targets
        .iter()
        .map(|t| t.customer_id().to_string())
        .collect();
    v.sort();
    v.dedup();
    v
}

fn exercise(index: &CustomerIndex) {
    let mut w = index.writer();
    w.upsert_customer(customer("C1", "ACC10023", "Jane Wanjiru Doe", "0712345678"))
        .unwrap();
    w.upsert_customer(customer("C2", "ACC10024", "Peter Otieno", "+254722000111"))
        .unwrap();
    w.upsert_invoice(invoice("INV-1", "C1", "INV000123", 2500))
        .unwrap();
    w.commit().unwrap();

    assert_eq!(ids(index.lookup_exact("ACC10023").unwrap()), ["C1"]);
    assert_eq!(ids(index.lookup_exact("INV000123").unwrap()), ["C1"]);
    assert_eq!(ids(index.lookup_exact("JANEPPPOE").unwrap()), ["C1"]);
    assert_eq!(
        ids(index
            .lookup_canonical(&model::reference::canonical("acc 1oo23"))
            .unwrap()),
        ["C1"]
    );
    assert_eq!(index.by_phone("254712345678").unwrap(), ["C1"]);
    assert_eq!(
        index
            .by_phone_hash(&model::phone_hash("254722000111"))
            .unwrap(),
        ["C2"]
    );
    assert_eq!(index.open_invoices("C1").unwrap().len(), 1);

    // A typo finds both neighbours; a transposition finds its account.
    let near = index.lookup_fuzzy("ACC10025").unwrap();
    let mut near_ids: Vec<_> = near
        .iter()
        .map(|(_, t)| t.customer_id().to_string())
        .collect();
    near_ids.sort();
    near_ids.dedup();
    assert_eq!(near_ids, ["C1", "C2"]);
    let swapped = index.lookup_fuzzy("ACC10032").unwrap();
    assert!(swapped.iter().any(|(_, t)| t.customer_id() == "C1"));

    // Updates move keys; deletes remove them.
    let mut w = index.writer();
    let mut moved = customer("C1", "ACC20023", "Jane Wanjiru Doe", "0799000000");
    moved.status = CustomerStatus::Suspended;
    w.upsert_customer(moved).unwrap();
    w.delete_customer("C2").unwrap();
    let mut paid = invoice("INV-1", "C1", "INV000123", 2500);
    paid.status = InvoiceStatus::Paid;
    w.upsert_invoice(paid).unwrap();
    w.commit().unwrap();
    assert!(index.lookup_exact("ACC10023").unwrap().is_empty());
    assert_eq!(ids(index.lookup_exact("ACC20023").unwrap()), ["C1"]);
    assert!(index.by_phone("254712345678").unwrap().is_empty());
    assert_eq!(index.by_phone("254799000000").unwrap(), ["C1"]);
    assert!(index.by_phone("254722000111").unwrap().is_empty());
    assert!(index.customer("C2").unwrap().is_none());
    assert!(index.open_invoices("C1").unwrap().is_empty());
    assert_eq!(
        index.customer("C1").unwrap().unwrap().status,
        CustomerStatus::Suspended
    );
    // Stale fuzzy hints for the deleted account never surface.
    assert!(index.lookup_fuzzy("ACC10025").unwrap().is_empty());
}

#[test]
fn memory_backend_indexes_updates_and_deletes() {
    exercise(&memory_index());
}

#[test]
fn rocksdb_backend_indexes_updates_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksStore::open(&RocksOptions::new(dir.path())).unwrap();
    exercise(&CustomerIndex::new(
        Arc::new(store),
        rules(),
        FuzzyBounds::default(),
    ));
}

#[test]
fn rocksdb_index_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RocksStore::open(&RocksOptions::new(dir.path())).unwrap();
        let index = CustomerIndex::new(Arc::new(store), rules(), FuzzyBounds::default());
        let mut w = index.writer();
        w.upsert_customer(customer("C1", "ACC10023", "Jane Doe", "0712345678"))
            .unwrap();
        w.commit().unwrap();
        index.store().flush().unwrap();
    }
    let store = RocksStore::open(&RocksOptions::new(dir.path())).unwrap();
    let index = CustomerIndex::new(Arc::new(store), rules(), FuzzyBounds::default());
    assert_eq!(ids(index.lookup_exact("ACC10023").unwrap()), ["C1"]);
}

#[test]
fn several_versions_in_one_batch_fold() {
    let index = memory_index();
    let mut w = index.writer();
    w.upsert_customer(customer("C1", "ACC1", "Jane Doe", "0712345678"))
        .unwrap();
    w.upsert_customer(customer("C1", "ACC2", "Jane Doe", "0712345678"))
        .unwrap();
    w.commit().unwrap();
    assert!(index.lookup_exact("ACC1").unwrap().is_empty());
    assert_eq!(ids(index.lookup_exact("ACC2").unwrap()), ["C1"]);
}

/// An index over a memory store that counts its reads.
fn counted_index() -> (Arc<crate::store::CountingStore>, CustomerIndex) {
    let store = Arc::new(crate::store::CountingStore::new(Arc::new(
        MemoryStore::new(),
    )));
    let index = CustomerIndex::new(store.clone(), rules(), FuzzyBounds::default());
    (store, index)
}

#[test]
fn warming_decodes_customers_and_writes_still_replace_them() {
    let (store, index) = counted_index();
    let mut w = index.writer();
    w.upsert_customer(customer("C1", "ACC1001", "Jane Doe", "0712345678"))
        .unwrap();
    w.commit().unwrap();
    index.warm().unwrap();
    let reads = store.gets();
    assert_eq!(index.customer("C1").unwrap().unwrap().name, "Jane Doe");
    assert_eq!(store.gets(), reads, "decoded at warm-up, not read");
    let mut w = index.writer();
    w.upsert_customer(customer("C1", "ACC1001", "Jane W. Doe", "0712345678"))
        .unwrap();
    w.commit().unwrap();
    assert_eq!(index.customer("C1").unwrap().unwrap().name, "Jane W. Doe");
}

#[test]
fn invoices_are_decoded_once_and_writes_replace_them() {
    let (store, index) = counted_index();
    let mut w = index.writer();
    w.upsert_customer(customer("C1", "ACC1001", "Jane Doe", "0712345678"))
        .unwrap();
    w.upsert_invoice(invoice("I1", "C1", "INV1", 2500)).unwrap();
    w.commit().unwrap();
    assert_eq!(index.invoices_of("C1").unwrap().len(), 1);
    let reads = store.gets();
    let first = index.invoice("I1").unwrap().unwrap();
    assert_eq!(store.gets(), reads, "decoded on first use, then shared");
    let mut w = index.writer();
    w.upsert_invoice(invoice("I1", "C1", "INV1", 3000)).unwrap();
    w.commit().unwrap();
    let second = index.invoice("I1").unwrap().unwrap();
    assert_ne!(
        first.amount, second.amount,
        "the new version, not the cached one"
    );
    let mut w = index.writer();
    w.delete_invoice("I1").unwrap();
    w.commit().unwrap();
    assert!(index.invoice("I1").unwrap().is_none());
    assert!(index.invoices_of("C1").unwrap().is_empty());
}

/// The ids and amounts of a customer's shared list.
fn listed(index: &CustomerIndex, customer_id: &str) -> Vec<(String, i64)> {
    index
        .invoice_list(customer_id)
        .unwrap()
        .iter()
        .map(|i| (i.invoice_id.clone(), i.amount.try_into().unwrap()))
        .collect()
}

#[test]
fn invoice_lists_are_shared_until_an_invoice_of_the_customer_changes() {
    let index = memory_index();
    let mut w = index.writer();
    for (id, account) in [("C1", "ACC1001"), ("C2", "ACC1002")] {
        w.upsert_customer(customer(id, account, "Jane Doe", "0712345678"))
            .unwrap();
    }
    w.upsert_invoice(invoice("I1", "C1", "INV1", 2500)).unwrap();
    w.upsert_invoice(invoice("I2", "C1", "INV2", 1000)).unwrap();
    w.commit().unwrap();
    let first = index.invoice_list("C1").unwrap();
    assert!(
        Arc::ptr_eq(&first, &index.invoice_list("C1").unwrap()),
        "shared"
    );
    assert_eq!(
        listed(&index, "C1"),
        [("I1".into(), 2500), ("I2".into(), 1000)]
    );
    assert!(listed(&index, "C2").is_empty());

    // One invoice changes: a new list, with the new version.
    let mut w = index.writer();
    w.upsert_invoice(invoice("I1", "C1", "INV1", 3000)).unwrap();
    w.commit().unwrap();
    assert!(!Arc::ptr_eq(&first, &index.invoice_list("C1").unwrap()));
    assert_eq!(
        listed(&index, "C1"),
        [("I1".into(), 3000), ("I2".into(), 1000)]
    );

    // An invoice moves to another customer: both lists change.
    let mut w = index.writer();
    w.upsert_invoice(invoice("I2", "C2", "INV2", 1000)).unwrap();
    w.commit().unwrap();
    assert_eq!(listed(&index, "C1"), [("I1".into(), 3000)]);
    assert_eq!(listed(&index, "C2"), [("I2".into(), 1000)]);

    // Deleted, and a customer whose list was never read.
    let mut w = index.writer();
    w.delete_invoice("I2").unwrap();
    w.upsert_invoice(invoice("I3", "C3", "INV3", 500)).unwrap();
    w.commit().unwrap();
    assert!(listed(&index, "C2").is_empty());
    assert_eq!(listed(&index, "C3"), [("I3".into(), 500)]);
    for c in ["C1", "C2", "C3"] {
        let from_store: Vec<_> = index.invoices_of(c).unwrap();
        assert_eq!(*index.invoice_list(c).unwrap(), from_store, "{c}");
    }
}

#[test]
fn a_list_read_while_a_writer_is_at_work_is_not_kept() {
    let index = memory_index();
    let lists = &index.invoice_lists;
    let stale: InvoiceList = Arc::new(Vec::new());
    let c1 = "C1".to_string();

    // Began before a write, kept after it: taken back out.
    let reading = lists.start_reading();
    lists.writing(std::iter::once(&c1));
    lists.written(std::iter::once(&c1));
    lists.keep(reading, "C1", stale.clone());
    assert!(lists.get("C1").is_none());

    // Began during a write: never kept.
    lists.writing(std::iter::once(&c1));
    let reading = lists.start_reading();
    lists.keep(reading, "C1", stale.clone());
    lists.written(std::iter::once(&c1));
    assert!(lists.get("C1").is_none());

    // Kept before the writer's second forget: forgotten by it.
    let reading = lists.start_reading();
    lists.writing(std::iter::once(&c1));
    lists.keep(reading, "C1", stale.clone());
    lists.written(std::iter::once(&c1));
    assert!(lists.get("C1").is_none());

    // No writer: kept.
    let reading = lists.start_reading();
    lists.keep(reading, "C1", stale.clone());
    assert!(Arc::ptr_eq(&lists.get("C1").unwrap(), &stale));

    // Warming forgets every list.
    index.warm().unwrap();
    assert!(lists.get("C1").is_none());
}
