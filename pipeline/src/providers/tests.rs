//! Every provider quirk, on the fixtures in `fixtures/providers/`, and a
//! fuzz-style property: no payload, however broken, makes an adapter panic.

use chrono::{DateTime, Utc};
use model::{PayerPhone, PaymentStatus, ReferenceKind};
use proptest::prelude::*;

use super::*;
use crate::config::ProvidersConfig;

fn fixture_dir() -> std::path::PathBuf {
    // The directory at run time, not at build time: the shared target
    // directory may hold this binary built from another checkout.
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../fixtures/providers")
}

/// A provider fixture's text (adapters' own tests read them here too).
pub(super) fn fixture(name: &str) -> String {
    let path = fixture_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn now() -> DateTime<Utc> {
    "2026-11-02T12:00:00Z".parse().unwrap()
}

fn normalize(provider: &str, fixture_name: &str) -> Result<Payment, NormalizeError> {
    let config = ProvidersConfig::default();
    let received = Some("2026-11-02T11:59:00Z".parse().unwrap());
    let ctx = NormalizeContext {
        config: &config,
        received_at: received,
        now: now(),
    };
    Providers::default().normalize(provider, &fixture(fixture_name), &ctx)
}

fn ok(provider: &str, fixture_name: &str) -> Payment {
    normalize(provider, fixture_name).unwrap_or_else(|e| panic!("{fixture_name}: {e}"))
}

#[test]
fn registry_lists_the_six_providers() {
    assert_eq!(
        Providers::default().names(),
        [
            "airtel_money",
            "generic",
            "mpesa_c2b",
            "mpesa_stk",
            "mtn_momo",
            "stripe"
        ]
    );
}

/// Stage 1 trusts an envelope split without serde only when the adapter
/// reads the payload candidate whole (`model::envelope`): text after the
/// value, such as the envelope's next field, must be refused.
#[test]
fn every_adapter_refuses_text_after_the_payload() {
    let fixtures = std::fs::read_dir(fixture_dir()).unwrap();
    let mut checked = std::collections::BTreeSet::new();
    for entry in fixtures {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(provider) = Providers::default()
            .names()
            .into_iter()
            .find(|p| name.starts_with(*p) && name.ends_with(".json"))
        else {
            continue;
        };
        let config = ProvidersConfig::default();
        let ctx = NormalizeContext {
            config: &config,
            received_at: None,
            now: now(),
        };
        let payload = fixture(&name);
        let adapters = Providers::default();
        if adapters.normalize(provider, &payload, &ctx).is_err() {
            continue;
        }
        for trailing in [r#","provider":"x""#, "}", r#", "extra": {}"#] {
            let candidate = format!("{}{trailing}", payload.trim_end());
            assert!(
                adapters.normalize(provider, &candidate, &ctx).is_err(),
                "{name} with {trailing:?}"
            );
        }
        checked.insert(provider);
    }
    assert_eq!(checked.len(), 6, "{checked:?}");
}

#[test]
fn mpesa_c2b_string_amount_and_local_time() {
    let p = ok("mpesa_c2b", "mpesa_c2b_confirmation.json");
    assert_eq!(p.payment_id(), "mpesa_c2b:RKTQDM7W6S");
    assert_eq!(p.money.amount.to_string(), "2500.00");
    assert_eq!(p.money.currency.code(), "KES");
    // 06:38:45 East Africa Time is 03:38:45 UTC.
    assert_eq!(p.paid_at.to_rfc3339(), "2026-11-02T03:38:45+00:00");
    assert_eq!(p.references[0].value, "ACC10023");
    assert_eq!(p.payer_name.as_deref(), Some("JANE DOE"));
    assert_eq!(
        p.payer_phone,
        Some(PayerPhone::Clear(
            model::normalize_msisdn("254712345678", "254").unwrap()
        ))
    );
}

#[test]
fn mpesa_c2b_time_zone_is_configurable() {
    let mut config = ProvidersConfig::default();
    config.time_zone = crate::config::TimeZone(chrono_tz::UTC);
    let ctx = NormalizeContext {
        config: &config,
        received_at: None,
        now: now(),
    };
    let p = Providers::default()
        .normalize("mpesa_c2b", &fixture("mpesa_c2b_confirmation.json"), &ctx)
        .unwrap();
    assert_eq!(p.paid_at.to_rfc3339(), "2026-11-02T06:38:45+00:00");
}

#[test]
fn mpesa_c2b_hashed_and_masked_msisdn() {
    let p = ok("mpesa_c2b", "mpesa_c2b_hashed_msisdn.json");
    assert_eq!(
        p.payer_phone,
        Some(PayerPhone::Hashed(model::phone_hash("254722000111")))
    );
    assert_eq!(p.references[0].kind, ReferenceKind::Invoice);
    // Just before midnight local time is still the same UTC day minus 3h.
    assert_eq!(p.paid_at.to_rfc3339(), "2026-11-02T20:59:59+00:00");
    let masked = ok("mpesa_c2b", "mpesa_c2b_masked_msisdn.json");
    assert_eq!(masked.payer_phone, None);
    assert_eq!(masked.money.amount.to_string(), "10.00");
}

#[test]
fn mpesa_stk_numeric_metadata_and_failure() {
    let p = ok("mpesa_stk", "mpesa_stk_success.json");
    assert_eq!(p.payment_id(), "mpesa_stk:NLJ7RT61SV");
    assert_eq!(p.money.amount.to_string(), "1.00");
    assert_eq!(p.paid_at.to_rfc3339(), "2019-12-19T07:21:15+00:00");
    assert!(
        matches!(p.payer_phone, Some(PayerPhone::Clear(ref m)) if m.as_str() == "254708374149")
    );
    let failed = ok("mpesa_stk", "mpesa_stk_cancelled.json");
    assert_eq!(failed.payment_id(), "mpesa_stk:ws_CO_191220191020363925");
    assert!(
        matches!(failed.status, PaymentStatus::Failed { ref reason } if reason.contains("1032"))
    );
    assert!(failed.money.amount.is_zero());
}

#[test]
fn mtn_momo_success_failure_and_pending() {
    let p = ok("mtn_momo", "mtn_momo_successful.json");
    assert_eq!(p.payment_id(), "mtn_momo:23503452");
    assert_eq!(p.money.amount.to_string(), "50000");
    assert_eq!(p.money.currency.code(), "UGX");
    assert_eq!(
        p.paid_at.to_rfc3339(),
        "2026-11-02T11:59:00+00:00",
        "received_at stands in for the missing time"
    );
    assert_eq!(p.references[0].value, "INV000200");
    let failed = ok("mtn_momo", "mtn_momo_failed.json");
    assert_eq!(
        failed.payment_id(),
        "mtn_momo:947354",
        "a failed request is known by its externalId"
    );
    assert!(
        matches!(failed.status, PaymentStatus::Failed { ref reason } if reason.contains("PAYER_NOT_FOUND"))
    );
    assert_eq!(
        normalize("mtn_momo", "mtn_momo_pending.json")
            .unwrap_err()
            .kind(),
        "not_final"
    );
}

#[test]
fn airtel_amount_from_message_or_enrichment() {
    let p = ok("airtel_money", "airtel_money_success.json");
    assert_eq!(p.payment_id(), "airtel_money:MP210603.1234.L06941");
    assert_eq!(p.money.amount.to_string(), "5000");
    assert_eq!(p.money.currency.code(), "UGX");
    let e = ok("airtel_money", "airtel_money_enriched.json");
    assert_eq!(e.money.amount.to_string(), "75000");
    assert!(
        matches!(e.payer_phone, Some(PayerPhone::Clear(ref m)) if m.as_str() == "256752000111")
    );
    let failed = ok("airtel_money", "airtel_money_failed.json");
    assert_eq!(failed.payment_id(), "airtel_money:BBZMiscxz");
    assert!(matches!(failed.status, PaymentStatus::Failed { .. }));
}

#[test]
fn stripe_minor_units_lowercase_currency_and_zero_decimal() {
    let p = ok("stripe", "stripe_payment_intent_succeeded.json");
    assert_eq!(p.payment_id(), "stripe:pi_3OdbbG2eZvKYlo2C0fQ1p2Xs");
    assert_eq!(p.money.amount.to_string(), "2500.00");
    assert_eq!(p.money.currency.code(), "KES");
    assert!(p
        .references
        .iter()
        .any(|r| r.kind == ReferenceKind::ProviderCustomer && r.value == "cus_Nffr7sbSLUa9Kq"));
    assert!(p
        .references
        .iter()
        .any(|r| r.kind == ReferenceKind::Request && r.value == "ACC10023"));
    assert_eq!(p.payer_name.as_deref(), Some("Jane Doe"));
    let ugx = ok("stripe", "stripe_payment_intent_succeeded_ugx.json");
    assert_eq!(
        ugx.money.amount.to_string(),
        "75000",
        "UGX is zero-decimal at Stripe"
    );
}

#[test]
fn stripe_invoice_paid_shares_the_payment_intent_id() {
    let pi = ok("stripe", "stripe_payment_intent_succeeded.json");
    let inv = ok("stripe", "stripe_invoice_paid.json");
    assert_eq!(pi.payment_id(), inv.payment_id());
}

#[test]
fn stripe_failures_refunds_and_disputes() {
    let failed = ok("stripe", "stripe_payment_intent_payment_failed.json");
    assert!(
        matches!(failed.status, PaymentStatus::Failed { ref reason } if reason.contains("card_declined"))
    );
    let refund = ok("stripe", "stripe_charge_refunded.json");
    assert_eq!(refund.payment_id(), "stripe:re_3OdbbG2eZvKYlo2C0X1y2Z3a");
    assert_eq!(refund.money.amount.to_string(), "1000.00");
    assert_eq!(
        refund.status,
        PaymentStatus::Reversal {
            reverses: "stripe:pi_3OdbbG2eZvKYlo2C0fQ1p2Xs".into()
        }
    );
    let dispute = ok("stripe", "stripe_charge_dispute_created.json");
    assert_eq!(dispute.payment_id(), "stripe:dp_1OdbbG2eZvKYlo2CnQx0");
    assert!(matches!(dispute.status, PaymentStatus::Reversal { .. }));
}

#[test]
fn generic_offsets_and_reversals() {
    let p = ok("generic", "generic_succeeded.json");
    assert_eq!(p.paid_at.to_rfc3339(), "2026-11-02T06:38:45+00:00");
    assert_eq!(p.money.amount.to_string(), "1250.50");
    let r = ok("generic", "generic_reversed.json");
    assert_eq!(
        r.status,
        PaymentStatus::Reversal {
            reverses: "generic:BNK-778812".into()
        }
    );
}

fn with_config(provider: &str, payload: &str) -> Result<Payment, NormalizeError> {
    let config = ProvidersConfig::default();
    let ctx = NormalizeContext {
        config: &config,
        received_at: None,
        now: now(),
    };
    Providers::default().normalize(provider, payload, &ctx)
}

#[test]
fn malformed_input_is_refused_with_a_reason() {
    let cases = [
        ("mpesa_c2b", "{not json", "bad_payload"),
        (
            "mpesa_c2b",
            r#"{"TransAmount":"10","TransTime":"20261102063845"}"#,
            "missing_field",
        ),
        (
            "mpesa_c2b",
            r#"{"TransID":"X","TransAmount":"-5.00","TransTime":"20261102063845"}"#,
            "amount_out_of_range",
        ),
        (
            "mpesa_c2b",
            r#"{"TransID":"X","TransAmount":"0","TransTime":"20261102063845"}"#,
            "amount_out_of_range",
        ),
        (
            "mpesa_c2b",
            r#"{"TransID":"X","TransAmount":"1e300","TransTime":"20261102063845"}"#,
            "bad_amount",
        ),
        (
            "mpesa_c2b",
            r#"{"TransID":"X","TransAmount":"999999999999","TransTime":"20261102063845"}"#,
            "amount_out_of_range",
        ),
        (
            "mpesa_c2b",
            r#"{"TransID":"X","TransAmount":"10.001","TransTime":"20261102063845"}"#,
            "bad_amount",
        ),
        (
            "mpesa_c2b",
            r#"{"TransID":"X","TransAmount":"ten","TransTime":"20261102063845"}"#,
            "bad_amount",
        ),
        (
            "mpesa_c2b",
            r#"{"TransID":"X","TransAmount":"10","TransTime":"2026-11-02"}"#,
            "bad_time",
        ),
        (
            "mpesa_c2b",
            r#"{"TransID":"X","TransAmount":"10","TransTime":"20261340063845"}"#,
            "bad_time",
        ),
        (
            "stripe",
            r#"{"type":"customer.created","data":{"object":{}}}"#,
            "unsupported",
        ),
        (
            "stripe",
            r#"{"type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","amount":10.5,"currency":"usd"}}}"#,
            "bad_amount",
        ),
        (
            "stripe",
            r#"{"type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","amount":1000,"currency":"us"}}}"#,
            "bad_currency",
        ),
        (
            "generic",
            r#"{"txn_id":"1","amount":"5","currency":"KES","status":"pending"}"#,
            "not_final",
        ),
        ("paypal", "{}", "unknown_provider"),
    ];
    for (provider, payload, kind) in cases {
        let err = with_config(provider, payload).expect_err(payload);
        assert_eq!(err.kind(), kind, "{payload}: {err}");
    }
}

const PROVIDERS: [&str; 6] = [
    "mpesa_c2b",
    "mpesa_stk",
    "mtn_momo",
    "airtel_money",
    "stripe",
    "generic",
];

/// JSON-shaped noise: objects with the providers' own field names and
/// values of every type, so the fuzzing reaches past the JSON parser.
fn json_noise() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "TransID",
        "TransTime",
        "TransAmount",
        "MSISDN",
        "BillRefNumber",
        "Body",
        "stkCallback",
        "ResultCode",
        "CallbackMetadata",
        "Item",
        "Name",
        "Value",
        "amount",
        "currency",
        "status",
        "externalId",
        "financialTransactionId",
        "payer",
        "transaction",
        "status_code",
        "airtel_money_id",
        "message",
        "type",
        "data",
        "object",
        "id",
        "amount_received",
        "refunds",
        "payment_intent",
        "txn_id",
        "paid_at",
        "created",
    ]);
    let leaf = prop_oneof![
        Just("null".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "-?[0-9]{0,20}(\\.[0-9]{0,20})?(e[0-9]{1,3})?".prop_map(|s| if s.is_empty() || s == "-" {
            "0".into()
        } else {
            s
        }),
        "\\PC{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        Just("\"20261102063845\"".to_string()),
        Just("\"SUCCESSFUL\"".to_string()),
        Just("\"payment_intent.succeeded\"".to_string()),
        Just("\"TS\"".to_string()),
        Just("\"kes\"".to_string()),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((keys.clone(), inner), 0..8).prop_map(|kv| {
                let body: Vec<String> = kv
                    .into_iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), which in 0usize..6) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = with_config(PROVIDERS[which], &text);
    }

    #[test]
    fn arbitrary_json_never_panics(json in json_noise(), which in 0usize..6) {
        let _ = with_config(PROVIDERS[which], &json);
    }
}
