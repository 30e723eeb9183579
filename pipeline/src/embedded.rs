//! The embedded mode: `paymatch match` over JSONL files, no broker.
//!
//! Customers and invoices are loaded into the index, then each payment line
//! goes through stage 1 and stage 2 in order — the same code the Kafka mode
//! runs — and the results are written as the contract's files:
//! `decisions.jsonl`, `access_commands.jsonl`, `ledger.jsonl`, `dlq.jsonl`,
//! `summary.json`. Customer and invoice lines that do not parse are listed
//! in `rejected_records.jsonl` (they are not payments, so not dead letters).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use matchers::CustomerIndex;
use model::encode::WriteJson;
use model::{Customer, Invoice, Outcome};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::dedupe::Source;
use crate::error::{Error, Result};
use crate::stages::{Routed, Stage1, Stage2, READ_AHEAD_BATCH};

/// The files of one `paymatch match` run.
#[derive(Clone, Debug)]
pub struct MatchFiles {
    /// Customers JSONL.
    pub customers: PathBuf,
    /// Invoices JSONL (optional).
    pub invoices: Option<PathBuf>,
    /// Payment envelopes JSONL.
    pub payments: PathBuf,
    /// Output directory.
    pub out: PathBuf,
    /// State directory kept between runs; temporary when `None`.
    pub state: Option<PathBuf>,
}

/// `summary.json`: what a run did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Customers loaded into the index.
    pub customers_indexed: u64,
    /// Invoices loaded into the index.
    pub invoices_indexed: u64,
    /// Customer or invoice lines refused (see `rejected_records.jsonl`).
    pub records_rejected: u64,
    /// Payment lines read (blank lines are not counted).
    pub payments_read: u64,
    /// Decisions written, by outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Decisions by provider and outcome.
    pub by_provider: BTreeMap<String, BTreeMap<String, u64>>,
    /// Inputs dead-lettered.
    pub dead_letters: u64,
    /// Dead letters by error kind.
    pub dead_letters_by_kind: BTreeMap<String, u64>,
    /// Restore commands issued.
    pub restore_commands: u64,
    /// Ledger entries written.
    pub ledger_entries: u64,
    /// Money applied to customers (matched payments), by currency.
    pub amount_applied: BTreeMap<String, Decimal>,
    /// Seconds spent loading the index.
    pub index_seconds: f64,
    /// Seconds spent on payments.
    pub match_seconds: f64,
    /// Payments per second through both stages.
    pub payments_per_second: f64,
}

impl Summary {
    /// Decisions of one outcome.
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.outcomes.get(outcome.as_str()).copied().unwrap_or(0)
    }
}

/// One JSONL output file.
struct JsonlWriter {
    path: PathBuf,
    out: BufWriter<File>,
    /// A line written by its record's own writer ([`JsonlWriter::write_encoded`]).
    line: Vec<u8>,
}

impl JsonlWriter {
    fn create(dir: &Path, name: &str) -> Result<Self> {
        let path = dir.join(name);
        let file = File::create(&path).map_err(Error::io(&path))?;
        Ok(JsonlWriter {
            out: BufWriter::with_capacity(1 << 20, file),
            path,
            line: Vec::with_capacity(1024),
        })
    }

    fn write<T: Serialize>(&mut self, record: &T) -> Result<()> {
        serde_json::to_writer(&mut self.out, record)
            .map_err(|e| Error::io(&self.path)(e.into()))?;
        self.out.write_all(b"\n").map_err(Error::io(&self.path))
    }

    /// [`JsonlWriter::write`] for the records written for every payment
    /// (decisions, ledger entries): the same bytes, by `model::encode`.
    fn write_encoded(&mut self, record: &impl WriteJson) -> Result<()> {
        self.line.clear();
        record.write_json(&mut self.line);
        self.line.push(b'\n');
        self.out
            .write_all(&self.line)
            .map_err(Error::io(&self.path))
    }

    fn finish(mut self) -> Result<()> {
        self.out.flush().map_err(Error::io(&self.path))
    }
}

