//! `paymatch demo`: generate a realistic data set, run `match` on it, score
//! it against the ground truth, and print what happened in a few lines.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::embedded::{run_match, MatchFiles, Summary};
use crate::error::Result;
use crate::eval::{self, Scores};
use crate::generator::{self, GenerateOptions, GenerateReport};
use model::Outcome;

/// What the demo did.
pub struct DemoReport {
    /// The generated data.
    pub data: GenerateReport,
    /// The match run.
    pub summary: Summary,
    /// Its scores.
    pub scores: Scores,
    /// Where the inputs are.
    pub data_dir: PathBuf,
    /// Where the outputs are.
    pub run_dir: PathBuf,
}

/// Runs the demo in `dir` (`dir/data`, `dir/run`).
///
/// # Errors
/// As generation and `match`.
pub fn run(
    dir: &Path,
    options: &GenerateOptions,
    config: &Config,
    progress: bool,
) -> Result<DemoReport> {
    let data_dir = dir.join("data");
    let run_dir = dir.join("run");
    let data = generator::generate(options, &data_dir)?;
    let files = MatchFiles {
        customers: data_dir.join("customers.jsonl"),
        invoices: Some(data_dir.join("invoices.jsonl")),
        payments: data_dir.join("payments.jsonl"),
        out: run_dir.clone(),
        state: None,
    };
    let summary = run_match(&files, config, progress)?;
    let scores = eval::evaluate(&data_dir, &run_dir)?;
    Ok(DemoReport {
        data,
        summary,
        scores,
        data_dir,
        run_dir,
    })
}

/// The few lines a person reads.
pub fn render(r: &DemoReport) -> String {
    let s = &r.summary;
    let applied: Vec<String> = s
        .amount_applied
        .iter()
        .map(|(c, a)| format!("{a} {c}"))
        .collect();
    format!(
        "paymatch demo: {customers} customers, {invoices} invoices, {payments} payment callbacks from 6 providers\n\
         \n  matched automatically   {matched:>7}   ({applied})\
         \n  sent to review          {review:>7}\
         \n  duplicates caught       {duplicate:>7}\
         \n  failed at provider      {failed:>7}\
         \n  refunds (reversals)     {reversal:>7}\
         \n  dead-lettered           {dlq:>7}\
         \n  restore commands        {restores:>7}\
         \n  ledger entries          {ledger:>7}\
         \n\n  {rate:.0} payments/s (index {index:.2}s, match {matching:.2}s)\
         \n\nquality against the generator's ground truth:\n{scores}\
         \n\ninputs:  {data}\noutputs: {run}",
        customers = r.data.customers,
        invoices = r.data.invoices,
        payments = r.data.payments,
        matched = s.count(Outcome::Matched),
        applied = applied.join(", "),
        review = s.count(Outcome::Review),
        duplicate = s.count(Outcome::Duplicate),
        failed = s.count(Outcome::Failed),
        reversal = s.count(Outcome::Reversal),
        dlq = s.dead_letters,
        restores = s.restore_commands,
        ledger = s.ledger_entries,
        rate = s.payments_per_second,
        index = s.index_seconds,
        matching = s.match_seconds,
        scores = eval::render(&r.scores).lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n"),
        data = r.data_dir.display(),
        run = r.run_dir.display(),
    )
}
