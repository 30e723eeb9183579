//! `paymatch reconcile`: prove that every amount a provider says it
//! collected is in the ledger, and that the ledger holds nothing the
//! provider did not collect.
//!
//! The statement is read into Arrow batches (in parallel with the ledger),
//! classified by one DataFusion plan ([`queries`]), materialised once, and
//! written out: `matched.parquet`, `exceptions.parquet` + `.csv`,
//! `summary.json`, and `bad_lines.jsonl` when the statement had lines that
//! could not be read.

mod output;
pub use output::writer_properties;
pub mod queries;
mod replay;
pub mod summary;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::Array;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use chrono::Utc;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub use summary::Summary;

use crate::schema::statement_schema;
use crate::statement::{self, read_statement, FormatOptions, StatementRead};
use crate::{engine, ledger, rows, udf, Error, Result};

/// What to reconcile, and where to write.
#[derive(Clone, Debug)]
pub struct ReconcileOptions {
    /// Ledger: `.jsonl`, `.csv`, `.parquet` or a snapshot directory.
    pub ledger: PathBuf,
    /// The provider's statement.
    pub statement: PathBuf,
    /// Statement format name (`generic`, `mpesa`, `stripe`).
    pub format: String,
    /// Output directory.
    pub out: PathBuf,
    /// Ledger providers the statement covers; `None`: the format's default.
    pub providers: Option<Vec<String>>,
    /// Time zone, currency and shortcode for formats that need them.
    pub format_options: FormatOptions,
    /// Write `missing_in_ledger` lines as payment envelopes here.
    pub replay_missing: Option<PathBuf>,
    /// Draw progress bars on stderr.
    pub progress: bool,
}

/// Runs a reconciliation; returns what `summary.json` says.
///
/// # Errors
/// Missing or unreadable inputs, a wrong statement format, a statement in
/// currencies the ledger does not use, engine failures.
pub fn reconcile(options: &ReconcileOptions) -> Result<Summary> {
    engine::runtime()?.block_on(run(options, udf::seeded_hashes))
}

fn bar(multi: &MultiProgress, message: &'static str, bytes: bool) -> ProgressBar {
    let bar = multi.add(ProgressBar::new(0));
    let style = if bytes {
        ProgressStyle::with_template("{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
    } else {
        ProgressStyle::with_template("{msg:>12} {spinner} {elapsed}")
    };
    bar.set_style(style.expect("valid template").progress_chars("=> "));
    bar.set_message(message);
    if !bytes {
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
    }
    bar
}

fn provider_scope(
    options: &ReconcileOptions,
    format: &dyn statement::StatementFormat,
) -> Result<Vec<String>> {
    let providers: Vec<String> = match &options.providers {
        Some(list) => list.clone(),
        None => format.providers().iter().map(|p| p.to_string()).collect(),
    };
    if providers.is_empty() {
        return Err(Error::Invalid(
            "--provider: give at least one provider".into(),
        ));
    }
    if let Some(bad) = providers
        .iter()
        .find(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err(Error::Invalid(format!(
            "--provider: `{bad}` is not a provider name"
        )));
    }
    Ok(providers)
}

async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(ctx.sql(sql).await?.collect().await?)
}

/// Fails when no statement currency is one the ledger's payments use.
async fn check_currencies(
    ctx: &SessionContext,
    read: &StatementRead,
    providers: &[String],
) -> Result<()> {
    let batches = collect(ctx, queries::LEDGER_CURRENCIES).await?;
    let mut ledger = std::collections::BTreeSet::new();
    for b in &batches {
        let currencies = summary::strings(b, "currency");
        ledger.extend((0..b.num_rows()).filter_map(|row| summary::text_at(&currencies, row)));
    }
    if ledger.is_empty() || read.currencies.is_empty() || !read.currencies.is_disjoint(&ledger) {
        return Ok(());
    }
    let join =
        |s: &std::collections::BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
    Err(Error::CurrencyNotInLedger {
        statement: join(&read.currencies),
        ledger: join(&ledger),
        providers: providers.join(", "),
    })
}

