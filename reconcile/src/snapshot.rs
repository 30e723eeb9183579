//! `paymatch snapshot`: the ledger as Parquet, one directory per day
//! (`day=YYYY-MM-DD/part-0.parquet`, Hive style), so reconciliation and
//! SQL scan only the days they need and any engine (DataFusion, DuckDB,
//! Spark, pandas) reads it as one partitioned table.
//!
//! A snapshot replaces the days its input holds and keeps the others, so
//! daily ledger files can be added one at a time.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{AsArray, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::TimestampMicrosecondType;
use chrono::DateTime;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use parquet::arrow::ArrowWriter;
use serde::Serialize;

use crate::ledger::{read_csv, read_jsonl, LedgerFormat};
use crate::schema::ledger_schema;
use crate::{Error, Result};

/// What a snapshot wrote.
#[derive(Clone, Debug, Serialize)]
pub struct SnapshotSummary {
    /// Ledger entries written.
    pub entries: u64,
    /// Entries per day written.
    pub days: BTreeMap<String, u64>,
    /// The snapshot directory.
    pub out: PathBuf,
}

/// Writes the ledger at `ledger` (JSONL or CSV) under `out`, partitioned by
/// the UTC day of each entry.
///
/// # Errors
/// Missing or bad ledger, I/O and Parquet errors.
pub fn snapshot(ledger: &Path, out: &Path, progress: bool) -> Result<SnapshotSummary> {
    let bar = ProgressBar::with_draw_target(
        Some(0),
        if progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:30}] {bytes}/{total_bytes}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message("ledger");
    let batches = match LedgerFormat::of(ledger)? {
        LedgerFormat::Jsonl => read_jsonl(ledger, &bar)?,
        LedgerFormat::Csv => read_csv(ledger, &bar)?,
        LedgerFormat::Parquet => {
            return Err(Error::Invalid(format!(
                "{} is already Parquet: snapshot reads a JSONL or CSV ledger",
                ledger.display()
            )))
        }
    };
    bar.finish();

    let mut writers: BTreeMap<String, ArrowWriter<File>> = BTreeMap::new();
    let mut days: BTreeMap<String, u64> = BTreeMap::new();
    for batch in &batches {
        let at = batch
            .column_by_name("at")
            .expect("ledger schema has `at`")
            .as_primitive::<TimestampMicrosecondType>();
        let mut rows: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for (i, micros) in at.values().iter().enumerate() {
            let day = DateTime::from_timestamp_micros(*micros).map_or_else(
                || "invalid".to_string(),
                |t| t.format("%Y-%m-%d").to_string(),
            );
            rows.entry(day).or_default().push(i as u32);
        }
        for (day, indices) in rows {
            let part = take_record_batch(batch, &UInt32Array::from(indices))?;
            *days.entry(day.clone()).or_default() += part.num_rows() as u64;
            let writer = match writers.entry(day) {
                std::collections::btree_map::Entry::Occupied(w) => w.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    let dir = out.join(format!("day={}", v.key()));
                    if dir.exists() {
                        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                    }
                    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                    let path = dir.join("part-0.parquet");
                    let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
                    v.insert(ArrowWriter::try_new(
                        file,
                        ledger_schema(),
                        Some(crate::job::writer_properties()),
                    )?)
                }
            };
            writer.write(&part)?;
        }
    }
    for (_, writer) in writers {
        writer.close()?;
    }
    Ok(SnapshotSummary {
        entries: days.values().sum(),
        days,
        out: out.to_path_buf(),
    })
}
