//! The customer index at one million customers, on RocksDB: every exact
//! reference, phone and typo is found, and a fuzzy lookup reads a bounded
//! number of keys (counted through the store), never a scan.

use std::sync::Arc;

use anyhow::Result;
use matchers::index::{FuzzyBounds, KeyRules};
use matchers::store::CountingStore;
use matchers::CustomerIndex;
use model::{Currency, Customer, CustomerStatus, Invoice, InvoiceStatus, Service};
use pipeline::Config;
use rust_decimal::Decimal;

const CUSTOMERS: u64 = 1_000_000;

/// A scrambled but unique 8-digit account number per customer.
fn account(i: u64) -> String {
    format!("ACC{:08}", (i * 7_919 + 13) % 100_000_000)
}

fn customer(i: u64) -> Customer {
    Customer {
        customer_id: format!("C{i:07}"),
        account_number: Some(account(i)),
        name: format!("Customer {i}"),
        msisdns: vec![format!("2547{:08}", i)],
        stripe_customer_id: None,
        services: vec![Service {
            service_id: format!("S-{i}"),
            username: format!("user{i}.pppoe"),
            nas_id: None,
            plan: None,
        }],
        status: CustomerStatus::Active,
        currency: Currency::KES,
        updated_at: None,
    }
}

#[test]
fn one_million_customers() -> Result<()> {
    let config = Config::default();
    let opened = pipeline::store::open(None, &config)?;
    let counting = Arc::new(CountingStore::new(opened.store.clone()));
    let rules = KeyRules {
        default_country_code: "254".into(),
        fuzzy_min_len: 5,
    };
    let index = CustomerIndex::new(counting.clone(), rules, FuzzyBounds::default());

    let mut writer = index.writer();
    for i in 0..CUSTOMERS {
        writer.upsert_customer(customer(i))?;
        writer.upsert_invoice(Invoice {
            invoice_id: format!("INV-{i}"),
            customer_id: format!("C{i:07}"),
            number: Some(format!("INV{i:08}")),
            amount: Decimal::new(2500, 0),
            currency: Currency::KES,
            issued_at: "2026-11-01T00:00:00Z".parse()?,
            due_at: None,
            status: InvoiceStatus::Open,
        })?;
        if writer.pending() > 100_000 {
            std::mem::replace(&mut writer, index.writer()).commit()?;
        }
    }
    writer.commit()?;

    for i in (0..CUSTOMERS).step_by(997) {
        let id = format!("C{i:07}");
        let exact = index.lookup_exact(&account(i))?;
        assert!(
            exact.iter().any(|t| t.customer_id() == id),
            "account of {id}"
        );
        assert_eq!(
            index.by_phone(&format!("2547{i:08}"))?,
            std::slice::from_ref(&id)
        );
        assert!(index
            .lookup_exact(&format!("INV{i:08}"))?
            .iter()
            .any(|t| t.customer_id() == id));

        // A transposition of the last two digits of the account.
        let mut chars: Vec<char> = account(i).chars().collect();
        let n = chars.len();
        if chars[n - 1] == chars[n - 2] {
            continue;
        }
        chars.swap(n - 1, n - 2);
        let typo: String = chars.into_iter().collect();
        let canonical = model::reference::canonical(&typo);
        let before = counting.gets();
        let near = index.lookup_fuzzy(&canonical)?;
        let reads = counting.gets() - before;
        assert!(
            near.iter().any(|(_, t)| t.customer_id() == id),
            "typo {typo} of {id}"
        );
        // One read per deletion key plus one per verified neighbour.
        let bound = (canonical.len() + 1 + FuzzyBounds::default().max_candidates) as u64;
        assert!(reads <= bound, "{reads} reads for one fuzzy lookup");
    }
    assert_eq!(counting.scans(), 0, "lookups never scan");
    Ok(())
}
