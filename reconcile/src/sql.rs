//! `paymatch sql --dir DIR "SELECT …"`: DataFusion SQL over a results
//! directory. Every `*.parquet` file is a table named after the file
//! (`matched`, `exceptions`); every sub-directory holding Parquet files is a
//! table named after the directory, with Hive partition columns
//! (`day=2026-11-02/`) as columns (`ledger` from `paymatch snapshot`).

use std::io::Write;
use std::path::Path;

use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::{engine, Error, Result};

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// A text table.
    Table,
    /// CSV with a header.
    Csv,
    /// One JSON object per row, one per line.
    Json,
}

/// A directory's tables: (name, path, Hive partition columns).
fn tables(dir: &Path) -> Result<Vec<(String, String, Vec<String>)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::MissingFile {
            what: "directory",
            path: dir.to_path_buf(),
        },
        _ => Error::io(dir, e),
    })?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if path.is_file() && path.extension().is_some_and(|e| e == "parquet") {
            found.push((name, path.to_string_lossy().to_string(), Vec::new()));
        } else if path.is_dir() {
            let partitions = hive_columns(&path);
            if contains_parquet(&path) {
                found.push((name, format!("{}/", path.to_string_lossy()), partitions));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// `key` of `key=value` sub-directories, level by level.
fn hive_columns(dir: &Path) -> Vec<String> {
    let mut columns = Vec::new();
    let mut current = dir.to_path_buf();
    loop {
        let next = std::fs::read_dir(&current).ok().and_then(|entries| {
            entries.flatten().map(|e| e.path()).find(|p| {
                p.is_dir()
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().contains('='))
            })
        });
        match next {
            Some(sub) => {
                let name = sub.file_name().map(|n| n.to_string_lossy().to_string());
                if let Some((key, _)) = name.as_deref().and_then(|n| n.split_once('=')) {
                    columns.push(key.to_string());
                }
                current = sub;
            }
            None => return columns,
        }
    }
}

fn contains_parquet(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let p = e.path();
            (p.is_file() && p.extension().is_some_and(|x| x == "parquet"))
                || (p.is_dir() && contains_parquet(&p))
        })
    })
}

/// Registers every table of `dir` in `ctx`; returns their names.
///
/// # Errors
/// A missing directory, unreadable Parquet files.
pub async fn register_dir(ctx: &SessionContext, dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for (name, location, partitions) in tables(dir)? {
        let cols: Vec<(String, DataType)> = partitions
            .into_iter()
            .map(|c| (c, DataType::Utf8))
            .collect();
        let options = ParquetReadOptions::default()
            .file_extension(".parquet")
            .table_partition_cols(cols);
        ctx.register_parquet(&name, &location, options).await?;
        names.push(name);
    }
    Ok(names)
}

/// Runs `query` over the tables of `dir`.
///
/// # Errors
/// A missing directory, a query that does not plan or run.
pub async fn query(dir: &Path, query: &str) -> Result<Vec<RecordBatch>> {
    let ctx = engine::session();
    let names = register_dir(&ctx, dir).await?;
    if names.is_empty() {
        return Err(Error::Invalid(format!(
            "{} holds no Parquet files to query",
            dir.display()
        )));
    }
    Ok(ctx.sql(query).await?.collect().await?)
}

/// Prints `batches` to `out` as `format`.
///
/// # Errors
/// Write errors.
pub fn print(batches: &[RecordBatch], format: OutputFormat, out: &mut dyn Write) -> Result<()> {
    match format {
        OutputFormat::Table => {
            let table = arrow::util::pretty::pretty_format_batches(batches)?;
            writeln!(out, "{table}").map_err(|e| Error::io("stdout", e))?;
        }
        OutputFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            for b in batches {
                w.write(b)?;
            }
        }
        OutputFormat::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    Ok(())
}

/// `paymatch sql`: runs and prints.
///
/// # Errors
/// As [`query`] and [`print`].
pub fn run(dir: &Path, sql: &str, format: OutputFormat, out: &mut dyn Write) -> Result<()> {
    let batches = engine::runtime()?.block_on(query(dir, sql))?;
    print(&batches, format, out)
}