/// Runs a reconciliation whose long txn ids are keyed with `hasher`
/// (tests give a weak one to see clashes caught).
async fn run(options: &ReconcileOptions, hasher: udf::IdHasher) -> Result<Summary> {
    let format = statement::format(&options.format)?;
    let providers = provider_scope(options, format.as_ref())?;
    std::fs::create_dir_all(&options.out).map_err(|e| Error::io(&options.out, e))?;

    let multi = MultiProgress::with_draw_target(if options.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let ctx = engine::session();
    udf::register_txn_key(&ctx, hasher);
    let started = std::time::Instant::now();

    // Read both sides at once: the statement on a blocking thread, the
    // ledger through DataFusion (or its own blocking reader).
    let statement_bar = bar(&multi, "statement", true);
    let ledger_bar = bar(&multi, "ledger", true);
    let statement_task = {
        let (path, format_name, format_options, bar) = (
            options.statement.clone(),
            options.format.clone(),
            options.format_options.clone(),
            statement_bar.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let format = statement::format(&format_name)?;
            read_statement(&path, format.as_ref(), &format_options, &bar)
        })
    };
    let ledger_result = ledger::register(&ctx, &options.ledger, &ledger_bar).await;
    let mut read = statement_task
        .await
        .map_err(|e| Error::Invalid(format!("statement reader stopped: {e}")))??;
    ledger_result?;
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        lines = read.lines,
        "inputs read"
    );
    statement_bar.finish();
    ledger_bar.finish();
    let batches = std::mem::take(&mut read.batches);
    rows::register(&ctx, "statement", "statement", statement_schema(), batches)?;
    register_scope(&ctx, &providers).await?;
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        "ledger entries in scope held"
    );
    check_currencies(&ctx, &read, &providers).await?;

    // Classify once, keep the result in memory for the outputs.
    let classifying = bar(&multi, "classifying", false);
    let queries = queries::Queries::new(format.label());
    classify(&ctx, started).await?;
    tracing::info!(ms = started.elapsed().as_millis() as u64, "classified");
    classifying.finish();

    let writing = bar(&multi, "writing", false);
    write_outputs(&ctx, &queries, &options.out).await?;
    tracing::info!(ms = started.elapsed().as_millis() as u64, "outputs written");
    let by_day = collect(&ctx, &queries.by_day()).await?;
    let settlement = collect(&ctx, queries::SETTLEMENT).await?;
    let (days, matched, exceptions) = summary::days(&by_day, &settlement);

    let replay = match &options.replay_missing {
        Some(path) => {
            let missing = collect(&ctx, queries::MISSING_IN_LEDGER).await?;
            Some(replay::write(
                path,
                &missing,
                format.as_ref(),
                &options.format_options,
                Utc::now(),
            )?)
        }
        None => None,
    };
    let bad_lines_path = options.out.join("bad_lines.jsonl");
    if read.bad_lines.is_empty() {
        let _ = std::fs::remove_file(&bad_lines_path);
    } else {
        output::jsonl(&bad_lines_path, &read.bad_lines)?;
    }
    let summary = Summary {
        format: format.name().to_string(),
        providers,
        ledger: options.ledger.display().to_string(),
        statement: options.statement.display().to_string(),
        statement_lines: read.lines,
        not_completed: read.not_completed,
        bad_lines: read.bad_lines.len() as u64,
        matched,
        exceptions,
        days,
        replay,
    };
    output::json(&options.out.join("summary.json"), &summary)?;
    writing.finish();
    Ok(summary)
}

/// Groups both sides by txn key and classifies each key: registers
/// `keyed` (and `duplicates`, with its `dup_{column}(addr)` fetches).
///
/// # Errors
/// [`Error::KeyClash`] when two txn ids share a key (see
/// [`udf::txn_key`]), engine failures.
async fn classify(ctx: &SessionContext, started: std::time::Instant) -> Result<()> {
    let (schema, grouped) = materialize(ctx, queries::GROUPED).await?;
    ctx.register_table("grouped", Arc::new(MemTable::try_new(schema, grouped)?))?;
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        "grouped by txn id"
    );
    refuse_clashes(ctx, queries::KEY_CLASHES).await?;
    // Only presence in `duplicate_key` matters; `duplicate_row` gives the
    // key's row in the `duplicates` table.
    let keys = collect(ctx, queries::DUPLICATE_KEYS).await?;
    udf::register_lookup(ctx, "duplicate_key", key_addresses(&keys)?);
    let (schema, duplicates) = materialize(ctx, queries::DUPLICATES).await?;
    let duplicates: Vec<RecordBatch> = duplicates.into_iter().flatten().collect();
    udf::register_lookup(ctx, "duplicate_row", key_addresses(&duplicates)?);
    rows::register(ctx, "duplicates", "dup", schema, duplicates)?;
    refuse_clashes(ctx, queries::DUPLICATE_CLASHES).await?;
    let (schema, keyed) = materialize(ctx, queries::KEYED).await?;
    ctx.register_table("keyed", Arc::new(MemTable::try_new(schema, keyed)?))?;
    ctx.deregister_table("grouped")?;
    Ok(())
}

