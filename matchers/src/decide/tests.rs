use model::{Currency, Money, PayerPhone, Payment, PaymentStatus, ReferenceKind, ReferenceValue};

use proptest::prelude::*;

use super::*;
use crate::index::tests::{customer, invoice, memory_index};
use crate::strategies::registry;

fn payment(reference: &str, phone: Option<&str>, name: Option<&str>, amount: i64) -> Payment {
    Payment {
        provider: "mpesa_c2b".into(),
        provider_txn_id: "T1".into(),
        money: Money::new(amount.into(), Currency::KES).unwrap(),
        paid_at: "2026-11-02T03:38:45Z".parse().unwrap(),
        status: PaymentStatus::Succeeded,
        references: vec![ReferenceValue {
            kind: ReferenceKind::Account,
            value: reference.into(),
        }],
        payer_phone: phone.map(|p| PayerPhone::Clear(model::normalize_msisdn(p, "254").unwrap())),
        payer_name: name.map(str::to_string),
    }
}

fn setup() -> CustomerIndex {
    populated(memory_index())
}

fn populated(index: CustomerIndex) -> CustomerIndex {
    let mut w = index.writer();
    w.upsert_customer(customer("C1", "ACC10023", "Jane Wanjiru Doe", "0712345678"))
        .unwrap();
    w.upsert_customer(customer("C2", "ACC10024", "Peter Otieno", "0722000111"))
        .unwrap();
    let mut usd = customer("C3", "USD7777", "Mary Akinyi", "0733000222");
    usd.currency = Currency::USD;
    w.upsert_customer(usd).unwrap();
    w.upsert_invoice(invoice("INV-1", "C1", "INV000123", 2500))
        .unwrap();
    w.commit().unwrap();
    index
}

fn run(p: &Payment) -> MatchResult {
    match_payment(p, &setup(), &registry(), &MatchingConfig::default()).unwrap()
}

#[test]
fn exact_account_matches() {
    let r = run(&payment("acc10023", None, Some("JANE DOE"), 2500));
    assert_eq!(r.outcome, Outcome::Matched);
    assert_eq!(r.customer_id.as_deref(), Some("C1"));
    assert_eq!(r.rule, "account_number_exact");
    assert_eq!(
        r.candidates[0].reasons[..2],
        ["account_number_exact", "name_similar"]
    );
}

#[test]
fn lookalikes_and_leading_zeros_match() {
    let r = run(&payment("ACC 1OO23", None, None, 100));
    assert_eq!(r.outcome, Outcome::Matched);
    assert_eq!(r.rule, "account_number_normalized");
}

#[test]
fn typo_alone_goes_to_review_with_both_neighbours() {
    let r = run(&payment("ACC10025", None, None, 100));
    assert_eq!(r.outcome, Outcome::Review);
    let ids: Vec<_> = r
        .candidates
        .iter()
        .map(|c| c.customer_id.as_str())
        .collect();
    assert!(ids.contains(&"C1") && ids.contains(&"C2"));
}

#[test]
fn typo_confirmed_by_name_alone_goes_to_review() {
    let r = run(&payment("ACC10032", None, Some("JANE DOE"), 100));
    assert_eq!(r.outcome, Outcome::Review, "{r:?}");
    assert_eq!(r.candidates[0].customer_id, "C1");
}

#[test]
fn typo_confirmed_by_name_and_invoice_amount_goes_to_review_ranked_first() {
    let r = run(&payment("ACC10032", None, Some("JANE DOE"), 2500));
    assert_eq!(r.outcome, Outcome::Review, "{r:?}");
    assert_eq!(r.rule, "below_threshold");
    assert_eq!(r.candidates[0].customer_id, "C1");
    assert_eq!(
        r.candidates[0].reasons,
        [
            "name_similar",
            "account_number_fuzzy",
            "amount_matches_invoice"
        ]
    );
}

