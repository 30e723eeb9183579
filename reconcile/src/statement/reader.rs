//! Reading a statement file into Arrow batches, for every format.
//!
//! Exports are made for people: the header may sit under a preamble
//! (organisation, period), columns may come in any order, the file may
//! start with a byte-order mark, and a line may be broken. So the header is
//! looked for in the first lines, columns are found by name, and a line that
//! cannot be read is kept with its line number and reason — never dropped
//! in silence, never the end of the job.

use std::collections::BTreeSet;
use std::io::BufReader;
use std::path::Path;

use arrow::array::{
    ArrayRef, Decimal128Builder, DictionaryArray, StringArray, StringBuilder,
    TimestampMicrosecondBuilder, UInt16Array, UInt64Builder,
};
use arrow::datatypes::UInt16Type;
use arrow::record_batch::RecordBatch;
use indicatif::ProgressBar;
use serde::Serialize;

use super::columns::{OptionalTexts, SparseAmounts};
use super::{FormatOptions, Parsed, StatementFormat, StatementLine};
use crate::schema::{statement_schema, to_amount_units, AMOUNT_PRECISION, AMOUNT_SCALE};
use crate::{Error, Result};

/// Rows per Arrow batch.
const BATCH_ROWS: usize = 64 * 1024;
/// How far down the header may be.
const HEADER_SEARCH_LINES: usize = 50;

/// A statement line that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BadLine {
    /// 1-based line number in the file.
    pub line: u64,
    /// Why.
    pub error: String,
    /// The line's fields, joined by commas.
    pub text: String,
}

/// A statement, read.
#[derive(Debug, Default)]
pub struct StatementRead {
    /// The lines, as [`statement_schema`] batches.
    pub batches: Vec<RecordBatch>,
    /// Data lines in the file (read, not completed, and bad).
    pub lines: u64,
    /// Lines the provider marks as not completed (no money moved).
    pub not_completed: u64,
    /// Lines that could not be read.
    pub bad_lines: Vec<BadLine>,
    /// Currencies of the lines read.
    pub currencies: BTreeSet<String>,
}

/// A column of few distinct texts, built as a dictionary: each row is the
/// index of its text, found by comparing with the row before (statements
/// repeat one provider, kind and currency for long runs), else with each
/// text seen so far in the batch.
#[derive(Default)]
struct FewStrings {
    texts: Vec<String>,
    keys: Vec<u16>,
    last: usize,
}

impl FewStrings {
    fn append(&mut self, text: &str) {
        if self.texts.get(self.last).is_none_or(|t| t != text) {
            self.last = match self.texts.iter().position(|t| t == text) {
                Some(at) => at,
                None => {
                    self.texts.push(text.to_string());
                    self.texts.len() - 1
                }
            };
        }
        // A batch has at most `BATCH_ROWS` rows, so at most that many texts.
        self.keys.push(self.last as u16);
    }

    fn finish(&mut self) -> Result<DictionaryArray<UInt16Type>> {
        let texts = StringArray::from(std::mem::take(&mut self.texts));
        let keys = UInt16Array::from(std::mem::take(&mut self.keys));
        self.last = 0;
        Ok(DictionaryArray::try_new(keys, std::sync::Arc::new(texts))?)
    }
}

/// Collects lines into [`statement_schema`] batches.
struct BatchBuilder {
    line: UInt64Builder,
    provider: FewStrings,
    txn_id: StringBuilder,
    kind: FewStrings,
    amount: Decimal128Builder,
    fee: SparseAmounts,
    currency: FewStrings,
    completed_at: TimestampMicrosecondBuilder,
    reference: StringBuilder,
    counterparty: OptionalTexts,
    details: OptionalTexts,
    rows: usize,
}

fn amount_builder() -> Decimal128Builder {
    Decimal128Builder::with_capacity(BATCH_ROWS)
        .with_precision_and_scale(AMOUNT_PRECISION, AMOUNT_SCALE)
        .expect("valid decimal type")
}

