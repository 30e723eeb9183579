//! Writing results: Parquet for engines (DataFusion, DuckDB, pandas), CSV
//! for people, JSON for the summary. Times in CSV are RFC 3339 UTC.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::config::{ParquetColumnOptions, TableParquetOptions};
use datafusion::prelude::SessionContext;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use crate::{Error, Result};

/// Parquet settings for every file we write: Snappy, which every reader has.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build()
}

/// Parquet settings for `matched.parquet`, written by DataFusion: the
/// session's (Snappy), tuned per column for a file of millions of rows:
///
/// * dictionaries only where values repeat (`provider`, `currency`, and
///   `fee`, zero on almost every line: 160 MB of 16-byte decimals that
///   Snappy squeezed to 8 MB, now a dictionary of a few values). Ids,
///   amounts and times are nearly unique per row: a dictionary for them is
///   built, overflows and is thrown away in every column chunk, which cost
///   a fifth of the write;
/// * line numbers and times delta-encoded: lines come nearly in order and
///   times share their high bits, so the file is a fifth smaller (338 MB,
///   not 412 MB, at 10M rows) and quicker to write. Delta-packed times do
///   not compress further (Snappy left the 54 MB of each at 54 MB), so
///   they are written uncompressed;
/// * no min/max statistics for the ids (`txn_id`, `payment_id`,
///   `customer_id`): they are in no order, so every page spans nearly the
///   whole range and can never be skipped, and the comparisons cost a
///   string compare per row.
pub(crate) fn matched_options(ctx: &SessionContext) -> TableParquetOptions {
    let mut options = TableParquetOptions {
        global: ctx.copied_config().options().execution.parquet.clone(),
        ..Default::default()
    };
    options.global.dictionary_enabled = Some(false);
    let mut column = |name: &str, set: &dyn Fn(&mut ParquetColumnOptions)| {
        set(options
            .column_specific_options
            .entry(name.to_string())
            .or_default());
    };
    for name in ["provider", "currency", "fee"] {
        column(name, &|o| o.dictionary_enabled = Some(true));
    }
    for name in ["statement_line", "ledger_at", "statement_at"] {
        column(name, &|o| o.encoding = Some("delta_binary_packed".into()));
    }
    for name in ["ledger_at", "statement_at"] {
        column(name, &|o| o.compression = Some("uncompressed".into()));
    }
    for name in ["txn_id", "payment_id", "customer_id"] {
        column(name, &|o| o.statistics_enabled = Some("none".into()));
    }
    options
}

/// Writes `batches` to a Parquet file.
///
/// # Errors
/// I/O and encoding errors.
pub(crate) fn parquet(path: &Path, schema: SchemaRef, batches: &[RecordBatch]) -> Result<()> {
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut writer = ArrowWriter::try_new(file, schema, Some(writer_properties()))?;
    for b in batches {
        writer.write(b)?;
    }
    writer.close()?;
    Ok(())
}

/// Writes `batches` to a CSV file with a header.
///
/// # Errors
/// I/O and encoding errors.
pub(crate) fn csv(path: &Path, batches: &[RecordBatch]) -> Result<()> {
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut writer = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.fZ".to_string())
        .build(BufWriter::new(file));
    for b in batches {
        writer.write(b)?;
    }
    Ok(())
}

/// Writes one JSON value per line.
///
/// # Errors
/// I/O errors.
pub(crate) fn jsonl<T: Serialize>(path: &Path, items: impl IntoIterator<Item = T>) -> Result<()> {
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut out = BufWriter::new(file);
    for item in items {
        serde_json::to_writer(&mut out, &item)?;
        out.write_all(b"\n").map_err(|e| Error::io(path, e))?;
    }
    out.flush().map_err(|e| Error::io(path, e))
}

/// Writes pretty JSON.
///
/// # Errors
/// I/O errors.
pub(crate) fn json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").map_err(|e| Error::io(path, e))
}