#[test]
fn typo_confirmed_by_phone_matches() {
    let r = run(&payment("ACC10032", Some("0712345678"), None, 100));
    assert_eq!(r.outcome, Outcome::Matched, "{r:?}");
    assert_eq!(r.customer_id.as_deref(), Some("C1"));
}

#[test]
fn phone_alone_matches_and_phone_as_reference_matches() {
    assert_eq!(
        run(&payment("xx", Some("0712345678"), None, 10))
            .customer_id
            .as_deref(),
        Some("C1")
    );
    let r = run(&payment("0722000111", None, None, 10));
    assert_eq!(r.customer_id.as_deref(), Some("C2"));
    assert_eq!(r.rule, "phone_as_reference");
}

#[test]
fn conflicting_reference_and_phone_go_to_review() {
    let r = run(&payment(
        "ACC10023",
        Some("0722000111"),
        Some("PETER OTIENO"),
        10,
    ));
    assert_eq!(r.outcome, Outcome::Review);
    assert_eq!(r.rule, "ambiguous");
}

#[test]
fn unknown_payer_goes_to_review() {
    let r = run(&payment(
        "HELLO",
        Some("0700999888"),
        Some("NOBODY KNOWN"),
        10,
    ));
    assert_eq!(r.outcome, Outcome::Review);
    assert_eq!(r.rule, "no_candidate");
    assert!(r.candidates.is_empty());
}

#[test]
fn currency_mismatch_goes_to_review() {
    let r = run(&payment("USD7777", None, None, 10));
    assert_eq!(r.outcome, Outcome::Review);
    assert_eq!(r.rule, "currency_mismatch");
}

/// Matching through the read-ahead's answers gives every payment the same
/// result as matching alone, and reads the store less: the answers are
/// used, not read again.
#[test]
fn read_ahead_answers_give_the_same_results_with_fewer_reads() {
    use std::sync::Arc;

    use crate::index::{FuzzyBounds, KeyRules, Lookups};
    use crate::store::{CountingStore, MemoryStore};

    let store = Arc::new(CountingStore::new(Arc::new(MemoryStore::new())));
    let rules = KeyRules {
        default_country_code: "254".into(),
        fuzzy_min_len: 5,
    };
    let index = populated(CustomerIndex::new(
        store.clone(),
        rules,
        FuzzyBounds::default(),
    ));
    let hashed = {
        let mut p = payment("RENT", None, Some("PETER OTIENO"), 10);
        p.payer_phone = Some(PayerPhone::Hashed(model::phone_hash("254722000111")));
        p
    };
    let payments = [
        payment("acc10023", None, Some("JANE DOE"), 2500),
        payment("ACC 1OO23", None, None, 100),
        payment("ACC10O2", Some("0712345678"), None, 100),
        payment("HELLO", Some("0722000111"), Some("PETER OTIENO"), 10),
        payment("ACC10023", Some("0722000111"), None, 10),
        payment("0712345678", None, None, 10),
        hashed,
    ];
    let (config, matchers) = (MatchingConfig::default(), registry());
    let before = store.gets();
    let alone: Vec<MatchResult> = payments
        .iter()
        .map(|p| match_payment(p, &index, &matchers, &config).unwrap())
        .collect();
    let reads_alone = store.gets() - before;

    let refs: Vec<&Payment> = payments.iter().collect();
    let before_prefetch = store.gets();
    let answers = index.prefetch(&refs);
    assert_eq!(answers.len(), payments.len());
    let before = store.gets();
    let read_ahead: Vec<MatchResult> = payments
        .iter()
        .zip(&answers)
        .map(|(p, a)| {
            match_read_ahead(p, &Lookups::read_ahead(&index, a), &matchers, &config).unwrap()
        })
        .collect();
    let reads_read_ahead = store.gets() - before;
    assert_eq!(read_ahead, alone);
    assert!(
        reads_read_ahead + 10 <= reads_alone,
        "{reads_read_ahead} reads with the answers, {reads_alone} without"
    );

    let reads_with_prefetch = store.gets() - before_prefetch;

    // Matched as a batch: the same again, and no read more than through
    // the read-ahead (what the later strategies read is read ahead, once:
    // `index::wants` tests that they then read nothing).
    let before = store.gets();
    let batched = match_batch(&refs, &index, &matchers, &config).unwrap();
    let reads_batched = store.gets() - before;
    assert_eq!(batched, alone);
    assert!(
        reads_batched <= reads_with_prefetch,
        "{reads_batched} reads in a batch, {reads_with_prefetch} through the read-ahead"
    );
}