/// Fails with [`Error::KeyClash`] when `sql` (a clash query of
/// [`queries`]) finds two ids of one key.
async fn refuse_clashes(ctx: &SessionContext, sql: &str) -> Result<()> {
    match collect(ctx, sql).await?.iter().find(|b| b.num_rows() > 0) {
        Some(clash) => Err(Error::KeyClash(["first_id", "second_id"].map(|column| {
            summary::text_at(&summary::strings(clash, column), 0).unwrap_or_default()
        }))),
        None => Ok(()),
    }
}

/// Each row's `key` with its address in `batches`.
fn key_addresses(batches: &[RecordBatch]) -> Result<Vec<(i128, rows::Address)>> {
    use arrow::array::AsArray;
    let mut out = Vec::new();
    for (batch, b) in batches.iter().enumerate() {
        let keys = b
            .column_by_name("key")
            .and_then(|c| c.as_primitive_opt::<arrow::datatypes::Decimal128Type>())
            .ok_or_else(|| Error::Invalid("a keyed table has no `key` column".into()))?;
        for row in 0..b.num_rows() {
            if keys.is_valid(row) {
                out.push((keys.value(row), rows::address(batch, row)));
            }
        }
    }
    Ok(out)
}

/// Runs `sql` and keeps its result in memory, by partition. The physical
/// plan is built once, logged at debug level and run.
async fn materialize(
    ctx: &SessionContext,
    sql: &str,
) -> Result<(SchemaRef, Vec<Vec<RecordBatch>>)> {
    let frame = ctx.sql(sql).await?;
    let planned = Arc::new(frame.schema().as_arrow().clone());
    let task = Arc::new(frame.task_ctx());
    let plan = frame.create_physical_plan().await?;
    tracing::debug!(
        plan = %datafusion::physical_plan::displayable(plan.as_ref()).indent(true),
        "plan"
    );
    let partitions = datafusion::physical_plan::collect_partitioned(plan, task).await?;
    Ok((
        batch_schema(partitions.iter().flatten(), planned),
        partitions,
    ))
}

/// Holds the ledger entries that take part in memory, as table
/// `ledger_scope` with row addresses and `ledger_{column}(addr)` fetches.
async fn register_scope(ctx: &SessionContext, providers: &[String]) -> Result<()> {
    let (schema, partitions) = materialize(ctx, &queries::ledger_scope(providers)).await?;
    let batches = partitions.into_iter().flatten().collect();
    rows::register(ctx, "ledger_scope", "ledger", schema, batches)
}

/// The schema the batches really have (the executed plan may differ from
/// the logical one in nullability), or `planned` when there are none.
fn batch_schema<'b>(
    mut batches: impl Iterator<Item = &'b RecordBatch>,
    planned: arrow::datatypes::SchemaRef,
) -> arrow::datatypes::SchemaRef {
    batches.next().map_or(planned, RecordBatch::schema)
}

/// `matched.parquet` (written by DataFusion's parallel Parquet sink) and
/// the exceptions as Parquet and CSV.
async fn write_outputs(ctx: &SessionContext, queries: &queries::Queries, out: &Path) -> Result<()> {
    let matched_path = out.join("matched.parquet");
    ctx.sql(&queries.matched())
        .await?
        .write_parquet(
            &matched_path.to_string_lossy(),
            DataFrameWriteOptions::new().with_single_file_output(true),
            Some(output::matched_options(ctx)),
        )
        .await?;
    let exceptions = ctx.sql(&queries.exceptions()).await?;
    let planned = Arc::new(exceptions.schema().as_arrow().clone());
    let batches = exceptions.collect().await?;
    let schema = batch_schema(batches.iter(), planned);
    output::parquet(&out.join("exceptions.parquet"), schema, &batches)?;
    output::csv(&out.join("exceptions.csv"), &batches)?;
    Ok(())
}

#[cfg(test)]
mod tests;
