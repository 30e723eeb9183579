//! The project's labelled data generator: customers, invoices and raw
//! provider callbacks with the noise real operators see, plus the ground
//! truth (`truth.jsonl`) that `paymatch eval` scores a run against.
//!
//! Noise: references with case and punctuation changes, look-alike
//! characters and leading zeros, one-edit typos and transpositions; phone
//! numbers typed as the reference; hashed MSISDNs; payments from a
//! relative's phone under another name; redeliveries (the same callback
//! again, or a Stripe payment seen through `invoice.paid`); failed payments;
//! refunds; unknown payers; malformed callbacks. Deterministic per seed.

mod names;
mod payloads;
mod scenarios;
mod world;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use payloads::Spec;
use scenarios::Gen;
use world::World;

/// How much to generate.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    /// Customers.
    pub customers: usize,
    /// Payment callbacks.
    pub payments: usize,
    /// Random seed: the same seed gives the same files.
    pub seed: u64,
}

/// What the generator expects paymatch to decide for one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expected {
    /// Auto-matched to `customer_id`.
    Matched,
    /// Sent to review.
    Review,
    /// Caught as a redelivery.
    Duplicate,
    /// Failed at the provider.
    Failed,
    /// A refund of an earlier payment.
    Reversal,
    /// Refused as malformed.
    DeadLetter,
}

/// The ground truth of one payments line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// 1-based line in `payments.jsonl`.
    pub line: u64,
    /// The payment id paymatch should compute (none for malformed lines).
    pub payment_id: Option<String>,
    /// The noise scenario.
    pub scenario: String,
    /// The expected outcome.
    pub expected: Expected,
    /// Who really paid (none for unknown payers).
    pub customer_id: Option<String>,
    /// Whether a deterministic signal (exact or normalized reference,
    /// registered phone, Stripe customer) identifies the payer.
    pub deterministic: bool,
    /// Amount paid.
    pub amount: Decimal,
    /// Its currency.
    pub currency: String,
}

/// Counts of what was generated.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GenerateReport {
    /// Customers written.
    pub customers: usize,
    /// Invoices written.
    pub invoices: usize,
    /// Payment lines written.
    pub payments: usize,
    /// Lines per scenario.
    pub scenarios: BTreeMap<String, usize>,
}

/// Scenarios and their weights (per thousand payments).
const SCENARIOS: &[(&str, u32)] = &[
    ("exact_account", 240),
    ("invoice_number", 50),
    ("username", 35),
    ("case_and_punctuation", 45),
    ("lookalike_characters", 40),
    ("typo_with_name", 45),
    ("phone_as_reference", 35),
    ("hashed_msisdn", 55),
    ("stk_push", 60),
    ("mtn_momo", 60),
    ("airtel_money", 50),
    ("stripe", 50),
    ("relative_with_reference", 40),
    ("relative_without_reference", 20),
    ("unknown_payer", 30),
    ("redelivery", 55),
    ("stripe_invoice_redelivery", 15),
    ("failed", 30),
    ("refund", 10),
    ("malformed", 10),
];

/// What was emitted so far, with the lines later scenarios may repeat,
/// kept incrementally so picking one is O(1) at any size.
#[derive(Default)]
struct History {
    emitted: Vec<Emitted>,
    /// Lines a provider could deliver again (matched or reviewed payments).
    redeliverable: Vec<usize>,
    /// Matched Stripe payments not refunded yet.
    stripe_open: Vec<usize>,
}

impl History {
    fn push(&mut self, e: Emitted) {
        let index = self.emitted.len();
        if matches!(e.truth.expected, Expected::Matched | Expected::Review)
            && e.truth.scenario != "malformed"
        {
            self.redeliverable.push(index);
        }
        if e.stripe_pi.is_some() {
            self.stripe_open.push(index);
        }
        self.emitted.push(e);
    }
}

struct Emitted {
    line: String,
    truth: Truth,
    stripe_pi: Option<(String, String)>, // (pi id, customer_id) of a matched Stripe payment
    spec: Spec,
}

/// Writes `customers.jsonl`, `invoices.jsonl`, `payments.jsonl` and
/// `truth.jsonl` into `dir`.
///
/// # Errors
/// The directory or a file cannot be written.
pub fn generate(options: &GenerateOptions, dir: &Path) -> Result<GenerateReport> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let world = World::build(&mut rng, options.customers);
    let mut report = GenerateReport {
        customers: world.customers.len(),
        ..Default::default()
    };
    write_jsonl(
        &dir.join("customers.jsonl"),
        world.customers.iter().map(|p| &p.customer),
    )?;
    let invoices: Vec<_> = world
        .customers
        .iter()
        .flat_map(|p| p.invoices.iter())
        .collect();
    report.invoices = invoices.len();
    write_jsonl(&dir.join("invoices.jsonl"), invoices.into_iter())?;

    let total: u32 = SCENARIOS.iter().map(|s| s.1).sum();
    let start: DateTime<Utc> = "2026-11-01T05:00:00Z".parse().unwrap_or_default();
    let step = 10.0 * 86_400.0 / options.payments.max(1) as f64;
    let mut history = History::default();
    let mut g = Gen {
        rng,
        world,
        serial: 0,
    };
    for i in 0..options.payments {
        let at = start + Duration::milliseconds((i as f64 * step * 1000.0) as i64);
        let mut pick = g.rng.random_range(0..total);
        let mut scenario = SCENARIOS[0].0;
        for (name, w) in SCENARIOS {
            if pick < *w {
                scenario = name;
                break;
            }
            pick -= w;
        }
        let line = (i + 1) as u64;
        let e = g.scenario(scenario, line, at, &mut history);
        *report
            .scenarios
            .entry(e.truth.scenario.clone())
            .or_default() += 1;
        history.push(e);
    }
    let mut payments =
        BufWriter::new(File::create(dir.join("payments.jsonl")).map_err(Error::io(dir))?);
    let emitted = history.emitted;
    for e in &emitted {
        writeln!(payments, "{}", e.line).map_err(Error::io(dir))?;
    }
    payments.flush().map_err(Error::io(dir))?;
    write_jsonl(&dir.join("truth.jsonl"), emitted.iter().map(|e| &e.truth))?;
    report.payments = emitted.len();
    Ok(report)
}

fn write_jsonl<'a, T: Serialize + 'a>(
    path: &Path,
    records: impl Iterator<Item = &'a T>,
) -> Result<()> {
    let mut out = BufWriter::new(File::create(path).map_err(Error::io(path))?);
    for r in records {
        serde_json::to_writer(&mut out, r).map_err(|e| Error::io(path)(e.into()))?;
        out.write_all(b"\n").map_err(Error::io(path))?;
    }
    out.flush().map_err(Error::io(path))
}
