//! Statements with known answers, for tests, the demo and benchmarks.
//!
//! A statement is written from a ledger — what the provider would print for
//! the payments we booked — with exceptions injected at a given rate: lines
//! dropped (`missing_in_statement`), lines the ledger never saw
//! (`missing_in_ledger`), amounts one minor unit off (`amount_mismatch`),
//! another currency (`currency_mismatch`), lines printed twice
//! (`duplicate_in_statement`), and — when a ledger copy is written —
//! entries booked twice (`duplicate_in_ledger`). Each injection is written
//! to a truth file, so a reconciliation can be scored exactly. M-Pesa
//! statements get charge lines, Stripe ones fees, and both a daily payout,
//! as real statements have.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use model::{Currency, LedgerEntry, LedgerKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::ledger::split_payment_id;
use crate::statement::{FormatOptions, LineKind, StatementFormat, StatementLine};
use crate::{Error, Result};

/// One injected exception: what reconcile must report.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct Expected {
    /// Exception kind.
    pub kind: String,
    /// The provider txn id it is about.
    pub txn_id: String,
}

/// What happens to one ledger payment on its way to the statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injection {
    /// Printed as booked.
    None,
    /// Not printed.
    Drop,
    /// Printed one minor unit higher.
    AmountOff,
    /// Printed in another currency.
    OtherCurrency,
    /// Printed twice.
    TwiceInStatement,
    /// Booked twice in the ledger copy.
    TwiceInLedger,
}

/// Draws injections and extra lines from a seeded generator.
pub struct Injector {
    rng: ChaCha8Rng,
    rate: f64,
    ledger_copy: bool,
    currency: bool,
    next_extra: u64,
}

impl Injector {
    /// `rate` is the chance of each injection per payment; duplicates in
    /// the ledger only when a ledger copy is written, other currencies only
    /// when the statement says its lines' currency.
    pub fn new(seed: u64, rate: f64, ledger_copy: bool, currency: bool) -> Self {
        Injector {
            rng: ChaCha8Rng::seed_from_u64(seed),
            rate: rate.clamp(0.0, 0.15),
            ledger_copy,
            currency,
            next_extra: 0,
        }
    }

    /// The fate of the next payment.
    pub fn pick(&mut self) -> Injection {
        let x: f64 = self.rng.random();
        let r = self.rate;
        match x {
            x if x < r => Injection::Drop,
            x if x < 2.0 * r => Injection::AmountOff,
            x if x < 3.0 * r && self.currency => Injection::OtherCurrency,
            x if x < 3.0 * r => Injection::None,
            x if x < 4.0 * r => Injection::TwiceInStatement,
            x if x < 5.0 * r && self.ledger_copy => Injection::TwiceInLedger,
            _ => Injection::None,
        }
    }

    /// Whether to print a line the ledger never saw after this payment.
    pub fn extra(&mut self) -> bool {
        self.rng.random::<f64>() < self.rate
    }

    /// Prints a booked payment's lines as `injection` has them, maybe
    /// followed by a line the ledger never saw, and records what a
    /// reconciliation must report.
    ///
    /// # Errors
    /// I/O errors.
    pub fn print(
        &mut self,
        writer: &mut StatementWriter<'_>,
        line: StatementLine,
        injection: Injection,
        expected: &mut Vec<Expected>,
    ) -> Result<()> {
        let txn_id = line.txn_id.clone();
        let (lines, raised) = inject(line.clone(), injection);
        if let Some(kind) = raised {
            expected.push(Expected {
                kind: kind.into(),
                txn_id,
            });
        }
        for l in lines {
            writer.line(l)?;
        }
        if self.extra() {
            let txn_id = self.extra_id();
            expected.push(Expected {
                kind: "missing_in_ledger".into(),
                txn_id: txn_id.clone(),
            });
            writer.line(StatementLine {
                txn_id,
                kind: LineKind::Payment,
                amount: line.amount.abs(),
                ..line
            })?;
        }
        Ok(())
    }

    /// A txn id no ledger has.
    pub fn extra_id(&mut self) -> String {
        self.next_extra += 1;
        format!("XTRA{:08}", self.next_extra)
    }
}

/// One minor unit of `currency`.
fn minor_unit(currency: Currency) -> Decimal {
    Decimal::new(1, currency.exponent())
}

/// A currency other than `c`.
fn other_currency(c: Currency) -> Currency {
    let code = if c.code() == "KES" { "UGX" } else { "KES" };
    Currency::parse(code).expect("ISO 4217")
}

