//! Reading the ledger: `ledger.jsonl` (what `paymatch match` and the
//! `paymatch.ledger` topic carry), the same records as CSV, or Parquet (a
//! file, or a `paymatch snapshot` directory).
//!
//! JSONL and CSV are read here into [`ledger_schema`] batches; Parquet is
//! handed to DataFusion as it is and given the same shape by a view, so a
//! large snapshot is scanned in parallel and never copied. A bad ledger line
//! stops the job: the ledger is our own output, and a reconciliation over a
//! ledger with holes would prove nothing.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Decimal128Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use indicatif::ProgressBar;
use model::{LedgerEntry, LedgerKind};
use rust_decimal::Decimal;

use crate::schema::{ledger_schema, to_amount_units, AMOUNT_PRECISION, AMOUNT_SCALE};
use crate::{Error, Result};

const BATCH_ROWS: usize = 64 * 1024;

/// How a ledger file is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedgerFormat {
    /// One JSON ledger entry per line.
    Jsonl,
    /// CSV with the ledger entry's fields as columns.
    Csv,
    /// A Parquet file or a directory of them (a snapshot).
    Parquet,
}

impl LedgerFormat {
    /// Tells the format from the path: its extension, or a directory.
    ///
    /// # Errors
    /// [`Error::MissingFile`] or [`Error::UnknownLedgerFormat`].
    pub fn of(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(Error::MissingFile {
                what: "ledger",
                path: path.to_path_buf(),
            });
        }
        if path.is_dir() {
            return Ok(LedgerFormat::Parquet);
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "json" | "ndjson") => Ok(LedgerFormat::Jsonl),
            Some("csv") => Ok(LedgerFormat::Csv),
            Some("parquet") => Ok(LedgerFormat::Parquet),
            _ => Err(Error::UnknownLedgerFormat(path.to_path_buf())),
        }
    }
}

/// Collects ledger entries into [`ledger_schema`] batches.
pub struct LedgerBatches {
    entry_id: StringBuilder,
    customer_id: StringBuilder,
    payment_id: StringBuilder,
    invoice_id: StringBuilder,
    kind: StringBuilder,
    amount: Decimal128Builder,
    currency: StringBuilder,
    at: TimestampMicrosecondBuilder,
    provider: StringBuilder,
    provider_txn_id: StringBuilder,
    rows: usize,
    batches: Vec<RecordBatch>,
}

impl Default for LedgerBatches {
    fn default() -> Self {
        LedgerBatches {
            entry_id: StringBuilder::new(),
            customer_id: StringBuilder::new(),
            payment_id: StringBuilder::new(),
            invoice_id: StringBuilder::new(),
            kind: StringBuilder::new(),
            amount: Decimal128Builder::new()
                .with_precision_and_scale(AMOUNT_PRECISION, AMOUNT_SCALE)
                .expect("valid decimal type"),
            currency: StringBuilder::new(),
            at: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            provider: StringBuilder::new(),
            provider_txn_id: StringBuilder::new(),
            rows: 0,
            batches: Vec::new(),
        }
    }
}

/// The name of a ledger kind in the `kind` column.
pub fn kind_name(kind: LedgerKind) -> &'static str {
    match kind {
        LedgerKind::Payment => "payment",
        LedgerKind::Allocation => "allocation",
        LedgerKind::Credit => "credit",
        LedgerKind::Reversal => "reversal",
    }
}

/// `mpesa_c2b:RKTQDM7W6S` → (`mpesa_c2b`, `RKTQDM7W6S`).
pub fn split_payment_id(payment_id: &str) -> (&str, &str) {
    payment_id.split_once(':').unwrap_or(("", payment_id))
}

