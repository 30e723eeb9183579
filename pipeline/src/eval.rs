//! Scores a `paymatch match` run against the generator's ground truth:
//! auto-match precision, recall on payments a deterministic signal
//! identifies, unknown payers wrongly matched, redeliveries caught, and
//! restore precision and recall. `docs/BENCHMARKS.md` reports these.
//!
//! Restores are judged by (customer, service): the ideal set is every
//! suspended customer whose correctly attributable payments cover what
//! they owed; paymatch's set is the restore commands it issued.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use model::{AccessCommand, Customer, CustomerStatus, Decision, Invoice, InvoiceStatus, Outcome};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::generator::{Expected, Truth};

/// A ratio with its parts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// Numerator.
    pub hits: u64,
    /// Denominator.
    pub of: u64,
    /// `hits / of` as a percentage (100 when `of` is 0).
    pub percent: f64,
}

impl Ratio {
    fn new(hits: u64, of: u64) -> Ratio {
        let percent = if of == 0 {
            100.0
        } else {
            (hits as f64 * 10_000.0 / of as f64).round() / 100.0
        };
        Ratio { hits, of, percent }
    }
}

/// The scores of one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Auto-matched payments that went to the right customer.
    pub auto_match_precision: Ratio,
    /// Payments a deterministic signal identifies, auto-matched correctly.
    pub recall_deterministic: Ratio,
    /// Typo'd references confirmed by name, auto-matched correctly.
    pub recall_fuzzy: Ratio,
    /// Reviews of a known payer where the reviewer's first candidate is
    /// the payer: how much a person's work the review queue saves.
    pub review_first_candidate_right: Ratio,
    /// Payments from non-customers that were auto-matched (should be 0).
    pub unknown_payers_matched: u64,
    /// Redeliveries decided `duplicate`.
    pub redeliveries_caught: Ratio,
    /// Failed payments decided `failed`.
    pub failures_recognised: Ratio,
    /// Refunds decided `reversal` against the right customer.
    pub reversals_recognised: Ratio,
    /// Malformed inputs dead-lettered.
    pub malformed_dead_lettered: Ratio,
    /// Payments with no decision and no dead letter (should be 0).
    pub lost: u64,
    /// Restore commands for a customer that should be restored.
    pub restore_precision: Ratio,
    /// Customers that should be restored, restored.
    pub restore_recall: Ratio,
    /// Restore commands issued more than once (should be 0).
    pub restores_repeated: u64,
    /// Decisions per expected and actual outcome.
    pub confusion: BTreeMap<String, BTreeMap<String, u64>>,
    /// Wrong auto-matches by scenario (empty is good).
    pub wrong_matches_by_scenario: BTreeMap<String, u64>,
}

fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let file = File::open(path).map_err(Error::io(path))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(Error::io(path))?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line).map_err(|e| Error::BadRecord {
            path: path.to_path_buf(),
            line: i + 1,
            detail: e.to_string(),
        })?;
        out.push(record);
    }
    Ok(out)
}

