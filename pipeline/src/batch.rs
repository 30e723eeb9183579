//! The batch commands over the ledger: `reconcile`, `snapshot`, `sql` and
//! `generate-statement`. Their work lives in the `reconcile` crate; this
//! module only turns command-line arguments and configuration into its
//! options and prints what came back.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use reconcile::statement::{self, FormatOptions};

use crate::config::Config;

/// `paymatch reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The ledger: ledger.jsonl, .csv, .parquet, or a `paymatch snapshot` directory.
    #[arg(long)]
    pub ledger: PathBuf,
    /// The provider's statement (CSV).
    #[arg(long)]
    pub statement: PathBuf,
    /// The statement's format: generic, mpesa or stripe.
    #[arg(long)]
    pub format: String,
    /// Output directory: matched.parquet, exceptions.parquet, exceptions.csv, summary.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Ledger providers the statement covers (default: mpesa → mpesa_c2b,mpesa_stk;
    /// stripe → stripe; generic → generic,mtn_momo,airtel_money).
    #[arg(long, value_delimiter = ',')]
    pub provider: Option<Vec<String>>,
    /// The paybill or till number, written into replayed M-Pesa callbacks.
    #[arg(long)]
    pub shortcode: Option<String>,
    /// Write every `missing_in_ledger` line as a payment envelope to this
    /// JSONL file, for `paymatch match` (lost callbacks come back).
    #[arg(long)]
    pub replay_missing: Option<PathBuf>,
}

/// `paymatch generate-statement`.
#[derive(Debug, Args)]
pub struct GenerateStatementArgs {
    /// The ledger (JSONL) the provider's statement should agree with.
    #[arg(long)]
    pub ledger: PathBuf,
    /// Statement format: generic, mpesa or stripe.
    #[arg(long)]
    pub format: String,
    /// The statement to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write a copy of the ledger (with injected duplicate entries).
    #[arg(long)]
    pub ledger_out: Option<PathBuf>,
    /// Write the injected exceptions (JSONL `{kind, txn_id}`) here.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Chance per payment of each exception kind (0 = a clean statement).
    #[arg(long, default_value_t = 0.0)]
    pub inject_rate: f64,
    /// Random seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Ledger providers to print (default: the format's own).
    #[arg(long, value_delimiter = ',')]
    pub provider: Option<Vec<String>>,
}

/// How `paymatch sql` prints.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SqlFormat {
    /// A text table.
    Table,
    /// CSV with a header.
    Csv,
    /// One JSON object per line.
    Json,
}

fn format_options(config: &Config, format: &str, shortcode: Option<String>) -> FormatOptions {
    FormatOptions {
        time_zone: config.providers.time_zone.0,
        currency: (format == "mpesa").then_some(config.providers.mpesa_currency),
        shortcode,
    }
}

/// Runs `paymatch reconcile`: prints the summary as JSON.
///
/// # Errors
/// What the reconciliation reports.
pub fn reconcile(args: ReconcileArgs, config: &Config, progress: bool) -> Result<()> {
    let options = reconcile::ReconcileOptions {
        format_options: format_options(config, &args.format, args.shortcode),
        ledger: args.ledger,
        statement: args.statement,
        format: args.format,
        out: args.out,
        providers: args.provider,
        replay_missing: args.replay_missing,
        progress,
    };
    let summary = reconcile::reconcile(&options).context("reconciling")?;
    if summary.bad_lines > 0 {
        tracing::warn!(
            bad_lines = summary.bad_lines,
            "statement lines could not be read: see bad_lines.jsonl"
        );
    }
    crate::say!("{}", serde_json::to_string_pretty(&summary)?)?;
    Ok(())
}

/// Runs `paymatch snapshot`.
///
/// # Errors
/// What the snapshot reports.
pub fn snapshot(ledger: PathBuf, out: PathBuf, progress: bool) -> Result<()> {
    let summary = reconcile::snapshot::snapshot(&ledger, &out, progress).context("snapshot")?;
    crate::say!("{}", serde_json::to_string_pretty(&summary)?)?;
    Ok(())
}

/// Runs `paymatch sql`.
///
/// # Errors
/// A missing directory or a failing query.
pub fn sql(dir: PathBuf, query: String, format: SqlFormat) -> Result<()> {
    let format = match format {
        SqlFormat::Table => reconcile::sql::OutputFormat::Table,
        SqlFormat::Csv => reconcile::sql::OutputFormat::Csv,
        SqlFormat::Json => reconcile::sql::OutputFormat::Json,
    };
    let stdout = std::io::stdout();
    reconcile::sql::run(&dir, &query, format, &mut stdout.lock())?;
    Ok(())
}

/// Runs `paymatch generate-statement`.
///
/// # Errors
/// A missing ledger, an unknown format, I/O errors.
pub fn generate_statement(args: GenerateStatementArgs, config: &Config) -> Result<()> {
    let format = statement::format(&args.format)?;
    let options = reconcile::generate::StatementGeneration {
        inject_rate: args.inject_rate,
        seed: args.seed,
        providers: args.provider,
        format_options: format_options(config, &args.format, None),
    };
    let expected = reconcile::generate::statement_from_ledger(
        &args.ledger,
        format.as_ref(),
        &args.out,
        args.ledger_out.as_deref(),
        &options,
    )?;
    if let Some(path) = &args.truth {
        let mut text = String::new();
        for e in &expected {
            text.push_str(&serde_json::to_string(e)?);
            text.push('\n');
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    crate::say!(
        "wrote {} with {} injected exceptions",
        args.out.display(),
        expected.len()
    )?;
    Ok(())
}