/// The fee a format's provider charges on a payment (zero for generic).
fn fee_for(format: &str, amount: Decimal, currency: Currency) -> Decimal {
    let e = currency.exponent();
    match format {
        "stripe" => (amount * Decimal::new(29, 3) + Decimal::new(30, 2)).round_dp(e),
        "mpesa" => (amount * Decimal::new(5, 3))
            .round_dp(e)
            .clamp(Decimal::ONE, Decimal::from(200)),
        _ => Decimal::ZERO,
    }
}

/// Writes statement rows of one format.
pub struct StatementWriter<'f> {
    csv: csv::Writer<BufWriter<File>>,
    format: &'f dyn StatementFormat,
    options: FormatOptions,
    payouts: BTreeMap<(String, Currency), (Decimal, DateTime<Utc>)>,
}

impl<'f> StatementWriter<'f> {
    /// A statement file with the format's header.
    ///
    /// # Errors
    /// I/O errors.
    pub fn create(
        path: &Path,
        format: &'f dyn StatementFormat,
        options: FormatOptions,
    ) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let mut csv = csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, file));
        csv.write_record(format.columns())
            .map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(StatementWriter {
            csv,
            format,
            options,
            payouts: BTreeMap::new(),
        })
    }

    /// Writes a line, and its fee line where the provider prints charges
    /// as lines of their own.
    ///
    /// # Errors
    /// I/O errors.
    pub fn line(&mut self, mut line: StatementLine) -> Result<()> {
        let name = self.format.name();
        let fee = if line.kind == LineKind::Payment {
            fee_for(name, line.amount, line.currency)
        } else {
            Decimal::ZERO
        };
        if name == "stripe" {
            line.fee = fee;
        }
        self.write(&line)?;
        if name == "mpesa" && fee > Decimal::ZERO {
            self.write(&StatementLine {
                kind: LineKind::Fee,
                amount: -fee,
                fee: Decimal::ZERO,
                details: None,
                ..line.clone()
            })?;
        }
        if name != "generic" {
            let day = line.completed_at.format("%Y-%m-%d").to_string();
            let entry = self
                .payouts
                .entry((day, line.currency))
                .or_insert((Decimal::ZERO, line.completed_at));
            entry.0 += line.amount - fee;
            entry.1 = entry.1.max(line.completed_at);
        }
        Ok(())
    }

    fn write(&mut self, line: &StatementLine) -> Result<()> {
        self.csv
            .write_record(self.format.render(line, &self.options))
            .map_err(|e| Error::Invalid(e.to_string()))
    }

    /// Writes each day's payout and closes the file.
    ///
    /// # Errors
    /// I/O errors.
    pub fn finish(mut self) -> Result<()> {
        let payouts = std::mem::take(&mut self.payouts);
        for (i, ((_, currency), (net, last))) in payouts.into_iter().enumerate() {
            if net <= Decimal::ZERO {
                continue;
            }
            self.write(&StatementLine {
                provider: self.format.label().unwrap_or("generic").to_string(),
                txn_id: format!("PAYOUT{i:06}"),
                kind: LineKind::Payout,
                amount: -net,
                fee: Decimal::ZERO,
                currency,
                completed_at: last,
                reference: None,
                counterparty: None,
                details: None,
            })?;
        }
        self.csv.flush().map_err(|e| Error::io("statement", e))
    }
}

/// The statement line the provider prints for a booked payment.
pub fn line_for(
    provider: &str,
    txn_id: &str,
    kind: LedgerKind,
    amount: Decimal,
    currency: Currency,
    at: DateTime<Utc>,
    reference: &str,
) -> StatementLine {
    StatementLine {
        provider: provider.to_string(),
        txn_id: txn_id.to_string(),
        kind: if kind == LedgerKind::Reversal {
            LineKind::Reversal
        } else {
            LineKind::Payment
        },
        amount,
        fee: Decimal::ZERO,
        currency,
        completed_at: at,
        reference: Some(reference.to_string()),
        counterparty: None,
        details: None,
    }
}

/// Applies `injection` to a booked payment: the lines to print and the
/// exception it should raise.
pub fn inject(
    line: StatementLine,
    injection: Injection,
) -> (Vec<StatementLine>, Option<&'static str>) {
    match injection {
        Injection::None => (vec![line], None),
        Injection::Drop => (vec![], Some("missing_in_statement")),
        Injection::AmountOff => {
            let amount = line.amount + minor_unit(line.currency);
            (
                vec![StatementLine { amount, ..line }],
                Some("amount_mismatch"),
            )
        }
        Injection::OtherCurrency => {
            let currency = other_currency(line.currency);
            (
                vec![StatementLine { currency, ..line }],
                Some("currency_mismatch"),
            )
        }
        Injection::TwiceInStatement => (vec![line.clone(), line], Some("duplicate_in_statement")),
        Injection::TwiceInLedger => (vec![line], Some("duplicate_in_ledger")),
    }
}