impl LedgerBatches {
    /// Adds one entry.
    ///
    /// # Errors
    /// When the amount has more than four decimals.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        entry_id: &str,
        customer_id: &str,
        payment_id: &str,
        invoice_id: Option<&str>,
        kind: &str,
        amount: Decimal,
        currency: &str,
        at: DateTime<Utc>,
    ) -> Result<(), String> {
        let units = to_amount_units(amount).ok_or("amount: more than 4 decimals")?;
        let (provider, txn) = split_payment_id(payment_id);
        self.entry_id.append_value(entry_id);
        self.customer_id.append_value(customer_id);
        self.payment_id.append_value(payment_id);
        self.invoice_id.append_option(invoice_id);
        self.kind.append_value(kind);
        self.amount.append_value(units);
        self.currency.append_value(currency);
        self.at.append_value(at.timestamp_micros());
        self.provider.append_value(provider);
        self.provider_txn_id.append_value(txn);
        self.rows += 1;
        if self.rows == BATCH_ROWS {
            self.flush();
        }
        Ok(())
    }

    /// Adds a ledger entry record.
    ///
    /// # Errors
    /// When the amount has more than four decimals.
    pub fn push_entry(&mut self, e: &LedgerEntry) -> Result<(), String> {
        self.push(
            &e.entry_id,
            &e.customer_id,
            &e.payment_id,
            e.invoice_id.as_deref(),
            kind_name(e.kind),
            e.amount,
            e.currency.code(),
            e.at,
        )
    }

    fn flush(&mut self) {
        if self.rows == 0 {
            return;
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.entry_id.finish()),
            Arc::new(self.customer_id.finish()),
            Arc::new(self.payment_id.finish()),
            Arc::new(self.invoice_id.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.amount.finish()),
            Arc::new(self.currency.finish()),
            Arc::new(self.at.finish()),
            Arc::new(self.provider.finish()),
            Arc::new(self.provider_txn_id.finish()),
        ];
        let batch = RecordBatch::try_new(ledger_schema(), columns)
            .expect("builders match the ledger schema");
        self.batches.push(batch);
        self.rows = 0;
    }

    /// The batches.
    pub fn finish(mut self) -> Vec<RecordBatch> {
        self.flush();
        self.batches
    }
}

fn open(path: &Path, progress: &ProgressBar) -> Result<BufReader<File>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    if let Ok(meta) = file.metadata() {
        progress.set_length(meta.len());
    }
    Ok(BufReader::with_capacity(1 << 20, file))
}

fn bad(path: &Path, line: u64, reason: impl Into<String>) -> Error {
    Error::BadLedgerLine {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

/// Reads a JSONL ledger into batches.
///
/// # Errors
/// I/O errors and [`Error::BadLedgerLine`].
pub fn read_jsonl(path: &Path, progress: &ProgressBar) -> Result<Vec<RecordBatch>> {
    let mut reader = open(path, progress)?;
    let mut out = LedgerBatches::default();
    let (mut line, mut bytes, mut text) = (0u64, 0u64, String::new());
    loop {
        text.clear();
        let n = reader
            .read_line(&mut text)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        line += 1;
        bytes += n as u64;
        if text.trim().is_empty() {
            continue;
        }
        let entry: LedgerEntry =
            serde_json::from_str(&text).map_err(|e| bad(path, line, e.to_string()))?;
        out.push_entry(&entry).map_err(|e| bad(path, line, e))?;
        if line % 65_536 == 0 {
            progress.set_position(bytes);
        }
    }
    progress.set_position(bytes);
    Ok(out.finish())
}

/// One row of a CSV ledger.
#[derive(serde::Deserialize)]
struct CsvEntry {
    entry_id: String,
    customer_id: String,
    payment_id: String,
    invoice_id: Option<String>,
    kind: String,
    amount: String,
    currency: String,
    at: String,
}

/// Reads a CSV ledger (a header naming the ledger entry's fields) into
/// batches.
///
/// # Errors
/// I/O errors and [`Error::BadLedgerLine`].
pub fn read_csv(path: &Path, progress: &ProgressBar) -> Result<Vec<RecordBatch>> {
    let mut csv = csv::Reader::from_reader(open(path, progress)?);
    let mut out = LedgerBatches::default();
    let headers = csv
        .headers()
        .map_err(|e| bad(path, 1, e.to_string()))?
        .clone();
    let mut record = csv::StringRecord::new();
    let mut line = 1;
    while csv
        .read_record(&mut record)
        .map_err(|e| bad(path, line + 1, e.to_string()))?
    {
        line = record.position().map_or(line + 1, |p| p.line());
        let row: CsvEntry = record
            .deserialize(Some(&headers))
            .map_err(|e| bad(path, line, e.to_string()))?;
        let amount: Decimal = row
            .amount
            .trim()
            .parse()
            .map_err(|_| bad(path, line, format!("amount: `{}`", row.amount)))?;
        let currency = model::Currency::parse(row.currency.trim())
            .map_err(|_| bad(path, line, format!("currency: `{}`", row.currency)))?;
        let at = DateTime::parse_from_rfc3339(row.at.trim())
            .map_err(|_| bad(path, line, format!("at: `{}` is not RFC 3339", row.at)))?
            .with_timezone(&Utc);
        let kind = row.kind.trim();
        if !["payment", "allocation", "credit", "reversal"].contains(&kind) {
            return Err(bad(path, line, format!("kind: `{kind}`")));
        }
        out.push(
            &row.entry_id,
            &row.customer_id,
            &row.payment_id,
            row.invoice_id.as_deref().filter(|s| !s.is_empty()),
            kind,
            amount,
            currency.code(),
            at,
        )
        .map_err(|e| bad(path, line, e))?;
        if line % 65_536 == 0 {
            progress.set_position(csv.position().byte());
        }
    }
    progress.set_position(csv.position().byte());
    Ok(out.finish())
}

/// The files of a Parquet ledger, for the error when there are none.
fn has_parquet(path: &Path) -> bool {
    if path.is_file() {
        return true;
    }
    let mut stack = vec![PathBuf::from(path)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "parquet") {
                return true;
            }
        }
    }
    false
}