fn progress(len: u64, what: &str, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template(
        "{msg:>10} [{bar:40}] {human_pos}/{human_len} {per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

/// Reads a JSONL file line by line: (1-based line number, text). Blank
/// lines are skipped; invalid UTF-8 is replaced, never fatal.
fn for_each_line(
    path: &Path,
    bar: &ProgressBar,
    mut f: impl FnMut(usize, &str) -> Result<()>,
) -> Result<()> {
    let file = File::open(path).map_err(Error::io(path))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(Error::io(path))?;
        if n == 0 {
            return Ok(());
        }
        bar.inc(n as u64);
        line_no += 1;
        let text = model::envelope::input_text(&buf);
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        f(line_no, text)?;
    }
}

/// A file's size, the progress bar's length (progress is measured in bytes
/// read, so no pass over the file is needed first).
fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[derive(Serialize)]
struct Rejected<'a> {
    file: String,
    line: usize,
    error: String,
    input: &'a str,
}

/// Loads customers and invoices into the index, committing in batches.
fn load_records<T: serde::de::DeserializeOwned>(
    index: &CustomerIndex,
    path: &Path,
    rejected: &mut JsonlWriter,
    show: bool,
    mut stage: impl FnMut(&mut matchers::index::IndexWriter<'_>, T) -> matchers::Result<()>,
) -> Result<(u64, u64)> {
    let bar = progress(file_len(path), "index", show);
    let (mut loaded, mut refused) = (0u64, 0u64);
    let mut writer = index.writer();
    for_each_line(path, &bar, |line, text| {
        match serde_json::from_str::<T>(text) {
            Ok(record) => {
                stage(&mut writer, record)?;
                loaded += 1;
            }
            Err(e) => {
                refused += 1;
                tracing::warn!(file = %path.display(), line, error = %e, "record refused");
                rejected.write(&Rejected {
                    file: path.display().to_string(),
                    line,
                    error: e.to_string(),
                    input: text,
                })?;
            }
        }
        if writer.pending() >= 50_000 {
            std::mem::replace(&mut writer, index.writer()).commit()?;
        }
        Ok(())
    })?;
    writer.commit()?;
    bar.finish_and_clear();
    Ok((loaded, refused))
}

/// The four output files of `paymatch match`.
struct Outputs {
    decisions: JsonlWriter,
    commands: JsonlWriter,
    ledger: JsonlWriter,
    dlq: JsonlWriter,
}

impl Outputs {
    fn create(dir: &Path) -> Result<Self> {
        Ok(Outputs {
            decisions: JsonlWriter::create(dir, "decisions.jsonl")?,
            commands: JsonlWriter::create(dir, "access_commands.jsonl")?,
            ledger: JsonlWriter::create(dir, "ledger.jsonl")?,
            dlq: JsonlWriter::create(dir, "dlq.jsonl")?,
        })
    }

    /// Writes what stage 1 routed (a decision goes through stage 2
    /// first) and counts it in the summary.
    fn route(
        &mut self,
        routed: Routed,
        stage2: &mut Stage2,
        summary: &mut Summary,
        now: chrono::DateTime<Utc>,
    ) -> Result<()> {
        match routed {
            Routed::DeadLetter(letter) => {
                summary.dead_letters += 1;
                *summary
                    .dead_letters_by_kind
                    .entry(letter.error_kind.clone().unwrap_or_default())
                    .or_default() += 1;
                self.dlq.write(&letter)
            }
            Routed::Decided { mut decision, .. } => {
                let applied = stage2.apply(&(&decision).into(), now)?;
                decision.allocations = applied.allocations;
                if decision.outcome == Outcome::Matched {
                    *summary
                        .amount_applied
                        .entry(decision.currency.to_string())
                        .or_default() += decision.amount;
                }
                let outcome = decision.outcome.as_str().to_string();
                *summary.outcomes.entry(outcome.clone()).or_default() += 1;
                *summary
                    .by_provider
                    .entry(decision.provider.to_string())
                    .or_default()
                    .entry(outcome)
                    .or_default() += 1;
                self.decisions.write_encoded(&decision)?;
                for c in &applied.commands {
                    self.commands.write(c)?;
                }
                for e in &applied.ledger {
                    self.ledger.write_encoded(e)?;
                }
                summary.restore_commands += applied.commands.len() as u64;
                summary.ledger_entries += applied.ledger.len() as u64;
                Ok(())
            }
        }
    }

    fn finish(self) -> Result<()> {
        for w in [self.decisions, self.commands, self.ledger, self.dlq] {
            w.finish()?;
        }
        Ok(())
    }
}

/// Payments between state commits.
const COMMIT_EVERY: u64 = 4096;

/// Runs `paymatch match`.
///
/// # Errors
/// A missing or unreadable input, an unwritable output directory, or a
/// storage failure. Bad payment lines are not errors: they are dead letters.
pub fn run_match(files: &MatchFiles, config: &Config, show_progress: bool) -> Result<Summary> {
    std::fs::create_dir_all(&files.out).map_err(Error::io(&files.out))?;
    for input in [
        Some(&files.customers),
        files.invoices.as_ref(),
        Some(&files.payments),
    ]
    .into_iter()
    .flatten()
    {
        if !input.is_file() {
            return Err(Error::io(input)(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "input file not found",
            )));
        }
    }
    let opened = crate::store::open(files.state.clone(), config)?;
    let index = crate::store::index(opened.store.clone(), config);
    let mut summary = Summary::default();
    let mut rejected = JsonlWriter::create(&files.out, "rejected_records.jsonl")?;

    let started = Instant::now();
    let (n, r) = load_records::<Customer>(
        &index,
        &files.customers,
        &mut rejected,
        show_progress,
        |w, c| w.upsert_customer(c),
    )?;
    summary.customers_indexed = n;
    summary.records_rejected += r;
    if let Some(invoices) = &files.invoices {
        let (n, r) =
            load_records::<Invoice>(&index, invoices, &mut rejected, show_progress, |w, i| {
                w.upsert_invoice(i)
            })?;
        summary.invoices_indexed = n;
        summary.records_rejected += r;
    }
    rejected.finish()?;
    index.compact()?;
    let held = index.warm()?;
    tracing::info!(held, "index warmed into memory");
    summary.index_seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        customers = summary.customers_indexed,
        invoices = summary.invoices_indexed,
        seconds = summary.index_seconds,
        "index loaded"
    );

    let mut outputs = Outputs::create(&files.out)?;
    let mut stage1 = Stage1::new(
        index.clone(),
        config.providers.clone(),
        config.matching.clone(),
    )?
    .with_dedupe_memory_mb(config.store.dedupe_memory_mb);
    let mut stage2 = Stage2::new(index.clone(), config.access.clone());
    let bar = progress(file_len(&files.payments), "payments", show_progress);
    let started = Instant::now();
    // Stage 1 takes the payments a batch at a time, so it can read their
    // first index lookups ahead together (`Stage1::process_batch`); the
    // decisions, and stage 2 after them, stay in input order.
    let mut run_batch = |pending: &mut Vec<String>| -> Result<()> {
        let now = Utc::now();
        let inputs: Vec<(&str, Option<Source>)> =
            pending.iter().map(|line| (line.as_str(), None)).collect();
        for routed in stage1.process_batch(&inputs, now)? {
            summary.payments_read += 1;
            outputs.route(routed, &mut stage2, &mut summary, now)?;
            if summary.payments_read % COMMIT_EVERY == 0 {
                stage1.flush()?;
                stage2.flush()?;
            }
        }
        pending.clear();
        Ok(())
    };
    let mut pending = Vec::with_capacity(READ_AHEAD_BATCH);
    for_each_line(&files.payments, &bar, |_, text| {
        pending.push(text.to_string());
        if pending.len() == READ_AHEAD_BATCH {
            run_batch(&mut pending)?;
        }
        Ok(())
    })?;
    run_batch(&mut pending)?;
    stage1.flush()?;
    stage2.flush()?;
    bar.finish_and_clear();
    outputs.finish()?;
    opened.store.flush()?;
    summary.match_seconds = started.elapsed().as_secs_f64();
    summary.payments_per_second = if summary.match_seconds > 0.0 {
        (summary.payments_read as f64 / summary.match_seconds).round()
    } else {
        0.0
    };
    let path = files.out.join("summary.json");
    let text = serde_json::to_string_pretty(&summary).unwrap_or_default();
    std::fs::write(&path, text + "\n").map_err(Error::io(&path))?;
    Ok(summary)
}