/// Options of [`statement_from_ledger`].
#[derive(Clone, Debug)]
pub struct StatementGeneration {
    /// Chance of each exception kind per payment (0 for a clean statement).
    pub inject_rate: f64,
    /// Random seed.
    pub seed: u64,
    /// Ledger providers to print; `None`: the format's own.
    pub providers: Option<Vec<String>>,
    /// Format settings.
    pub format_options: FormatOptions,
}

/// Writes the statement `format` would print for the ledger at `ledger`
/// (JSONL), with exceptions injected; the ledger copy (needed for
/// duplicates in the ledger) and the truth file when asked. Returns the
/// injected exceptions.
///
/// # Errors
/// Missing or bad ledger, I/O errors.
pub fn statement_from_ledger(
    ledger: &Path,
    format: &dyn StatementFormat,
    statement: &Path,
    ledger_out: Option<&Path>,
    options: &StatementGeneration,
) -> Result<Vec<Expected>> {
    let file = crate::error::open_input(ledger, "ledger")?;
    let providers: Vec<String> = options
        .providers
        .clone()
        .unwrap_or_else(|| format.providers().iter().map(|p| p.to_string()).collect());
    let mut copy = match ledger_out {
        Some(p) => Some(BufWriter::new(
            File::create(p).map_err(|e| Error::io(p, e))?,
        )),
        None => None,
    };
    let mut writer = StatementWriter::create(statement, format, options.format_options.clone())?;
    let mut injector = Injector::new(
        options.seed,
        options.inject_rate,
        copy.is_some(),
        format.carries_currency(),
    );
    let mut expected = Vec::new();
    for (i, text) in BufReader::new(file).lines().enumerate() {
        let text = text.map_err(|e| Error::io(ledger, e))?;
        if text.trim().is_empty() {
            continue;
        }
        let entry: LedgerEntry = serde_json::from_str(&text).map_err(|e| Error::BadLedgerLine {
            path: ledger.to_path_buf(),
            line: i as u64 + 1,
            reason: e.to_string(),
        })?;
        let (provider, txn_id) = split_payment_id(&entry.payment_id);
        let in_scope = matches!(entry.kind, LedgerKind::Payment | LedgerKind::Reversal)
            && providers.iter().any(|p| p == provider);
        let injection = if in_scope {
            injector.pick()
        } else {
            Injection::None
        };
        if let Some(out) = copy.as_mut() {
            let times = if injection == Injection::TwiceInLedger {
                2
            } else {
                1
            };
            for _ in 0..times {
                writeln!(out, "{text}").map_err(|e| Error::io("ledger copy", e))?;
            }
        }
        if !in_scope {
            continue;
        }
        let label = format.label().unwrap_or(provider);
        let line = line_for(
            label,
            txn_id,
            entry.kind,
            entry.amount,
            entry.currency,
            entry.at,
            &entry.customer_id,
        );
        injector.print(&mut writer, line, injection, &mut expected)?;
    }
    writer.finish()?;
    if let Some(mut out) = copy {
        out.flush().map_err(|e| Error::io("ledger copy", e))?;
    }
    expected.sort();
    Ok(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injections_come_at_the_rate_asked() {
        let mut inj = Injector::new(1, 0.01, true, true);
        let n = 100_000;
        let mut counts = BTreeMap::new();
        for _ in 0..n {
            *counts.entry(format!("{:?}", inj.pick())).or_insert(0) += 1;
        }
        for kind in [
            "Drop",
            "AmountOff",
            "OtherCurrency",
            "TwiceInStatement",
            "TwiceInLedger",
        ] {
            let c = counts[kind];
            assert!((800..1200).contains(&c), "{kind}: {c}");
        }
        let mut clean = Injector::new(1, 0.0, true, true);
        assert!((0..1000).all(|_| clean.pick() == Injection::None && !clean.extra()));
    }

    #[test]
    fn fees_are_in_the_currency_s_decimals() {
        let kes = Currency::parse("KES").unwrap();
        assert_eq!(
            fee_for("stripe", Decimal::from(2500), kes),
            Decimal::new(7280, 2)
        );
        assert_eq!(fee_for("mpesa", Decimal::from(100), kes), Decimal::ONE);
        assert_eq!(
            fee_for("mpesa", Decimal::from(100_000), kes),
            Decimal::from(200)
        );
        assert_eq!(fee_for("generic", Decimal::from(100), kes), Decimal::ZERO);
    }
}
