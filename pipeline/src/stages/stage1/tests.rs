//! Stage 1's routing: batches as one by one, the envelope split as serde,
//! redeliveries, and any line routed without a panic.

use std::sync::Arc;

use matchers::index::{FuzzyBounds, KeyRules};
use matchers::store::MemoryStore;
use proptest::prelude::*;

use super::*;

fn stage() -> Stage1 {
    let rules = KeyRules {
        default_country_code: "254".into(),
        fuzzy_min_len: 5,
    };
    let index = CustomerIndex::new(Arc::new(MemoryStore::new()), rules, FuzzyBounds::default());
    Stage1::new(index, ProvidersConfig::default(), MatchingConfig::default()).unwrap()
}

fn now() -> DateTime<Utc> {
    "2026-11-02T12:00:00Z".parse().unwrap()
}

/// Envelopes are read borrowed, but refusals name the contract's type
/// (serde writes the type's name into this one).
#[test]
fn a_refused_envelope_is_told_as_the_contract_names_it() {
    let mut s = stage();
    let Routed::DeadLetter(letter) = s.process("[]", now()).unwrap() else {
        panic!("not a dead letter");
    };
    assert_eq!(
        letter.error,
        "not a payment envelope: invalid length 0, expected struct PaymentEnvelope with 3 elements at line 1 column 2"
    );
}

#[test]
fn a_batch_routes_each_input_as_one_by_one_does() {
    let indexed = || {
        let s = stage();
        let mut writer = s.index().writer();
        let customer = r#"{"customer_id":"C1","account_number":"ACC10023","name":"Jane Wanjiru",
            "msisdns":["254712345678"],"services":[],"status":"active","currency":"KES",
            "updated_at":"2026-11-01T00:00:00Z"}"#;
        writer
            .upsert_customer(serde_json::from_str(customer).unwrap())
            .unwrap();
        writer.commit().unwrap();
        s
    };
    let generic = |txn: &str, reference: &str| {
        format!(
            r#"{{"provider":"generic","payload":{{"txn_id":"{txn}","amount":"10","currency":"KES","reference":"{reference}","payer_phone":"0712345678"}}}}"#
        )
    };
    let with_status = |txn: &str, status: &str, reverses: &str| {
        format!(
            r#"{{"provider":"generic","payload":{{"txn_id":"{txn}","amount":"10","currency":"KES","reference":"ACC10023","status":"{status}","reverses":"{reverses}"}}}}"#
        )
    };
    // Repeats of earlier ids, reversals of payments decided earlier in the
    // batch, a failure: decided in turn, as one by one.
    let inputs = [
        generic("T1", "ACC10023"),
        generic("T2", "acc-10O23"),
        generic("T1", "ACC10023"),
        "{not json".to_string(),
        r#"{"provider":"nobody","payload":{}}"#.to_string(),
        generic("T3", "UNKNOWN"),
        with_status("R1", "reversed", "T1"),
        with_status("R9", "reversed", "T9"),
        with_status("F1", "failed", ""),
        with_status("F1", "failed", ""),
        generic("T3", "ACC10023"),
        generic("T4", "ACC10024"),
        with_status("R4", "reversed", "T4"),
        generic("T4", "ACC10024"),
    ];
    let mut one_by_one = indexed();
    let expected: Vec<String> = inputs
        .iter()
        .map(|line| format!("{:?}", one_by_one.process(line, now()).unwrap()))
        .collect();
    let mut batched = indexed();
    let batch: Vec<(&str, Option<Source>)> = inputs.iter().map(|l| (l.as_str(), None)).collect();
    let got: Vec<String> = batched
        .process_batch(&batch, now())
        .unwrap()
        .iter()
        .map(|routed| format!("{routed:?}"))
        .collect();
    assert_eq!(got, expected);
    assert!(expected[0].contains("Matched") && expected[2].contains("Duplicate"));
    assert!(expected[6].contains("Reversal") && expected[7].contains("reversal_of_unknown"));
    assert!(expected[8].contains("Failed") && expected[9].contains("Duplicate"));
    assert!(expected[10].contains("Duplicate") && expected[13].contains("Duplicate"));
}

