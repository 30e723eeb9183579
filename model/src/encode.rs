//! The JSON of the records the stages write for every payment, written
//! directly rather than through serde.
//!
//! A decision (stage 1, one per payment, about 550 bytes) and its ledger
//! entries (stage 2, one to three per payment) are the hottest outputs. In
//! Kafka mode serde_json took 12 % of stage 1's thread and 10 % of stage
//! 2's (BENCHMARKS, Kafka "Session 28"), much of it escaping member names
//! that never need it and scanning strings a byte at a time. These writers
//! produce exactly the bytes `serde_json::to_vec` produces, which a
//! property test holds them to: names are literals, strings are checked
//! eight bytes at a time and copied, and only a string that needs escaping
//! or a float goes through serde_json. Each writer takes its record apart
//! field by field, so a field added to a record does not compile until it
//! is written here too.

use std::io::Write as _;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::records::{Allocation, Candidate, Decision, LedgerEntry};

/// Appends a record's JSON, as `serde_json::to_writer` would write it.
pub trait WriteJson {
    /// Appends `self` as JSON to `out`.
    fn write_json(&self, out: &mut Vec<u8>);
}

/// Whether a string must be escaped in JSON: it holds `"`, `\` or a
/// control character (serde_json escapes those and nothing else).
fn needs_escape(bytes: &[u8]) -> bool {
    crate::json::string_end(bytes).is_some()
}

