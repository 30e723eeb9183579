//! Stripe's balance transactions CSV export: `id, Type, Source, Amount,
//! Fee, Net, Currency, Created (UTC), Available On (UTC), Description`.
//!
//! Amounts are major units (unlike Stripe's API), gross / fee / net, so a
//! day's net ties to the payout that reached the bank. Currencies are lower
//! case. The ledger knows a card payment by its PaymentIntent (`pi_…`):
//! when the export carries a `payment_intent_id` column (Stripe's itemized
//! reports do) it is the key, else `Source`, else the balance
//! transaction's own `id`.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde_json::json;

use super::{
    optional, parse_amount, parse_currency, FormatOptions, LineKind, Parsed, Replayed,
    StatementFormat, StatementLine,
};

const COLUMNS: &[&str] = &[
    "id",
    "Type",
    "Source",
    "Amount",
    "Fee",
    "Net",
    "Currency",
    "Created (UTC)",
    "Available On (UTC)",
    "Description",
];

/// Stripe's balance transactions export.
pub(super) struct Stripe;

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(t) {
        return Ok(time.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .map(|n| n.and_utc())
        .ok_or_else(|| format!("Created (UTC): `{text}` is not a time"))
}

fn kind_of(kind: &str, source: &str) -> LineKind {
    match kind {
        "charge" | "payment" => LineKind::Payment,
        "refund" | "payment_refund" | "payment_failure_refund" => LineKind::Reversal,
        "adjustment" if source.starts_with("dp_") || source.starts_with("du_") => {
            LineKind::Reversal
        }
        "payout" | "payout_cancel" | "payout_failure" => LineKind::Payout,
        "stripe_fee" | "application_fee" | "tax_fee" | "stripe_fx_fee" => LineKind::Fee,
        _ => LineKind::Other,
    }
}

impl StatementFormat for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn columns(&self) -> &'static [&'static str] {
        COLUMNS
    }

    fn optional_columns(&self) -> &'static [&'static str] {
        &["payment_intent_id"]
    }

    fn providers(&self) -> &'static [&'static str] {
        &["stripe"]
    }

    fn label(&self) -> Option<&'static str> {
        Some("stripe")
    }

    fn parse(&self, f: &[&str], _options: &FormatOptions) -> Result<Parsed, String> {
        let id = f[0].trim();
        let source = f[2].trim();
        let intent = f.get(10).map(|s| s.trim()).unwrap_or("");
        let txn_id = [intent, source, id]
            .into_iter()
            .find(|s| !s.is_empty())
            .ok_or("id: empty")?;
        let kind = kind_of(f[1].trim(), source);
        let amount = parse_amount("Amount", f[3])?.ok_or("Amount: empty")?;
        let fee = parse_amount("Fee", f[4])?.unwrap_or(Decimal::ZERO);
        if let Some(net) = parse_amount("Net", f[5])? {
            if net != amount - fee {
                return Err(format!("Net: {net} is not Amount {amount} - Fee {fee}"));
            }
        }
        let amount = match kind {
            LineKind::Fee => -amount.abs(),
            _ => amount,
        };
        Ok(Parsed::Line(StatementLine {
            provider: "stripe".into(),
            txn_id: txn_id.to_string(),
            kind,
            amount,
            fee,
            currency: parse_currency("Currency", f[6])?,
            completed_at: parse_time(f[7])?,
            reference: optional(f[9]),
            counterparty: None,
            details: optional(f[1]),
        }))
    }

    fn render(&self, line: &StatementLine, _options: &FormatOptions) -> Vec<String> {
        let kind = match line.kind {
            LineKind::Payment => "charge",
            LineKind::Reversal => "refund",
            LineKind::Fee => "stripe_fee",
            LineKind::Payout => "payout",
            LineKind::Other => "adjustment",
        };
        let time = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
        let exponent = line.currency.exponent();
        let fixed = |d: Decimal| {
            let mut d = d;
            d.rescale(exponent.max(d.scale()));
            d.to_string()
        };
        vec![
            format!("txn_{}", line.txn_id.trim_start_matches("pi_")),
            kind.into(),
            line.txn_id.clone(),
            fixed(line.amount),
            fixed(line.fee),
            fixed(line.amount - line.fee),
            line.currency.code().to_ascii_lowercase(),
            time(line.completed_at),
            time(line.completed_at + Duration::days(2)),
            line.reference.clone().unwrap_or_default(),
        ]
    }

    fn replay(&self, line: &StatementLine, _options: &FormatOptions) -> Option<Replayed> {
        if line.kind != LineKind::Payment || !line.txn_id.starts_with("pi_") {
            return None;
        }
        let minor = (line.amount * Decimal::from(10u64.pow(line.currency.stripe_exponent())))
            .trunc()
            .to_string();
        let minor: i64 = minor.parse().ok()?;
        Some(Replayed {
            provider: "stripe",
            payload: json!({
                "id": format!("evt_replay_{}", line.txn_id),
                "object": "event",
                "type": "payment_intent.succeeded",
                "created": line.completed_at.timestamp(),
                "data": {"object": {
                    "id": line.txn_id, "object": "payment_intent",
                    "amount": minor, "amount_received": minor,
                    "currency": line.currency.code().to_ascii_lowercase(),
                    "created": line.completed_at.timestamp(),
                    "description": line.reference, "metadata": {},
                    "status": "succeeded",
                }},
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(r: &[&str]) -> Result<StatementLine, String> {
        match Stripe.parse(r, &FormatOptions::default())? {
            Parsed::Line(l) => Ok(l),
            Parsed::NotCompleted => Err("not completed".into()),
        }
    }

    const CHARGE: [&str; 10] = [
        "txn_1",
        "charge",
        "pi_3Odbb",
        "2500.00",
        "72.80",
        "2427.20",
        "kes",
        "2026-11-02 06:38",
        "2026-11-04 00:00",
        "Internet ACC10023",
    ];

    #[test]
    fn gross_fee_net_and_lowercase_currency() {
        let l = parse(&CHARGE).unwrap();
        assert_eq!(l.txn_id, "pi_3Odbb");
        assert_eq!(l.kind, LineKind::Payment);
        assert_eq!(
            (l.amount, l.fee),
            (Decimal::new(250000, 2), Decimal::new(7280, 2))
        );
        assert_eq!(l.currency.code(), "KES");
        assert_eq!(l.completed_at.to_rfc3339(), "2026-11-02T06:38:00+00:00");
        let mut bad = CHARGE;
        bad[5] = "2427.21";
        assert!(parse(&bad).unwrap_err().starts_with("Net"));
    }

    #[test]
    fn kinds_refunds_disputes_payouts_fees() {
        assert_eq!(kind_of("refund", "re_1"), LineKind::Reversal);
        assert_eq!(kind_of("adjustment", "dp_1"), LineKind::Reversal);
        assert_eq!(kind_of("adjustment", "ch_1"), LineKind::Other);
        assert_eq!(kind_of("payout", "po_1"), LineKind::Payout);
        assert_eq!(kind_of("stripe_fee", ""), LineKind::Fee);
    }

    #[test]
    fn payment_intent_column_wins_and_replay_is_a_payment_intent_event() {
        let mut row = CHARGE.to_vec();
        row[2] = "ch_3Odbb";
        row.push("pi_3Odbb");
        let l = parse(&row).unwrap();
        assert_eq!(l.txn_id, "pi_3Odbb");
        let r = Stripe.replay(&l, &FormatOptions::default()).unwrap();
        assert_eq!(r.payload["data"]["object"]["amount"], 250000);
        let ugx = parse(&[
            "t",
            "charge",
            "pi_u",
            "50000",
            "0",
            "50000",
            "ugx",
            "2026-11-02 06:38:00",
            "",
            "",
        ])
        .unwrap();
        let r = Stripe.replay(&ugx, &FormatOptions::default()).unwrap();
        assert_eq!(r.payload["data"]["object"]["amount"], 50000);
        let rendered = Stripe.render(&l, &FormatOptions::default());
        let back = parse(&rendered.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
        assert_eq!(
            (back.amount, back.fee, back.txn_id),
            (l.amount, l.fee, l.txn_id)
        );
    }
}
