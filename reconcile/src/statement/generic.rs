//! The generic statement: CSV `txn_id,amount,currency,completed_at,
//! reference,counterparty`, for banks and providers without a format of
//! their own (MTN MoMo and Airtel Money exports are mapped to it).
//!
//! `txn_id` is the provider's transaction id; when one file covers several
//! providers it may be written as a full payment id (`mtn_momo:23503452`).
//! Negative amounts are money given back (reversals). `completed_at` is
//! RFC 3339, or `YYYY-MM-DD HH:MM:SS` in UTC.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::json;

use super::{
    optional, parse_amount, parse_currency, FormatOptions, LineKind, Parsed, Replayed,
    StatementFormat, StatementLine,
};

const COLUMNS: &[&str] = &[
    "txn_id",
    "amount",
    "currency",
    "completed_at",
    "reference",
    "counterparty",
];

/// The generic CSV statement.
pub(super) struct Generic;

/// Reads `completed_at`.
fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(t) {
        return Ok(time.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
        .map(|n| n.and_utc())
        .map_err(|_| format!("completed_at: `{text}` is not an RFC 3339 time"))
}

impl StatementFormat for Generic {
    fn name(&self) -> &'static str {
        "generic"
    }

    fn columns(&self) -> &'static [&'static str] {
        COLUMNS
    }

    fn providers(&self) -> &'static [&'static str] {
        &["generic", "mtn_momo", "airtel_money"]
    }

    fn label(&self) -> Option<&'static str> {
        None
    }

    fn parse(&self, f: &[&str], _options: &FormatOptions) -> Result<Parsed, String> {
        let id = f[0].trim();
        if id.is_empty() {
            return Err("txn_id: empty".into());
        }
        let (provider, txn_id) = match id.split_once(':') {
            Some((p, t)) if !p.is_empty() && !t.is_empty() => (p.to_string(), t.to_string()),
            _ => ("generic".to_string(), id.to_string()),
        };
        let amount = parse_amount("amount", f[1])?.ok_or("amount: empty")?;
        let currency = parse_currency("currency", f[2])?;
        let completed_at = parse_time(f[3])?;
        let kind = if amount < rust_decimal::Decimal::ZERO {
            LineKind::Reversal
        } else {
            LineKind::Payment
        };
        Ok(Parsed::Line(StatementLine {
            provider,
            txn_id,
            kind,
            amount,
            fee: rust_decimal::Decimal::ZERO,
            currency,
            completed_at,
            reference: optional(f[4]),
            counterparty: optional(f[5]),
            details: None,
        }))
    }

    fn render(&self, line: &StatementLine, _options: &FormatOptions) -> Vec<String> {
        let id = if line.provider == "generic" {
            line.txn_id.clone()
        } else {
            format!("{}:{}", line.provider, line.txn_id)
        };
        vec![
            id,
            line.amount.to_string(),
            line.currency.to_string(),
            line.completed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            line.reference.clone().unwrap_or_default(),
            line.counterparty.clone().unwrap_or_default(),
        ]
    }

    fn replay(&self, line: &StatementLine, _options: &FormatOptions) -> Option<Replayed> {
        if line.kind != LineKind::Payment {
            return None;
        }
        let amount = line.amount.to_string();
        let currency = line.currency.to_string();
        let phone = line
            .counterparty
            .as_deref()
            .filter(|c| c.chars().filter(char::is_ascii_digit).count() >= 9)
            .filter(|c| {
                c.chars()
                    .all(|ch| ch.is_ascii_digit() || "+ -".contains(ch))
            });
        let paid_at = line.completed_at.to_rfc3339_opts(SecondsFormat::Secs, true);
        match line.provider.as_str() {
            "generic" => Some(Replayed {
                provider: "generic",
                payload: json!({
                    "txn_id": line.txn_id, "amount": amount, "currency": currency,
                    "reference": line.reference, "payer_name": line.counterparty.as_deref().filter(|_| phone.is_none()),
                    "payer_phone": phone, "paid_at": paid_at, "status": "completed",
                }),
            }),
            "mtn_momo" => Some(Replayed {
                provider: "mtn_momo",
                payload: json!({
                    "financialTransactionId": line.txn_id, "externalId": line.reference,
                    "amount": amount, "currency": currency,
                    "payer": phone.map(|p| json!({"partyIdType": "MSISDN", "partyId": p})),
                    "payerMessage": line.reference, "status": "SUCCESSFUL",
                }),
            }),
            "airtel_money" => Some(Replayed {
                provider: "airtel_money",
                payload: json!({"transaction": {
                    "id": line.reference.clone().unwrap_or_else(|| line.txn_id.clone()),
                    "airtel_money_id": line.txn_id, "status_code": "TS",
                    "message": "replayed from statement", "amount": amount,
                    "currency": currency, "msisdn": phone,
                }}),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(row: &[&str]) -> Result<StatementLine, String> {
        match Generic.parse(row, &FormatOptions::default())? {
            Parsed::Line(l) => Ok(l),
            Parsed::NotCompleted => Err("not completed".into()),
        }
    }

    #[test]
    fn reads_plain_and_prefixed_ids() {
        let l = parse(&[
            "BNK-1",
            "1250.50",
            "kes",
            "2026-11-02T09:38:45+03:00",
            "acc-10023",
            "Jane",
        ])
        .unwrap();
        assert_eq!(
            (l.provider.as_str(), l.txn_id.as_str()),
            ("generic", "BNK-1")
        );
        assert_eq!(l.completed_at.to_rfc3339(), "2026-11-02T06:38:45+00:00");
        assert_eq!(l.kind, LineKind::Payment);
        let l = parse(&["mtn_momo:235", "-500", "UGX", "2026-11-02 06:00:00", "", ""]).unwrap();
        assert_eq!(
            (l.provider.as_str(), l.txn_id.as_str()),
            ("mtn_momo", "235")
        );
        assert_eq!(l.kind, LineKind::Reversal);
        assert_eq!(l.reference, None);
    }

    #[test]
    fn bad_rows_name_the_column() {
        let base = ["T1", "10", "KES", "2026-11-02T00:00:00Z", "", ""];
        for (i, bad, column) in [
            (0, "", "txn_id"),
            (1, "ten", "amount"),
            (2, "KESH", "currency"),
            (3, "yesterday", "completed_at"),
        ] {
            let mut row = base;
            row[i] = bad;
            assert!(parse(&row).unwrap_err().starts_with(column), "{column}");
        }
    }

    #[test]
    fn render_then_parse_is_identity() {
        let row = [
            "airtel_money:MP1",
            "75000",
            "UGX",
            "2026-11-02T06:00:00Z",
            "REQ-1",
            "256752000111",
        ];
        let line = parse(&row).unwrap();
        assert_eq!(Generic.render(&line, &FormatOptions::default()), row);
        let replayed = Generic.replay(&line, &FormatOptions::default()).unwrap();
        assert_eq!(replayed.provider, "airtel_money");
        assert_eq!(replayed.payload["transaction"]["airtel_money_id"], "MP1");
        assert_eq!(replayed.payload["transaction"]["msisdn"], "256752000111");
    }
}