/// Appends `s` as a JSON string, as serde_json writes it.
pub fn string(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        // Writing a `str` to a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

fn optional_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends `d` as rust_decimal's serde form writes it: a string of its
/// digits, the point `scale` digits from the right (zeros before them when
/// needed), trailing zeros kept. Zero (which may carry a sign) goes through
/// its `Display`, which that form is.
pub fn decimal(out: &mut Vec<u8>, d: &Decimal) {
    let mantissa = d.mantissa();
    if mantissa == 0 {
        out.push(b'"');
        let _ = write!(out, "{d}");
        out.push(b'"');
        return;
    }
    // Up to 96 bits: 29 digits. Most amounts fit 64 bits, whose division
    // is a few times cheaper than 128 bits'.
    let mut digits = [0u8; 40];
    let mut at = digits.len();
    let magnitude = mantissa.unsigned_abs();
    if let Ok(mut n) = u64::try_from(magnitude) {
        while n > 0 {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    } else {
        let mut n = magnitude;
        while n > 0 {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }
    let digits = &digits[at..];
    let scale = d.scale() as usize;
    out.push(b'"');
    if mantissa < 0 {
        out.push(b'-');
    }
    if digits.len() > scale {
        let (whole, fraction) = digits.split_at(digits.len() - scale);
        out.extend_from_slice(whole);
        if scale > 0 {
            out.push(b'.');
            out.extend_from_slice(fraction);
        }
    } else {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + scale - digits.len(), b'0');
        out.extend_from_slice(digits);
    }
    out.push(b'"');
}

/// A float as serde_json writes it (`null` when not finite).
fn float(out: &mut Vec<u8>, f: f64) {
    let _ = serde_json::to_writer(&mut *out, &f);
}

fn time(out: &mut Vec<u8>, t: &DateTime<Utc>) {
    crate::time::write_json(t, out);
}

/// `"name":` for every member after the first: `,"name":`.
macro_rules! member {
    ($out:expr, first $name:literal) => {
        $out.extend_from_slice(concat!("{\"", $name, "\":").as_bytes())
    };
    ($out:expr, $name:literal) => {
        $out.extend_from_slice(concat!(",\"", $name, "\":").as_bytes())
    };
}

impl WriteJson for Allocation {
    fn write_json(&self, out: &mut Vec<u8>) {
        let Allocation { invoice_id, amount } = self;
        member!(out, first "invoice_id");
        string(out, invoice_id);
        member!(out, "amount");
        decimal(out, amount);
        out.push(b'}');
    }
}

impl WriteJson for Candidate {
    fn write_json(&self, out: &mut Vec<u8>) {
        let Candidate {
            customer_id,
            score,
            reasons,
        } = self;
        member!(out, first "customer_id");
        string(out, customer_id);
        member!(out, "score");
        float(out, *score);
        member!(out, "reasons");
        array(out, reasons, |out, r| string(out, r));
        out.push(b'}');
    }
}

fn array<T>(out: &mut Vec<u8>, items: &[T], mut write: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(out, item);
    }
    out.push(b']');
}

impl WriteJson for Decision {
    fn write_json(&self, out: &mut Vec<u8>) {
        let Decision {
            payment_id,
            provider,
            provider_txn_id,
            amount,
            currency,
            paid_at,
            outcome,
            customer_id,
            confidence,
            rule,
            allocations,
            candidates,
            reverses,
            reference,
            payer_name,
            payer_phone,
            detail,
            decided_at,
        } = self;
        member!(out, first "payment_id");
        string(out, payment_id);
        member!(out, "provider");
        string(out, provider);
        member!(out, "provider_txn_id");
        string(out, provider_txn_id);
        member!(out, "amount");
        decimal(out, amount);
        member!(out, "currency");
        string(out, currency.code());
        member!(out, "paid_at");
        time(out, paid_at);
        member!(out, "outcome");
        string(out, outcome.as_str());
        member!(out, "customer_id");
        optional_string(out, customer_id.as_deref());
        member!(out, "confidence");
        float(out, *confidence);
        member!(out, "rule");
        string(out, rule);
        member!(out, "allocations");
        array(out, allocations, |out, a| a.write_json(out));
        member!(out, "candidates");
        array(out, candidates, |out, c| c.write_json(out));
        member!(out, "reverses");
        optional_string(out, reverses.as_deref());
        member!(out, "reference");
        optional_string(out, reference.as_deref());
        member!(out, "payer_name");
        optional_string(out, payer_name.as_deref());
        member!(out, "payer_phone");
        optional_string(out, payer_phone.as_deref());
        member!(out, "detail");
        optional_string(out, detail.as_deref());
        member!(out, "decided_at");
        match decided_at {
            Some(t) => time(out, t),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
    }
}

impl WriteJson for LedgerEntry {
    fn write_json(&self, out: &mut Vec<u8>) {
        let LedgerEntry {
            entry_id,
            customer_id,
            payment_id,
            invoice_id,
            kind,
            amount,
            currency,
            at,
        } = self;
        member!(out, first "entry_id");
        string(out, entry_id);
        member!(out, "customer_id");
        string(out, customer_id);
        member!(out, "payment_id");
        string(out, payment_id);
        member!(out, "invoice_id");
        optional_string(out, invoice_id.as_deref());
        member!(out, "kind");
        string(out, kind.as_str());
        member!(out, "amount");
        decimal(out, amount);
        member!(out, "currency");
        string(out, currency.code());
        member!(out, "at");
        time(out, at);
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::records::{LedgerKind, Outcome};
    use crate::Currency;

    fn written<T: WriteJson>(record: &T) -> String {
        let mut out = Vec::new();
        record.write_json(&mut out);
        String::from_utf8(out).unwrap()
    }

    /// Text with every kind of character serde_json escapes or keeps.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9:_.-]{0,24}",
            "[A-Za-z\"\\\\ é\u{1}\n\t\u{7f}\u{2028}😀]{0,24}",
        ]
    }

    fn decimal() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            (any::<i64>(), 0u32..12).prop_map(|(n, scale)| Decimal::new(n, scale)),
            (-1_000_000i64..1_000_000, 0u32..4).prop_map(|(n, scale)| Decimal::new(n, scale)),
            // Beyond 64 bits, and the largest scale.
            (any::<i128>(), 0u32..=28).prop_map(|(n, scale)| {
                Decimal::try_from_i128_with_scale(n >> 32, scale).unwrap_or_default()
            }),
            // Zero with a sign and a scale.
            (0u32..4).prop_map(|scale| -Decimal::new(0, scale)),
            Just(Decimal::MAX),
            Just(Decimal::MIN),
        ]
    }

    fn time() -> impl Strategy<Value = DateTime<Utc>> {
        prop_oneof![
            (0i64..4_000_000_000, 0u32..1_000_000_000)
                .prop_map(|(s, ns)| { DateTime::from_timestamp(s, ns).unwrap_or_default() }),
            // Years chrono writes with a sign, and a leap second.
            Just(DateTime::from_timestamp(-70_000_000_000, 0).unwrap()),
            Just(DateTime::from_timestamp(300_000_000_000, 5).unwrap()),
            Just(DateTime::from_timestamp(1_483_228_799, 1_500_000_000).unwrap()),
        ]
    }

    fn float() -> impl Strategy<Value = f64> {
        prop_oneof![
            0.0f64..=1.0,
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0),
            Just(1.0),
        ]
    }

    fn candidate() -> impl Strategy<Value = Candidate> {
        (text(), float(), proptest::collection::vec(text(), 0..3)).prop_map(
            |(customer_id, score, reasons)| Candidate {
                customer_id,
                score,
                reasons: reasons.into_iter().map(Into::into).collect(),
            },
        )
    }

    fn decision() -> impl Strategy<Value = Decision> {
        let ids = (text(), text(), text(), proptest::option::of(text()));
        let money = (
            decimal(),
            prop_oneof![Just("KES"), Just("UGX"), Just("USD")],
        );
        let outcome = prop_oneof![
            Just(Outcome::Matched),
            Just(Outcome::Review),
            Just(Outcome::Duplicate),
            Just(Outcome::Failed),
            Just(Outcome::Reversal),
        ];
        let lists = (
            proptest::collection::vec((text(), decimal()), 0..3),
            proptest::collection::vec(candidate(), 0..3),
        );
        let optional = proptest::collection::vec(proptest::option::of(text()), 5);
        (
            ids,
            money,
            time(),
            outcome,
            float(),
            lists,
            optional,
            proptest::option::of(time()),
        )
            .prop_map(
                |(
                    (payment_id, provider_txn_id, rule, customer_id),
                    (amount, currency),
                    paid_at,
                    outcome,
                    confidence,
                    (allocations, candidates),
                    optional,
                    decided_at,
                )| Decision {
                    payment_id,
                    provider: "mpesa_c2b".into(),
                    provider_txn_id,
                    amount,
                    currency: Currency::parse(currency).unwrap(),
                    paid_at,
                    outcome,
                    customer_id,
                    confidence,
                    rule: rule.into(),
                    allocations: allocations
                        .into_iter()
                        .map(|(invoice_id, amount)| Allocation { invoice_id, amount })
                        .collect(),
                    candidates,
                    reverses: optional[0].clone(),
                    reference: optional[1].clone(),
                    payer_name: optional[2].clone(),
                    payer_phone: optional[3].clone(),
                    detail: optional[4].clone(),
                    decided_at,
                },
            )
    }

    fn ledger_entry() -> impl Strategy<Value = LedgerEntry> {
        let kind = prop_oneof![
            Just(LedgerKind::Payment),
            Just(LedgerKind::Allocation),
            Just(LedgerKind::Credit),
            Just(LedgerKind::Reversal),
        ];
        (
            (text(), text(), text(), proptest::option::of(text())),
            kind,
            decimal(),
            time(),
        )
            .prop_map(
                |((entry_id, customer_id, payment_id, invoice_id), kind, amount, at)| LedgerEntry {
                    entry_id,
                    customer_id,
                    payment_id,
                    invoice_id,
                    kind,
                    amount,
                    currency: Currency::parse("KES").unwrap(),
                    at,
                },
            )
    }

    #[test]
    fn needs_escape_finds_every_byte_serde_escapes() {
        for b in 0u8..=127 {
            let serde_escapes = serde_json::to_string(&char::from(b).to_string())
                .unwrap()
                .contains('\\');
            for at in [0, 3, 7, 8, 13] {
                let mut text = vec![b'a'; 16];
                text[at] = b;
                assert_eq!(needs_escape(&text), serde_escapes, "byte {b} at {at}");
            }
        }
        assert!(!needs_escape("é😀\u{7f}".as_bytes()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Any decision is written byte for byte as serde_json writes it.
        #[test]
        fn decisions_as_serde_writes_them(d in decision()) {
            prop_assert_eq!(written(&d), serde_json::to_string(&d).unwrap());
        }

        /// Any ledger entry is written byte for byte as serde_json writes it.
        #[test]
        fn ledger_entries_as_serde_writes_them(e in ledger_entry()) {
            prop_assert_eq!(written(&e), serde_json::to_string(&e).unwrap());
        }
    }
}
