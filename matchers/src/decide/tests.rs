use model::{Currency, Money, PayerPhone, Payment, PaymentStatus, ReferenceKind, ReferenceValue};

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
    let index = memory_index();
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