/// Registers the ledger at `path` as table `ledger` in [`ledger_schema`]'s
/// shape.
///
/// # Errors
/// Missing or unreadable files, bad lines, Parquet files without the
/// ledger's columns.
pub async fn register(ctx: &SessionContext, path: &Path, progress: &ProgressBar) -> Result<()> {
    match LedgerFormat::of(path)? {
        format @ (LedgerFormat::Jsonl | LedgerFormat::Csv) => {
            let owned = path.to_path_buf();
            let bar = progress.clone();
            let batches = tokio::task::spawn_blocking(move || match format {
                LedgerFormat::Jsonl => read_jsonl(&owned, &bar),
                _ => read_csv(&owned, &bar),
            })
            .await
            .map_err(|e| Error::Invalid(format!("ledger reader stopped: {e}")))??;
            crate::engine::register_batches(ctx, "ledger", ledger_schema(), batches)?;
        }
        LedgerFormat::Parquet => {
            if !has_parquet(path) {
                return Err(Error::MissingFile {
                    what: "ledger Parquet file",
                    path: path.to_path_buf(),
                });
            }
            let location = path.to_string_lossy().to_string();
            let options = ParquetReadOptions::default().file_extension(".parquet");
            ctx.register_parquet("ledger_source", &location, options)
                .await?;
            // Snapshots carry the payment id's two halves as columns; other
            // Parquet ledgers are split here.
            let source = ctx.table("ledger_source").await?;
            let has = |name: &str| source.schema().field_with_unqualified_name(name).is_ok();
            let (provider, txn) = if has("provider") && has("provider_txn_id") {
                ("provider", "provider_txn_id")
            } else {
                ("payment_provider(payment_id)", "payment_txn_id(payment_id)")
            };
            ctx.sql(&format!(
                "CREATE VIEW ledger AS SELECT entry_id, customer_id, payment_id, invoice_id, kind, \
                 CAST(amount AS DECIMAL(18, 4)) AS amount, currency, \
                 arrow_cast(at, 'Timestamp(Microsecond, Some(\"UTC\"))') AS at, \
                 {provider} AS provider, {txn} AS provider_txn_id \
                 FROM ledger_source"
            ))
            .await?;
            progress.finish();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn jsonl_and_csv_give_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        let jsonl = dir.path().join("ledger.jsonl");
        let mut f = File::create(&jsonl).unwrap();
        writeln!(f, r#"{{"entry_id":"payment:mpesa_c2b:RK1","customer_id":"C1","payment_id":"mpesa_c2b:RK1","invoice_id":null,"kind":"payment","amount":"2500.00","currency":"KES","at":"2026-11-02T06:38:45Z"}}"#).unwrap();
        writeln!(f).unwrap();
        let csv_path = dir.path().join("ledger.csv");
        std::fs::write(&csv_path, "entry_id,customer_id,payment_id,invoice_id,kind,amount,currency,at\npayment:mpesa_c2b:RK1,C1,mpesa_c2b:RK1,,payment,2500.00,KES,2026-11-02T06:38:45Z\n").unwrap();
        let a = read_jsonl(&jsonl, &ProgressBar::hidden()).unwrap();
        let b = read_csv(&csv_path, &ProgressBar::hidden()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a[0].num_rows(), 1);
    }

    #[test]
    fn a_bad_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ledger.jsonl");
        std::fs::write(&p, "{}\n").unwrap();
        let err = read_jsonl(&p, &ProgressBar::hidden()).unwrap_err();
        assert!(err.to_string().contains("ledger.jsonl:1:"), "{err}");
        assert!(matches!(
            LedgerFormat::of(&dir.path().join("nope.jsonl")),
            Err(Error::MissingFile { .. })
        ));
        std::fs::write(dir.path().join("l.xlsx"), "").unwrap();
        assert!(matches!(
            LedgerFormat::of(&dir.path().join("l.xlsx")),
            Err(Error::UnknownLedgerFormat(_))
        ));
    }
}