/// A text column sized for a batch of ids or references (about 16 bytes),
/// so it is not grown and copied a dozen times from Arrow's default 1 KiB.
fn text_builder() -> StringBuilder {
    StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16)
}

impl BatchBuilder {
    fn new() -> Self {
        BatchBuilder {
            line: UInt64Builder::with_capacity(BATCH_ROWS),
            provider: FewStrings::default(),
            txn_id: text_builder(),
            kind: FewStrings::default(),
            amount: amount_builder(),
            fee: SparseAmounts::new(BATCH_ROWS),
            currency: FewStrings::default(),
            completed_at: TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS)
                .with_timezone("UTC"),
            reference: text_builder(),
            counterparty: OptionalTexts::new(BATCH_ROWS),
            details: OptionalTexts::new(BATCH_ROWS),
            rows: 0,
        }
    }

    /// Adds a line; `Err` when an amount does not fit the table's type.
    fn push(&mut self, line_no: u64, l: &StatementLine) -> Result<(), String> {
        let amount = to_amount_units(l.amount).ok_or("amount: does not fit")?;
        let fee = to_amount_units(l.fee).ok_or("fee: does not fit")?;
        self.line.append_value(line_no);
        self.provider.append(&l.provider);
        self.txn_id.append_value(&l.txn_id);
        self.kind.append(l.kind.as_str());
        self.amount.append_value(amount);
        self.fee.append(fee);
        self.currency.append(l.currency.code());
        self.completed_at
            .append_value(l.completed_at.timestamp_micros());
        self.reference.append_option(l.reference.as_deref());
        self.counterparty.append(l.counterparty.as_deref());
        self.details.append(l.details.as_deref());
        self.rows += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            std::sync::Arc::new(self.line.finish()),
            std::sync::Arc::new(self.provider.finish()?),
            std::sync::Arc::new(std::mem::replace(&mut self.txn_id, text_builder()).finish()),
            std::sync::Arc::new(self.kind.finish()?),
            std::sync::Arc::new(self.amount.finish()),
            self.fee.finish(),
            std::sync::Arc::new(self.currency.finish()?),
            std::sync::Arc::new(self.completed_at.finish()),
            std::sync::Arc::new(std::mem::replace(&mut self.reference, text_builder()).finish()),
            self.counterparty.finish(),
            self.details.finish(),
        ];
        self.rows = 0;
        Ok(RecordBatch::try_new(statement_schema(), columns)?)
    }
}

/// Normalises a header cell for comparison.
fn header_key(cell: &[u8]) -> String {
    String::from_utf8_lossy(cell)
        .trim_start_matches('\u{feff}')
        .trim()
        .to_ascii_lowercase()
}

/// Where each of the format's columns is in this file, if `record` is the
/// header; `None` for an optional column the file lacks.
fn find_columns(
    record: &csv::ByteRecord,
    format: &dyn StatementFormat,
) -> Option<Vec<Option<usize>>> {
    let cells: Vec<String> = record.iter().map(header_key).collect();
    let position = |name: &str| cells.iter().position(|c| *c == name.to_ascii_lowercase());
    let mut positions = Vec::new();
    for name in format.columns() {
        positions.push(Some(position(name)?));
    }
    positions.extend(format.optional_columns().iter().map(|n| position(n)));
    Some(positions)
}

fn joined(record: &csv::ByteRecord) -> String {
    let fields: Vec<String> = record
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    fields.join(",")
}

