//! Data for the reconciliation benchmark (not a test): N ledger payments
//! as Parquet (`ledger.parquet`, the shape `paymatch snapshot` writes) and
//! the generic statement a bank would print for them (`statement.csv`),
//! with exceptions injected, and their truth (`truth.jsonl`).
//!
//! `cargo run --release -p benches --bin recon_data -- --entries 10000000 --out /tmp/recon`

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use clap::Parser;
use model::{Currency, LedgerKind};
use parquet::arrow::ArrowWriter;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reconcile::generate::{line_for, Injection, Injector, StatementWriter};
use reconcile::ledger::LedgerBatches;
use reconcile::schema::ledger_schema;
use reconcile::statement::{self, FormatOptions};
use rust_decimal::Decimal;

/// Reconciliation benchmark data.
#[derive(Parser)]
struct Args {
    /// Ledger payments (the statement has about as many lines).
    #[arg(long, default_value_t = 1_000_000)]
    entries: u64,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Chance per payment of each exception kind.
    #[arg(long, default_value_t = 0.001)]
    rate: f64,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    let format = statement::format("generic")?;
    let mut statement = StatementWriter::create(
        &args.out.join("statement.csv"),
        format.as_ref(),
        FormatOptions::default(),
    )?;
    let ledger_path = args.out.join("ledger.parquet");
    let mut ledger = ArrowWriter::try_new(
        File::create(&ledger_path).with_context(|| ledger_path.display().to_string())?,
        ledger_schema(),
        Some(reconcile::job::writer_properties()),
    )?;
    let mut injector = Injector::new(args.seed, args.rate, true, true);
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed + 1);
    let kes = Currency::parse("KES")?;
    let start: DateTime<Utc> = "2026-11-01T00:00:00Z".parse()?;
    let mut expected = Vec::new();
    let mut batch = LedgerBatches::default();
    let mut pending = 0;
    for i in 0..args.entries {
        let txn_id = format!("T{i:010}");
        let payment_id = format!("generic:{txn_id}");
        let customer = format!("C{:07}", rng.random_range(0..1_000_000));
        let amount = Decimal::new(rng.random_range(1_000..1_000_000), 2);
        let at = start + Duration::seconds(rng.random_range(0..30 * 86_400));
        let injection = injector.pick();
        let copies = if injection == Injection::TwiceInLedger {
            2
        } else {
            1
        };
        for _ in 0..copies {
            batch
                .push(
                    &format!("payment:{payment_id}"),
                    &customer,
                    &payment_id,
                    None,
                    "payment",
                    amount,
                    "KES",
                    at,
                )
                .map_err(anyhow::Error::msg)?;
            pending += 1;
        }
        let line = line_for(
            "generic",
            &txn_id,
            LedgerKind::Payment,
            amount,
            kes,
            at,
            &customer,
        );
        injector.print(&mut statement, line, injection, &mut expected)?;
        if pending >= 1 << 20 {
            for b in std::mem::take(&mut batch).finish() {
                ledger.write(&b)?;
            }
            pending = 0;
        }
    }
    for b in batch.finish() {
        ledger.write(&b)?;
    }
    ledger.close()?;
    statement.finish()?;
    expected.sort();
    let mut truth = BufWriter::new(File::create(args.out.join("truth.jsonl"))?);
    for e in &expected {
        serde_json::to_writer(&mut truth, e)?;
        truth.write_all(b"\n")?;
    }
    truth.flush()?;
    println!(
        "{} ledger payments, {} injected exceptions, in {}",
        args.entries,
        expected.len(),
        args.out.display()
    );
    Ok(())
}