#[test]
fn a_payload_forwarded_as_a_json_string_is_unwrapped() {
    let mut s = stage();
    let line = r#"{"provider":"generic","payload":"{\"txn_id\":\"T2\",\"amount\":\"10\",\"currency\":\"KES\"}"}"#;
    let routed = s.process(line, now()).unwrap();
    assert!(
        matches!(routed, Routed::Decided { ref decision } if decision.provider_txn_id == "T2"),
        "{routed:?}"
    );
}

#[test]
fn the_same_callback_twice_is_a_duplicate() {
    let mut s = stage();
    let line = r#"{"provider":"generic","payload":{"txn_id":"T1","amount":"10","currency":"KES","reference":"X"}}"#;
    let first = s.process(line, now()).unwrap();
    let second = s.process(line, now()).unwrap();
    assert!(
        matches!(first, Routed::Decided { ref decision, .. } if decision.outcome == Outcome::Review)
    );
    assert!(
        matches!(second, Routed::Decided { ref decision, .. } if decision.outcome == Outcome::Duplicate)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Split or read through serde, every line gives the same payment
    /// or the same refusal, whatever the envelope's layout.
    #[test]
    fn the_split_reads_lines_as_serde_does(
        keys in prop::sample::subsequence(vec!["provider", "received_at", "payload", "provider", "gateway"], 1..5).prop_shuffle(),
        provider in prop::sample::select(vec!["generic", "stripe", "nope"]),
        payload in prop::sample::select(vec![
            r#"{"txn_id":"T1","amount":"10.50","currency":"KES","reference":"ACC1","payer_phone":"0712345678"}"#,
            r#"{"txn_id":"T\u0032","amount":12,"currency":"UGX","reference":"x,\"provider\":\"y\"}"}"#,
            r#"{"txn_id":"T3","amount":"-1","currency":"KES"}"#,
            r#"{"txn_id":"T4","amount":"1","currency":"KES"},"provider":"generic""#,
            r#""{\"txn_id\":\"T5\",\"amount\":\"1\",\"currency\":\"KES\"}""#,
            "{}", "{",
        ]),
        received in prop::sample::select(vec!["\"2026-11-01T05:00:04Z\"", "\"later\"", "null"]),
        space in prop::sample::select(vec!["", " ", "\n"]),
        cut in 0usize..60,
    ) {
        let s = stage();
        let fields: Vec<String> = keys.iter().map(|k| {
            let value = match *k {
                "provider" => format!("\"{provider}\""),
                "received_at" => received.to_string(),
                "payload" => payload.to_string(),
                _ => "\"g1\"".to_string(),
            };
            format!("{space}\"{k}\":{space}{value}")
        }).collect();
        let mut line = format!("{{{}}}", fields.join(","));
        if cut % 4 == 0 {
            line.truncate(line.len().saturating_sub(cut / 4));
        }
        prop_assert_eq!(
            format!("{:?}", s.normalize(&line, now())),
            format!("{:?}", s.normalize_through_serde(&line, now()))
        );
    }

    /// Any line ends in exactly one decision or dead letter, never a panic.
    #[test]
    fn any_line_is_routed(
        provider in prop::sample::select(vec!["mpesa_c2b", "mpesa_stk", "mtn_momo", "airtel_money", "stripe", "generic", "nope"]),
        body in "\\PC{0,80}",
        raw in prop::collection::vec(any::<u8>(), 0..120),
    ) {
        let mut s = stage();
        let payload = serde_json::to_string(&body).unwrap();
        let envelope = format!(r#"{{"provider":"{provider}","payload":{payload}}}"#);
        let _ = s.process(&envelope, now()).unwrap();
        let _ = s.process(&String::from_utf8_lossy(&raw), now()).unwrap();
    }
}