/// Reads the statement at `path` as `format`, streaming rows into Arrow
/// batches; `progress` counts bytes.
///
/// # Errors
/// [`Error::MissingFile`] when there is no such file, [`Error::WrongFormat`]
/// when no header of the format is found in its first lines. Bad lines are
/// not errors: they are returned in [`StatementRead::bad_lines`].
pub fn read_statement(
    path: &Path,
    format: &dyn StatementFormat,
    options: &FormatOptions,
    progress: &ProgressBar,
) -> Result<StatementRead> {
    let file = crate::error::open_input(path, "statement")?;
    if let Ok(meta) = file.metadata() {
        progress.set_length(meta.len());
    }
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 20, file));
    let wrong = |reason: String| Error::WrongFormat {
        path: path.to_path_buf(),
        format: format.name().to_string(),
        reason,
    };

    let mut record = csv::ByteRecord::new();
    let mut first_line = None;
    let mut positions = None;
    for _ in 0..HEADER_SEARCH_LINES {
        match csv.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(wrong(format!("cannot read it as CSV: {e}"))),
        }
        first_line.get_or_insert_with(|| joined(&record));
        if let Some(found) = find_columns(&record, format) {
            positions = Some(found);
            break;
        }
    }
    let positions = positions.ok_or_else(|| {
        wrong(format!(
            "no header with the columns {:?} in its first {HEADER_SEARCH_LINES} lines (first line: {:?})",
            format.columns(),
            first_line.unwrap_or_default()
        ))
    })?;

    let body_start = csv.position().byte();
    let header_line = csv.position().line().saturating_sub(1);
    progress.set_position(body_start);
    let total = progress.length().unwrap_or(0);
    if total.saturating_sub(body_start) >= super::parallel::MIN_BYTES {
        let split = super::parallel::Split {
            path,
            body_start,
            end: total,
            header_line,
        };
        if let Some(read) = super::parallel::read(&split, &positions, format, options, progress)? {
            return Ok(read);
        }
    }
    read_rows(&mut csv, 0, &positions, format, options, progress)
}

/// Reads data rows until the end of `csv`, numbering lines from the
/// reader's own count plus `line_offset`.
///
/// # Errors
/// Only Arrow errors; bad rows are collected.
pub(super) fn read_rows<R: std::io::Read>(
    csv: &mut csv::Reader<R>,
    line_offset: u64,
    positions: &[Option<usize>],
    format: &dyn StatementFormat,
    options: &FormatOptions,
    progress: &ProgressBar,
) -> Result<StatementRead> {
    let mut read = StatementRead::default();
    let mut builder = BatchBuilder::new();
    let mut record = csv::ByteRecord::new();
    let mut reported = csv.position().byte();
    let mut last_currency = None;
    loop {
        let line_no = csv.position().line() + line_offset;
        match csv.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                read.lines += 1;
                read.bad_lines.push(BadLine {
                    line: line_no,
                    error: format!("not CSV: {e}"),
                    text: String::new(),
                });
                continue;
            }
        }
        read.lines += 1;
        let line_no = record
            .position()
            .map_or(line_no, |p| p.line() + line_offset);
        let mut fields: Vec<&str> = Vec::with_capacity(positions.len());
        let outcome = row_fields(&record, positions, &mut fields)
            .and_then(|()| format.parse(&fields, options))
            .and_then(|parsed| match parsed {
                Parsed::Line(line) => {
                    builder.push(line_no, &line)?;
                    // Most lines repeat the last line's currency: skip
                    // the set's string compares for them.
                    if last_currency != Some(line.currency) {
                        last_currency = Some(line.currency);
                        if !read.currencies.contains(line.currency.code()) {
                            read.currencies.insert(line.currency.code().to_string());
                        }
                    }
                    Ok(())
                }
                Parsed::NotCompleted => {
                    read.not_completed += 1;
                    Ok(())
                }
            });
        if let Err(error) = outcome {
            read.bad_lines.push(BadLine {
                line: line_no,
                error,
                text: joined(&record),
            });
        }
        if builder.rows == BATCH_ROWS {
            read.batches.push(builder.finish()?);
            let at = csv.position().byte();
            progress.inc(at - reported);
            reported = at;
        }
    }
    if builder.rows > 0 {
        read.batches.push(builder.finish()?);
    }
    progress.inc(csv.position().byte() - reported);
    Ok(read)
}

