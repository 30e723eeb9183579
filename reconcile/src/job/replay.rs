//! `--replay-missing`: a statement line the ledger never saw is a callback
//! the provider lost, and a customer who paid may still be cut off. Each
//! such line is rebuilt as the provider's own callback, in a payment
//! envelope `paymatch match` (or the raw payments topic) accepts. Its
//! payment id is the one the lost callback would have had, so a second
//! replay is only `duplicate` decisions.

use std::path::Path;

use arrow::array::{Array, AsArray, StringArray};
use arrow::datatypes::{Decimal128Type, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, SecondsFormat, Utc};
use model::Currency;
use serde_json::json;

use super::output;
use super::summary::{strings, text_at, ReplaySummary};
use crate::schema::from_amount_units;
use crate::statement::{FormatOptions, LineKind, StatementFormat, StatementLine};
use crate::Result;

/// The text columns of a batch of missing lines, cast once.
struct Texts {
    provider: StringArray,
    txn_id: StringArray,
    kind: StringArray,
    currency: StringArray,
    reference: StringArray,
    counterparty: StringArray,
}

fn line_at(batch: &RecordBatch, texts: &Texts, row: usize) -> Option<StatementLine> {
    let amount = |name: &str| {
        let a = batch.column_by_name(name)?.as_primitive::<Decimal128Type>();
        (!a.is_null(row)).then(|| from_amount_units(a.value(row)))
    };
    let at = batch
        .column_by_name("completed_at")?
        .as_primitive::<TimestampMicrosecondType>();
    Some(StatementLine {
        provider: text_at(&texts.provider, row)?,
        txn_id: text_at(&texts.txn_id, row)?,
        kind: LineKind::parse(&text_at(&texts.kind, row)?)?,
        amount: amount("amount")?,
        fee: amount("fee").unwrap_or_default(),
        currency: Currency::parse(&text_at(&texts.currency, row)?).ok()?,
        completed_at: DateTime::from_timestamp_micros(at.value(row))?,
        reference: text_at(&texts.reference, row),
        counterparty: text_at(&texts.counterparty, row),
        details: None,
    })
}

/// Writes an envelope per replayable line of `missing` (rows of
/// [`super::queries::MISSING_IN_LEDGER`]) to `path`.
///
/// # Errors
/// I/O errors.
pub(super) fn write(
    path: &Path,
    missing: &[RecordBatch],
    format: &dyn StatementFormat,
    options: &FormatOptions,
    received_at: DateTime<Utc>,
) -> Result<ReplaySummary> {
    let received_at = received_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut envelopes = Vec::new();
    let mut not_replayable = 0;
    for batch in missing {
        let texts = Texts {
            provider: strings(batch, "provider"),
            txn_id: strings(batch, "txn_id"),
            kind: strings(batch, "kind"),
            currency: strings(batch, "currency"),
            reference: strings(batch, "reference"),
            counterparty: strings(batch, "counterparty"),
        };
        for row in 0..batch.num_rows() {
            match line_at(batch, &texts, row).and_then(|l| format.replay(&l, options)) {
                Some(r) => envelopes.push(json!({
                    "provider": r.provider, "received_at": received_at, "payload": r.payload,
                })),
                None => not_replayable += 1,
            }
        }
    }
    let replayed = envelopes.len() as u64;
    output::jsonl(path, envelopes)?;
    Ok(ReplaySummary {
        file: path.display().to_string(),
        replayed,
        not_replayable,
    })
}