/// A pool of customers whose account numbers are one edit from each
/// other, so typos find several, with invoices of a few amounts.
fn crowded() -> CustomerIndex {
    let index = memory_index();
    let mut w = index.writer();
    let names = ["Jane Wanjiru", "Peter Otieno", "Mary Akinyi", "John Kamau"];
    for n in 0..12i64 {
        let id = format!("C{n}");
        let name = names[n as usize % names.len()];
        let phone = format!("07120000{n:02}");
        w.upsert_customer(customer(&id, &format!("ACC100{n:02}"), name, &phone))
            .unwrap();
        for k in 0..(n % 3) {
            let amount = 1000 * (1 + (n + k) % 3);
            w.upsert_invoice(invoice(
                &format!("INV-{n}-{k}"),
                &id,
                &format!("INV{n:03}{k}"),
                amount,
            ))
            .unwrap();
        }
    }
    w.commit().unwrap();
    index
}

/// A reference as payers type them: exact, in look-alikes, one edit off,
/// an invoice number, or unknown.
fn any_reference() -> impl Strategy<Value = String> {
    (0..12u32, 0..6u32, 0..10usize).prop_map(|(n, how, at)| {
        let exact = format!("ACC100{n:02}");
        match how {
            0 => exact,
            1 => exact.replace('0', "O").to_lowercase(),
            2 => {
                let mut typo = exact.into_bytes();
                let at = at % typo.len();
                typo[at] = if typo[at] == b'7' { b'8' } else { b'7' };
                String::from_utf8(typo).unwrap_or_default()
            }
            3 => {
                let mut swapped = exact.into_bytes();
                let at = at % (swapped.len() - 1);
                swapped.swap(at, at + 1);
                String::from_utf8(swapped).unwrap_or_default()
            }
            4 => format!("INV{n:03}{}", at % 3),
            _ => format!("RENT{at}"),
        }
    })
}

fn any_payment() -> impl Strategy<Value = Payment> {
    (
        prop::collection::vec(any_reference(), 0..3),
        prop::option::of(0..14u32),
        prop::option::of(prop::sample::select(vec![
            "JANE WANJIRU",
            "P OTIENO",
            "Akinyi Mary",
            "Nobody",
        ])),
        prop::sample::select(vec![1000i64, 2000, 3000, 5000]),
    )
        .prop_map(|(references, phone, name, amount)| {
            let mut p = payment(
                "",
                phone.map(|n| format!("07120000{n:02}")).as_deref(),
                name,
                amount,
            );
            p.references = references
                .into_iter()
                .enumerate()
                .map(|(i, value)| ReferenceValue {
                    kind: if i == 0 {
                        ReferenceKind::Account
                    } else {
                        ReferenceKind::Invoice
                    },
                    value,
                })
                .collect();
            p
        })
}

proptest! {
    /// A batch matches every payment as matching it alone does, whatever
    /// the batch holds: typos that find several customers, ties the
    /// amount breaks, the same reference twice.
    #[test]
    fn a_batch_matches_each_payment_as_alone(
        payments in prop::collection::vec(any_payment(), 0..10),
    ) {
        let index = crowded();
        let (config, matchers) = (MatchingConfig::default(), registry());
        let alone: Vec<MatchResult> = payments
            .iter()
            .map(|p| match_payment(p, &index, &matchers, &config).unwrap())
            .collect();
        let refs: Vec<&Payment> = payments.iter().collect();
        prop_assert_eq!(match_batch(&refs, &index, &matchers, &config).unwrap(), alone);
    }
}