/// Picks the format's columns out of a record, as text.
pub(super) fn row_fields<'r>(
    record: &'r csv::ByteRecord,
    positions: &[Option<usize>],
    fields: &mut Vec<&'r str>,
) -> Result<(), String> {
    fields.clear();
    for position in positions {
        let value = match position {
            Some(p) => {
                let bytes = record.get(*p).ok_or_else(|| {
                    format!("{} columns, the header has more than {p}", record.len())
                })?;
                std::str::from_utf8(bytes).map_err(|_| format!("column {}: not UTF-8", p + 1))?
            }
            None => "",
        };
        fields.push(value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_strings_are_a_dictionary_per_batch() {
        let mut column = FewStrings::default();
        for text in ["KES", "KES", "UGX", "KES", "USD"] {
            column.append(text);
        }
        let first = column.finish().unwrap();
        let texts: Vec<&str> = first
            .downcast_dict::<StringArray>()
            .unwrap()
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(texts, ["KES", "KES", "UGX", "KES", "USD"]);
        assert_eq!(first.values().len(), 3);
        // The next batch starts its own dictionary.
        column.append("UGX");
        let second = column.finish().unwrap();
        assert_eq!(second.values().len(), 1);
        assert_eq!(second.keys().value(0), 0);
    }
    use crate::statement::format;
    use arrow::array::AsArray;
    use std::io::Write;

    fn read(format_name: &str, text: &str) -> Result<StatementRead> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        read_statement(
            file.path(),
            format(format_name)?.as_ref(),
            &FormatOptions::default(),
            &ProgressBar::hidden(),
        )
    }

    #[test]
    fn finds_the_header_under_a_preamble_and_reports_bad_lines() {
        let text = "\u{feff}Organisation Name:,ACME ISP\nTime Period:,01-11-2026 - 30-11-2026\n\
Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No.\n\
RK1,02-11-2026 09:38:45,02-11-2026 09:38:45,Pay Bill,Completed,\"2,500.00\",,\"49,197.00\",true,Pay Bill,254712345678 - JANE DOE,,ACC10023\n\
RK2,02-11-2026 09:39:45,02-11-2026 09:39:45,Pay Bill,Completed,abc,,,true,Pay Bill,,,ACC2\n\
RK3,02-11-2026 09:40:45,02-11-2026 09:40:45,Pay Bill,Failed,10.00,,,true,Pay Bill,,,ACC3\n\
RK4,short\n";
        let r = read("mpesa", text).unwrap();
        assert_eq!(r.lines, 4);
        assert_eq!(r.not_completed, 1);
        let rows: usize = r.batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 1);
        let lines = r.batches[0]
            .column(0)
            .as_primitive::<arrow::datatypes::UInt64Type>();
        assert_eq!(lines.value(0), 4);
        let bad: Vec<(u64, &str)> = r
            .bad_lines
            .iter()
            .map(|b| (b.line, b.error.as_str()))
            .collect();
        assert_eq!(bad[0].0, 5);
        assert!(bad[0].1.starts_with("Paid In"), "{bad:?}");
        assert_eq!(bad[1].0, 7);
        assert_eq!(r.currencies.iter().collect::<Vec<_>>(), ["KES"]);
    }

    #[test]
    fn a_wrong_format_or_missing_file_is_a_clear_error() {
        let err = read(
            "stripe",
            "txn_id,amount,currency,completed_at,reference,counterparty\n",
        )
        .unwrap_err();
        assert!(matches!(err, Error::WrongFormat { .. }), "{err}");
        assert!(err.to_string().contains("not a `stripe` statement"));
        let err = read_statement(
            Path::new("/nonexistent/statement.csv"),
            format("generic").unwrap().as_ref(),
            &FormatOptions::default(),
            &ProgressBar::hidden(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::MissingFile { .. }));
    }

    #[test]
    fn columns_in_any_order_with_extras() {
        let text = "currency,extra,txn_id,amount,reference,counterparty,completed_at\n\
KES,x,T1,10.00,ACC1,,2026-11-02T00:00:00Z\n";
        let r = read("generic", text).unwrap();
        assert!(r.bad_lines.is_empty(), "{:?}", r.bad_lines);
        assert_eq!(r.batches[0].num_rows(), 1);
        assert_eq!(r.batches[0].column(2).as_string::<i32>().value(0), "T1");
    }
}
