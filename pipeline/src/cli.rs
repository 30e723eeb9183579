//! The `paymatch` command line (clap). Each subcommand parses its
//! arguments, loads the configuration and calls into the library.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::embedded::{self, MatchFiles};
use crate::generator::{self, GenerateOptions};
use crate::{batch, demo, eval};

/// Stream payment matching, service restore and reconciliation for ISPs.
#[derive(Debug, Parser)]
#[command(name = "paymatch", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML); `PAYMATCH_SECTION__KEY` variables override it.
    #[arg(long, global = true, env = "PAYMATCH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "PAYMATCH_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    /// No progress bars.
    #[arg(long, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Match payment callbacks from files (embedded mode, no broker).
    ///
    /// Writes DIR/decisions.jsonl, DIR/access_commands.jsonl, DIR/ledger.jsonl,
    /// DIR/dlq.jsonl and DIR/summary.json.
    Match {
        /// Customers, JSONL.
        #[arg(long)]
        customers: PathBuf,
        /// Invoices, JSONL.
        #[arg(long)]
        invoices: Option<PathBuf>,
        /// Payment envelopes, JSONL.
        #[arg(long)]
        payments: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Keep the index, dedupe and balances in this directory between
        /// runs (redeliveries across runs are then caught). Default: a
        /// temporary directory.
        #[arg(long)]
        state: Option<PathBuf>,
    },
    /// Generate a data set, match it, and print what happened.
    Demo {
        /// Working directory.
        #[arg(long, default_value = "out/demo")]
        dir: PathBuf,
        /// What to generate.
        #[command(flatten)]
        data: DataArgs,
    },
    /// Generate a labelled data set (customers, invoices, payments, truth).
    Generate {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// What to generate.
        #[command(flatten)]
        data: DataArgs,
    },
    /// Score a match run against a generated data set's ground truth.
    Eval {
        /// The generated data set (with truth.jsonl).
        #[arg(long)]
        data: PathBuf,
        /// The match output directory.
        #[arg(long)]
        run: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write the JSON Schema of every contract record.
    Schemas {
        /// Output directory.
        #[arg(long, default_value = "docs/schemas")]
        out: PathBuf,
    },
    /// List the provider adapters.
    Providers,
    /// Reconcile the ledger against a provider statement (DataFusion).
    ///
    /// Writes DIR/matched.parquet, DIR/exceptions.parquet (+ .csv) and
    /// DIR/summary.json; DIR/bad_lines.jsonl when statement lines could not
    /// be read.
    Reconcile(batch::ReconcileArgs),
    /// Write the ledger as Parquet partitioned by day (DIR/day=YYYY-MM-DD/).
    Snapshot {
        /// The ledger: ledger.jsonl or .csv.
        #[arg(long)]
        ledger: PathBuf,
        /// Snapshot directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// SQL over every Parquet file of a directory, one table per file name.
    Sql {
        /// The directory (a reconcile output, a snapshot's parent, …).
        #[arg(long)]
        dir: PathBuf,
        /// The query.
        query: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: batch::SqlFormat,
    },
    /// Write the statement a provider would print for a ledger, with
    /// exceptions injected and their truth (tests, demos, benchmarks).
    GenerateStatement(batch::GenerateStatementArgs),
    /// Run the streaming service on Kafka (stage 1 + stage 2, exactly once).
    ///
    /// Reads `paymatch.payments.raw`, the compacted `paymatch.customers`
    /// and `paymatch.invoices`; writes decisions, review, dead letters,
    /// ledger and access commands. Settings: the `[kafka]` and `[service]`
    /// sections of the configuration. Stops cleanly on SIGTERM / SIGINT.
    Run,
    /// Load a JSONL file into its Kafka topic.
    Publish {
        /// What the file holds.
        #[arg(value_enum)]
        kind: crate::kafka::publish::Kind,
        /// The JSONL file.
        file: PathBuf,
    },
    /// Manage the Kafka topics paymatch uses.
    Topics {
        /// What to do.
        #[arg(value_enum)]
        action: TopicsAction,
    },
}

/// `paymatch topics` actions.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TopicsAction {
    /// Create every missing topic (partitions and replication from `[kafka]`).
    Create,
    /// Check that every topic exists; exit non-zero naming the missing ones.
    Check,
    /// List the topic names with how each is kept.
    List,
}