/// Scores the run in `run_dir` against the data set in `data_dir`.
///
/// # Errors
/// A missing or malformed file.
pub fn evaluate(data_dir: &Path, run_dir: &Path) -> Result<Scores> {
    let truth: Vec<Truth> = read_jsonl(&data_dir.join("truth.jsonl"))?;
    let customers: Vec<Customer> = read_jsonl(&data_dir.join("customers.jsonl"))?;
    let invoices: Vec<Invoice> = read_jsonl(&data_dir.join("invoices.jsonl"))?;
    let decisions: Vec<Decision> = read_jsonl(&run_dir.join("decisions.jsonl"))?;
    let commands: Vec<AccessCommand> = read_jsonl(&run_dir.join("access_commands.jsonl"))?;
    let dead_letters = read_jsonl::<serde_json::Value>(&run_dir.join("dlq.jsonl"))?.len() as u64;

    let mut by_id: HashMap<&str, VecDeque<&Decision>> = HashMap::new();
    for d in &decisions {
        by_id.entry(d.payment_id.as_str()).or_default().push_back(d);
    }
    let mut s = Scores::default();
    let (mut matched, mut matched_right) = (0u64, 0u64);
    let mut counters: HashMap<&str, (u64, u64)> = HashMap::new();
    let mut paid: HashMap<String, Decimal> = HashMap::new();
    let mut expected_dead = 0u64;
    for t in &truth {
        if t.expected == Expected::DeadLetter {
            expected_dead += 1;
            continue;
        }
        let decision = t
            .payment_id
            .as_deref()
            .and_then(|id| by_id.get_mut(id))
            .and_then(VecDeque::pop_front);
        let actual = decision.map_or("dead_letter_or_lost", |d| d.outcome.as_str());
        *s.confusion
            .entry(format!("{:?}", t.expected).to_lowercase())
            .or_default()
            .entry(actual.to_string())
            .or_default() += 1;
        let Some(d) = decision else {
            s.lost += 1;
            continue;
        };
        let right = d.customer_id.is_some() && d.customer_id == t.customer_id;
        if d.outcome == Outcome::Matched {
            matched += 1;
            if right {
                matched_right += 1;
            } else {
                *s.wrong_matches_by_scenario
                    .entry(t.scenario.clone())
                    .or_default() += 1;
            }
            if t.customer_id.is_none() {
                s.unknown_payers_matched += 1;
            }
        }
        let bucket = match t.expected {
            Expected::Matched if t.deterministic => {
                Some(("deterministic", d.outcome == Outcome::Matched && right))
            }
            Expected::Matched => Some(("fuzzy", d.outcome == Outcome::Matched && right)),
            Expected::Duplicate => Some(("duplicate", d.outcome == Outcome::Duplicate)),
            Expected::Failed => Some(("failed", d.outcome == Outcome::Failed)),
            Expected::Reversal => Some(("reversal", d.outcome == Outcome::Reversal && right)),
            _ => None,
        };
        if d.outcome == Outcome::Review {
            if let Some(payer) = &t.customer_id {
                let c = counters.entry("review_first").or_default();
                c.0 += u64::from(
                    d.candidates
                        .first()
                        .is_some_and(|c| &c.customer_id == payer),
                );
                c.1 += 1;
            }
        }
        if let Some((name, hit)) = bucket {
            let c = counters.entry(name).or_default();
            c.0 += u64::from(hit);
            c.1 += 1;
        }
        if t.expected == Expected::Matched {
            if let Some(c) = &t.customer_id {
                *paid.entry(c.clone()).or_default() += t.amount;
            }
        }
    }
    let ratio = |name: &str| {
        counters
            .get(name)
            .map_or(Ratio::new(0, 0), |(h, o)| Ratio::new(*h, *o))
    };
    s.auto_match_precision = Ratio::new(matched_right, matched);
    s.recall_deterministic = ratio("deterministic");
    s.recall_fuzzy = ratio("fuzzy");
    s.review_first_candidate_right = ratio("review_first");
    s.redeliveries_caught = ratio("duplicate");
    s.failures_recognised = ratio("failed");
    s.reversals_recognised = ratio("reversal");
    s.malformed_dead_lettered = Ratio::new(dead_letters.min(expected_dead), expected_dead);

    // Restores: ideal (customer, service) pairs against issued commands.
    let mut owed: HashMap<&str, Decimal> = HashMap::new();
    for i in invoices.iter().filter(|i| i.status == InvoiceStatus::Open) {
        *owed.entry(i.customer_id.as_str()).or_default() += i.amount;
    }
    let mut ideal = HashSet::new();
    for c in customers
        .iter()
        .filter(|c| c.status == CustomerStatus::Suspended)
    {
        let due = owed
            .get(c.customer_id.as_str())
            .copied()
            .unwrap_or_default();
        if paid.get(&c.customer_id).is_some_and(|p| *p >= due) {
            for svc in &c.services {
                ideal.insert((c.customer_id.clone(), svc.service_id.clone()));
            }
        }
    }
    let mut issued = HashSet::new();
    let mut ids = HashSet::new();
    for c in &commands {
        if !ids.insert(c.command_id.clone())
            || !issued.insert((c.customer_id.clone(), c.service_id.clone()))
        {
            s.restores_repeated += 1;
        }
    }
    let right = issued.intersection(&ideal).count() as u64;
    s.restore_precision = Ratio::new(right, issued.len() as u64);
    s.restore_recall = Ratio::new(right, ideal.len() as u64);
    Ok(s)
}

/// A short human report of the scores.
pub fn render(s: &Scores) -> String {
    let r = |r: &Ratio| format!("{:>7.2} %  ({} / {})", r.percent, r.hits, r.of);
    [
        format!("auto-match precision        {}", r(&s.auto_match_precision)),
        format!("recall, deterministic       {}", r(&s.recall_deterministic)),
        format!("recall, typo + name         {}", r(&s.recall_fuzzy)),
        format!(
            "review: payer ranked first  {}",
            r(&s.review_first_candidate_right)
        ),
        format!(
            "unknown payers matched      {:>7}",
            s.unknown_payers_matched
        ),
        format!("redeliveries caught         {}", r(&s.redeliveries_caught)),
        format!("failures recognised         {}", r(&s.failures_recognised)),
        format!("refunds recognised          {}", r(&s.reversals_recognised)),
        format!(
            "malformed dead-lettered     {}",
            r(&s.malformed_dead_lettered)
        ),
        format!("payments lost               {:>7}", s.lost),
        format!("restore precision           {}", r(&s.restore_precision)),
        format!("restore recall              {}", r(&s.restore_recall)),
        format!("restores repeated           {:>7}", s.restores_repeated),
    ]
    .join("\n")
}
