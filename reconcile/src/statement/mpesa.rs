//! The M-Pesa organisation statement (CSV export of the M-Pesa org portal):
//! `Receipt No., Completion Time, Initiation Time, Details, Transaction
//! Status, Paid In, Withdrawn, Balance, Balance Confirmed, Reason Type,
//! Other Party Info, Linked Transaction ID, A/C No.`
//!
//! Quirks handled: a preamble above the header (organisation, period);
//! times as `dd-mm-yyyy HH:MM:SS` in local time (East Africa Time unless
//! configured); amounts with thousands separators, withdrawals printed
//! negative or positive; charges as lines of their own (`… Charge`); no
//! currency column (KES unless configured). One statement covers both C2B
//! and STK payments of the shortcode: the receipt number is the txn id of
//! both.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use model::Currency;
use rust_decimal::Decimal;
use serde_json::json;

use super::{
    optional, parse_amount, FormatOptions, LineKind, Parsed, Replayed, StatementFormat,
    StatementLine,
};

const COLUMNS: &[&str] = &[
    "Receipt No.",
    "Completion Time",
    "Initiation Time",
    "Details",
    "Transaction Status",
    "Paid In",
    "Withdrawn",
    "Balance",
    "Balance Confirmed",
    "Reason Type",
    "Other Party Info",
    "Linked Transaction ID",
    "A/C No.",
];

const TIME_FORMATS: &[&str] = &[
    "%d-%m-%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%d-%m-%Y %H:%M",
];

/// The M-Pesa organisation statement.
pub(super) struct Mpesa;

fn local_time(text: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    let naive = TIME_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .ok_or_else(|| format!("Completion Time: `{text}` is not dd-mm-yyyy HH:MM:SS"))?;
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|l| l.with_timezone(&Utc))
        .ok_or_else(|| format!("Completion Time: `{text}` does not exist in {zone}"))
}

fn currency(options: &FormatOptions) -> Currency {
    options
        .currency
        .unwrap_or_else(|| Currency::parse("KES").expect("KES is ISO 4217"))
}

/// `254712345678 - JANE DOE` → (`254712345678`, `JANE DOE`).
fn split_party(info: &str) -> (Option<&str>, &str) {
    match info.split_once(" - ") {
        Some((number, name)) => (Some(number.trim()), name.trim()),
        None if info.chars().any(|c| c.is_ascii_digit()) && !info.contains(' ') => {
            (Some(info.trim()), "")
        }
        None => (None, info.trim()),
    }
}

