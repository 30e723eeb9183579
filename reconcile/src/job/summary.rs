//! `summary.json`: what a finance team signs off. Per provider, day and
//! currency, both sides' counts and totals, the difference, every outcome's
//! count, and — where the statement carries them — fees, charges and
//! payouts, so the day's net can be tied to the bank deposit.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Decimal128Type, Int64Type};
use arrow::record_batch::RecordBatch;
use model::Currency;
use serde::Serialize;

use super::queries::EXCEPTION_KINDS;
use crate::schema::AMOUNT_SCALE;

/// The whole run.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Statement format.
    pub format: String,
    /// Ledger providers the statement was reconciled against.
    pub providers: Vec<String>,
    /// Ledger path.
    pub ledger: String,
    /// Statement path.
    pub statement: String,
    /// Statement data lines read.
    pub statement_lines: u64,
    /// Statement lines marked not completed (no money moved): not reconciled.
    pub not_completed: u64,
    /// Statement lines that could not be read (listed in `bad_lines.jsonl`).
    pub bad_lines: u64,
    /// Payments found on both sides, same amount and currency.
    pub matched: u64,
    /// Count of each exception kind (all six, zeros included).
    pub exceptions: BTreeMap<String, u64>,
    /// Per provider, day (UTC) and currency.
    pub days: Vec<DaySummary>,
    /// What `--replay-missing` wrote, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplaySummary>,
}

/// One provider's day in one currency.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DaySummary {
    /// Provider (`mpesa`, `stripe`, or the ledger's provider name).
    pub provider: String,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// Currency.
    pub currency: String,
    /// The provider's side.
    pub statement: StatementTotals,
    /// Our side.
    pub ledger: LedgerTotals,
    /// Statement gross minus ledger total: zero when the day reconciles.
    pub difference: String,
    /// Paired payments.
    pub matched: u64,
    /// Exceptions by kind (non-zero only).
    pub exceptions: BTreeMap<String, u64>,
}

/// The statement's side of a day.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StatementTotals {
    /// Payment and reversal lines.
    pub lines: u64,
    /// Their sum: money collected less money given back.
    pub gross: String,
    /// Fees and charges the provider took (positive).
    pub fees: String,
    /// Gross less fees: what the provider owes the merchant for the day.
    pub net: String,
    /// Money sent to the merchant's bank that day (positive).
    pub payouts: String,
    /// Lines of other kinds (adjustments, top-ups), summed.
    pub other: String,
}

/// The ledger's side of a day.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LedgerTotals {
    /// Payment and reversal entries.
    pub entries: u64,
    /// Their sum.
    pub total: String,
}

/// What `--replay-missing` did.
#[derive(Clone, Debug, Serialize)]
pub struct ReplaySummary {
    /// The envelope file written.
    pub file: String,
    /// Envelopes written.
    pub replayed: u64,
    /// `missing_in_ledger` lines the format cannot rebuild a callback for
    /// (reversals, card charges without a PaymentIntent id).
    pub not_replayable: u64,
}

/// A string column as `Utf8`, whatever DataFusion produced.
pub(crate) fn strings(batch: &RecordBatch, name: &str) -> arrow::array::StringArray {
    let column = batch.column_by_name(name).expect("column selected by name");
    let column = cast(column, &DataType::Utf8).expect("string columns cast to Utf8");
    column.as_string::<i32>().clone()
}

/// Row `row` of a string column, owned.
pub(crate) fn text_at(a: &arrow::array::StringArray, row: usize) -> Option<String> {
    (!a.is_null(row)).then(|| a.value(row).to_string())
}

fn count(batch: &RecordBatch, name: &str, row: usize) -> u64 {
    let a = batch.column_by_name(name).expect("column selected by name");
    let a = a.as_primitive::<Int64Type>();
    if a.is_null(row) {
        0
    } else {
        a.value(row).max(0) as u64
    }
}

/// A `DECIMAL(38, 4)` column's value in amount units.
fn units(batch: &RecordBatch, name: &str, row: usize) -> i128 {
    let a = batch.column_by_name(name).expect("column selected by name");
    let a = a.as_primitive::<Decimal128Type>();
    debug_assert_eq!(a.scale(), AMOUNT_SCALE);
    if a.is_null(row) {
        0
    } else {
        a.value(row)
    }
}

/// Day totals in amount units, before formatting.
#[derive(Default)]
struct Day {
    statement_lines: u64,
    gross: i128,
    fees: i128,
    charges: i128,
    payouts: i128,
    other: i128,
    ledger_entries: u64,
    ledger_total: i128,
    matched: u64,
    exceptions: BTreeMap<String, u64>,
}

type Key = (String, String, String);

/// Builds the per-day rows from the `by_day` and `settlement` query
/// results, and the run's totals.
pub(crate) fn days(
    by_day: &[RecordBatch],
    settlement: &[RecordBatch],
) -> (Vec<DaySummary>, u64, BTreeMap<String, u64>) {
    let mut map: BTreeMap<Key, Day> = BTreeMap::new();
    let keys = |b: &RecordBatch| {
        let columns = [
            strings(b, "provider"),
            strings(b, "day"),
            strings(b, "currency"),
        ];
        (0..b.num_rows())
            .map(|row| -> Key {
                let [p, d, c] = &columns;
                (
                    text_at(p, row).unwrap_or_default(),
                    text_at(d, row).unwrap_or_default(),
                    text_at(c, row).unwrap_or_default(),
                )
            })
            .collect::<Vec<Key>>()
    };
    for b in by_day {
        for (row, key) in keys(b).into_iter().enumerate() {
            let d = map.entry(key).or_default();
            d.statement_lines += count(b, "statement_lines", row);
            d.gross += units(b, "statement_gross", row);
            d.fees += units(b, "statement_fees", row);
            d.ledger_entries += count(b, "ledger_entries", row);
            d.ledger_total += units(b, "ledger_total", row);
            d.matched += count(b, "matched", row);
            for kind in EXCEPTION_KINDS {
                let n = count(b, kind, row);
                if n > 0 {
                    *d.exceptions.entry(kind.to_string()).or_default() += n;
                }
            }
        }
    }
    for b in settlement {
        for (row, key) in keys(b).into_iter().enumerate() {
            let d = map.entry(key).or_default();
            d.charges += units(b, "charges", row);
            d.payouts += units(b, "payouts", row);
            d.other += units(b, "other", row);
        }
    }
    let mut matched = 0;
    let mut totals: BTreeMap<String, u64> =
        EXCEPTION_KINDS.iter().map(|k| (k.to_string(), 0)).collect();
    let rows = map
        .into_iter()
        .map(|((provider, day, currency), d)| {
            matched += d.matched;
            for (kind, n) in &d.exceptions {
                *totals.entry(kind.clone()).or_default() += n;
            }
            let exponent = Currency::parse(&currency).map_or(2, |c| c.exponent());
            let money = |u: i128| crate::schema::amount_text(u, exponent);
            let fees = d.fees - d.charges;
            DaySummary {
                provider,
                day,
                currency,
                statement: StatementTotals {
                    lines: d.statement_lines,
                    gross: money(d.gross),
                    fees: money(fees),
                    net: money(d.gross - fees),
                    payouts: money(-d.payouts),
                    other: money(d.other),
                },
                ledger: LedgerTotals {
                    entries: d.ledger_entries,
                    total: money(d.ledger_total),
                },
                difference: money(d.gross - d.ledger_total),
                matched: d.matched,
                exceptions: d.exceptions,
            }
        })
        .collect();
    (rows, matched, totals)
}