/// The generator's size and seed, shared by `demo` and `generate`.
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// Customers to generate.
    #[arg(long, default_value_t = 5_000)]
    pub customers: usize,
    /// Payment callbacks to generate.
    #[arg(long, default_value_t = 20_000)]
    pub payments: usize,
    /// Random seed: the same seed gives the same files.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

impl From<DataArgs> for GenerateOptions {
    fn from(a: DataArgs) -> Self {
        GenerateOptions {
            customers: a.customers,
            payments: a.payments,
            seed: a.seed,
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PAYMATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Runs the command line.
///
/// # Errors
/// Whatever the subcommand reports, with context.
pub fn run(cli: Cli) -> Result<()> {
    init_logging(cli.log_format);
    let config =
        Config::load(cli.config.as_deref(), std::env::vars()).context("loading configuration")?;
    let progress = !cli.quiet;
    match cli.command {
        Command::Match {
            customers,
            invoices,
            payments,
            out,
            state,
        } => {
            let files = MatchFiles {
                customers,
                invoices,
                payments,
                out,
                state,
            };
            let summary = embedded::run_match(&files, &config, progress)?;
            crate::say!("{}", serde_json::to_string_pretty(&summary)?)?;
        }
        Command::Demo { dir, data } => {
            let report = demo::run(&dir, &data.into(), &config, progress)?;
            crate::say!("{}", demo::render(&report))?;
        }
        Command::Generate { out, data } => {
            let report = generator::generate(&data.into(), &out)?;
            crate::say!("{}", serde_json::to_string_pretty(&report)?)?;
        }
        Command::Eval { data, run, json } => {
            let scores = eval::evaluate(&data, &run)?;
            if json {
                crate::say!("{}", serde_json::to_string_pretty(&scores)?)?;
            } else {
                crate::say!("{}", eval::render(&scores))?;
            }
        }
        Command::Schemas { out } => {
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            for (name, schema) in model::schema::all() {
                let path = out.join(format!("{name}.schema.json"));
                std::fs::write(&path, serde_json::to_string_pretty(&schema)? + "\n")
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            crate::say!(
                "wrote {} schemas to {}",
                model::schema::all().len(),
                out.display()
            )?;
        }
        Command::Reconcile(args) => batch::reconcile(args, &config, progress)?,
        Command::Snapshot { ledger, out } => batch::snapshot(ledger, out, progress)?,
        Command::Sql { dir, query, format } => batch::sql(dir, query, format)?,
        Command::GenerateStatement(args) => batch::generate_statement(args, &config)?,
        Command::Run => crate::kafka::run::run(&config)?,
        Command::Publish { kind, file } => {
            let done =
                crate::kafka::publish::publish(&config.kafka, &config.providers, kind, &file)
                    .with_context(|| format!("publishing {}", file.display()))?;
            crate::say!("{}", serde_json::to_string_pretty(&done)?)?;
        }
        Command::Topics { action } => {
            let topics = crate::kafka::Topics::new(&config.kafka.topic_prefix);
            match action {
                TopicsAction::Create => {
                    let created = crate::kafka::topics::create(&config.kafka, &topics)?;
                    crate::kafka::topics::check(&config.kafka, &topics)?;
                    crate::say!(
                        "created {} topics ({} existed already)",
                        created.len(),
                        topics.all().len() - created.len()
                    )?;
                }
                TopicsAction::Check => {
                    crate::kafka::topics::check(&config.kafka, &topics)?;
                    crate::say!("all {} topics exist", topics.all().len())?;
                }
                TopicsAction::List => {
                    for (name, retention) in topics.all() {
                        crate::say!("{name}\t{retention:?}")?;
                    }
                }
            }
        }
        Command::Providers => {
            for name in crate::providers::Providers::default().names() {
                crate::say!("{name}")?;
            }
        }
    }
    Ok(())
}