impl StatementFormat for Mpesa {
    fn name(&self) -> &'static str {
        "mpesa"
    }

    fn columns(&self) -> &'static [&'static str] {
        COLUMNS
    }

    fn carries_currency(&self) -> bool {
        false
    }

    fn providers(&self) -> &'static [&'static str] {
        &["mpesa_c2b", "mpesa_stk"]
    }

    fn label(&self) -> Option<&'static str> {
        Some("mpesa")
    }

    fn parse(&self, f: &[&str], options: &FormatOptions) -> Result<Parsed, String> {
        let receipt = f[0].trim();
        if receipt.is_empty() {
            return Err("Receipt No.: empty".into());
        }
        let status = f[4].trim();
        if !status.eq_ignore_ascii_case("completed") {
            if status.is_empty() {
                return Err("Transaction Status: empty".into());
            }
            return Ok(Parsed::NotCompleted);
        }
        let completed_at = local_time(f[1], options.time_zone)?;
        let paid_in = parse_amount("Paid In", f[5])?;
        let withdrawn = parse_amount("Withdrawn", f[6])?.map(|w| -w.abs());
        let described = format!("{} {}", f[3], f[9]).to_ascii_lowercase();
        let (kind, amount) = match (paid_in, withdrawn) {
            (Some(p), None) if p >= Decimal::ZERO => {
                if described.contains("reversal") {
                    (LineKind::Other, p)
                } else {
                    (LineKind::Payment, p)
                }
            }
            (None, Some(w)) => {
                if described.contains("charge") {
                    (LineKind::Fee, w)
                } else if described.contains("reversal") {
                    (LineKind::Reversal, w)
                } else {
                    (LineKind::Payout, w)
                }
            }
            (Some(_), Some(_)) => return Err("Paid In and Withdrawn: both set".into()),
            (Some(p), None) => return Err(format!("Paid In: negative ({p})")),
            (None, None) => return Err("Paid In and Withdrawn: both empty".into()),
        };
        Ok(Parsed::Line(StatementLine {
            provider: "mpesa".into(),
            txn_id: receipt.to_string(),
            kind,
            amount,
            fee: Decimal::ZERO,
            currency: currency(options),
            completed_at,
            reference: optional(f[12]),
            counterparty: optional(f[10]),
            details: optional(f[3]),
        }))
    }

    fn render(&self, line: &StatementLine, options: &FormatOptions) -> Vec<String> {
        let time = line
            .completed_at
            .with_timezone(&options.time_zone)
            .format("%d-%m-%Y %H:%M:%S")
            .to_string();
        let party = line.counterparty.clone().unwrap_or_default();
        let reference = line.reference.clone().unwrap_or_default();
        let (details, reason) = match line.kind {
            LineKind::Payment => (
                format!("Pay Bill from {party} Acc. {reference}"),
                "Pay Bill",
            ),
            LineKind::Fee => ("Pay Bill Charge".to_string(), "Pay Bill Charge"),
            LineKind::Reversal => ("Reversal".to_string(), "Reversal"),
            LineKind::Payout => (
                "Business Transfer to Bank".to_string(),
                "Business Payment to Bank",
            ),
            LineKind::Other => (line.details.clone().unwrap_or_default(), "Other"),
        };
        let amount = format!("{:.2}", line.amount.abs());
        let (paid_in, withdrawn) = if line.amount >= Decimal::ZERO && line.kind != LineKind::Fee {
            (amount, String::new())
        } else {
            (String::new(), format!("-{amount}"))
        };
        vec![
            line.txn_id.clone(),
            time.clone(),
            time,
            line.details.clone().unwrap_or(details),
            "Completed".into(),
            paid_in,
            withdrawn,
            String::new(),
            "true".into(),
            reason.into(),
            party,
            String::new(),
            reference,
        ]
    }

    fn replay(&self, line: &StatementLine, options: &FormatOptions) -> Option<Replayed> {
        if line.kind != LineKind::Payment {
            return None;
        }
        let (msisdn, name) = split_party(line.counterparty.as_deref().unwrap_or(""));
        let mut names = name.split_whitespace();
        let first = names.next().unwrap_or("");
        let rest: Vec<&str> = names.collect();
        let (middle, last) = match rest.as_slice() {
            [] => (String::new(), String::new()),
            [last] => (String::new(), (*last).to_string()),
            [middle @ .., last] => (middle.join(" "), (*last).to_string()),
        };
        let local = line.completed_at.with_timezone(&options.time_zone);
        Some(Replayed {
            provider: "mpesa_c2b",
            payload: json!({
                "TransactionType": "Pay Bill",
                "TransID": line.txn_id,
                "TransTime": local.format("%Y%m%d%H%M%S").to_string(),
                "TransAmount": format!("{:.2}", line.amount),
                "BusinessShortCode": options.shortcode.clone().unwrap_or_default(),
                "BillRefNumber": line.reference.clone().unwrap_or_default(),
                "InvoiceNumber": "",
                "OrgAccountBalance": "",
                "ThirdPartyTransID": "",
                "MSISDN": msisdn.unwrap_or(""),
                "FirstName": first,
                "MiddleName": middle,
                "LastName": last,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(
        receipt: &'a str,
        paid_in: &'a str,
        withdrawn: &'a str,
        details: &'a str,
    ) -> [&'a str; 13] {
        [
            receipt,
            "02-11-2026 09:38:45",
            "02-11-2026 09:38:40",
            details,
            "Completed",
            paid_in,
            withdrawn,
            "49,197.00",
            "true",
            "Pay Bill",
            "254712345678 - JANE WANJIRU DOE",
            "",
            "ACC10023",
        ]
    }

    fn line(r: &[&str]) -> StatementLine {
        match Mpesa.parse(r, &FormatOptions::default()).unwrap() {
            Parsed::Line(l) => l,
            Parsed::NotCompleted => panic!("not completed"),
        }
    }

    #[test]
    fn local_time_becomes_utc_and_amounts_are_exact() {
        let l = line(&row("RKTQDM7W6S", "2,500.00", "", "Pay Bill from 2547…"));
        assert_eq!(l.completed_at.to_rfc3339(), "2026-11-02T06:38:45+00:00");
        assert_eq!(l.amount, Decimal::new(250000, 2));
        assert_eq!(l.kind, LineKind::Payment);
        assert_eq!(l.currency.code(), "KES");
        assert_eq!(l.reference.as_deref(), Some("ACC10023"));
    }

    #[test]
    fn charges_reversals_and_payouts_are_told_apart() {
        let fee = line(&row("RKTQDM7W6S", "", "-25.00", "Pay Bill Charge"));
        assert_eq!(
            (fee.kind, fee.amount),
            (LineKind::Fee, Decimal::new(-2500, 2))
        );
        let rev = line(&row("RKX1", "", "2500.00", "Reversal of RKTQDM7W6S"));
        assert_eq!(
            (rev.kind, rev.amount),
            (LineKind::Reversal, Decimal::new(-250000, 2))
        );
        let out = line(&row("RKX2", "", "100,000.00", "Business Transfer to Bank"));
        assert_eq!(out.kind, LineKind::Payout);
    }

    #[test]
    fn failed_lines_take_no_part_and_bad_ones_say_why() {
        let mut r = row("RK1", "10.00", "", "x");
        r[4] = "Failed";
        assert!(matches!(
            Mpesa.parse(&r, &FormatOptions::default()),
            Ok(Parsed::NotCompleted)
        ));
        let r = row("RK1", "", "", "x");
        assert!(Mpesa
            .parse(&r, &FormatOptions::default())
            .unwrap_err()
            .contains("both empty"));
        let mut r = row("RK1", "10.00", "", "x");
        r[1] = "2026/13/45";
        assert!(Mpesa
            .parse(&r, &FormatOptions::default())
            .unwrap_err()
            .starts_with("Completion Time"));
    }

    #[test]
    fn replay_rebuilds_the_c2b_confirmation() {
        let options = FormatOptions {
            shortcode: Some("600638".into()),
            ..FormatOptions::default()
        };
        let l = line(&row("RKTQDM7W6S", "2,500.00", "", "Pay Bill"));
        let r = Mpesa.replay(&l, &options).unwrap();
        assert_eq!(r.provider, "mpesa_c2b");
        assert_eq!(r.payload["TransID"], "RKTQDM7W6S");
        assert_eq!(r.payload["TransTime"], "20261102093845");
        assert_eq!(r.payload["TransAmount"], "2500.00");
        assert_eq!(r.payload["MSISDN"], "254712345678");
        assert_eq!(r.payload["FirstName"], "JANE");
        assert_eq!(r.payload["MiddleName"], "WANJIRU");
        assert_eq!(r.payload["LastName"], "DOE");
        assert_eq!(r.payload["BillRefNumber"], "ACC10023");
        let rendered = Mpesa.render(&l, &options);
        let back = line(&rendered.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(
            (back.txn_id, back.amount, back.completed_at),
            (l.txn_id, l.amount, l.completed_at)
        );
    }
}
