//! Provider statements: one [`StatementFormat`] per file layout, one file
//! each, listed by [`formats`].
//!
//! A format only knows its own columns: how a row becomes a
//! [`StatementLine`] (and back, for generated test statements), and how a
//! line the ledger never saw becomes the provider callback that was lost
//! (`--replay-missing`). Reading the file — finding the header under an
//! export's preamble, line numbers, bad lines, Arrow batches — is shared in
//! [`reader`], so every format streams into the same table.

mod columns;
mod generic;
mod mpesa;
mod parallel;
pub mod reader;
mod stripe;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use model::Currency;
use rust_decimal::Decimal;

pub use reader::{read_statement, BadLine, StatementRead};

/// What a statement line is, for reconciliation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// Money collected from a payer: pairs with a ledger `payment`.
    Payment,
    /// Money given back (refund, reversal, dispute): pairs with a ledger
    /// `reversal`. Negative.
    Reversal,
    /// A charge the provider took (M-Pesa charges, Stripe fees). Negative.
    Fee,
    /// Money sent out to the merchant's bank (settlement). Negative.
    Payout,
    /// Anything else (top-ups, adjustments): summarised, never paired.
    Other,
}

impl LineKind {
    /// The name in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Payment => "payment",
            LineKind::Reversal => "reversal",
            LineKind::Fee => "fee",
            LineKind::Payout => "payout",
            LineKind::Other => "other",
        }
    }

    /// From the `kind` column.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "payment" => LineKind::Payment,
            "reversal" => LineKind::Reversal,
            "fee" => LineKind::Fee,
            "payout" => LineKind::Payout,
            "other" => LineKind::Other,
            _ => return None,
        })
    }
}

/// One statement line, whatever the format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementLine {
    /// The provider label (`mpesa`, `stripe`, or a ledger provider name).
    pub provider: String,
    /// The provider's transaction id: the ledger's `provider_txn_id`.
    pub txn_id: String,
    /// What the line is.
    pub kind: LineKind,
    /// Signed gross amount: payments positive, everything else negative.
    pub amount: Decimal,
    /// Fee charged on this line (Stripe), zero when charges are lines of
    /// their own (M-Pesa).
    pub fee: Decimal,
    /// Currency.
    pub currency: Currency,
    /// When the provider completed it.
    pub completed_at: DateTime<Utc>,
    /// The payer's reference (account number, invoice, description).
    pub reference: Option<String>,
    /// The other party (payer phone and name, card holder).
    pub counterparty: Option<String>,
    /// The provider's description of the line.
    pub details: Option<String>,
}

/// A row read by a format: a line that takes part, or one that does not
/// (a failed or pending transaction: no money moved).
#[derive(Debug)]
pub enum Parsed {
    /// A completed line.
    Line(StatementLine),
    /// Not completed: counted, not reconciled.
    NotCompleted,
}

/// Settings of a statement format that the file does not say.
#[derive(Clone, Debug)]
pub struct FormatOptions {
    /// Zone of local times in the file (M-Pesa: East Africa Time).
    pub time_zone: Tz,
    /// Currency of files that carry none (M-Pesa: KES).
    pub currency: Option<Currency>,
    /// The paybill or till number, written into replayed M-Pesa callbacks.
    pub shortcode: Option<String>,
}

impl Default for FormatOptions {
    fn default() -> Self {
        FormatOptions {
            time_zone: chrono_tz::Africa::Nairobi,
            currency: None,
            shortcode: None,
        }
    }
}

/// A provider callback rebuilt from a statement line.
#[derive(Clone, Debug, PartialEq)]
pub struct Replayed {
    /// The provider adapter that reads it (`mpesa_c2b`, `generic`, …).
    pub provider: &'static str,
    /// The callback body.
    pub payload: serde_json::Value,
}

/// A statement file layout.
///
/// Implementations are pure: they map one CSV row to a line and back. They
/// must never panic on any row, and must name the offending column in
/// their error.
pub trait StatementFormat: Send + Sync {
    /// The name given to `--format`.
    fn name(&self) -> &'static str;

    /// The columns the header must name (any order, extra columns allowed).
    fn columns(&self) -> &'static [&'static str];

    /// Columns read when the header has them; `fields[columns().len() + i]`
    /// is `optional_columns()[i]`, empty when absent.
    fn optional_columns(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether the file says each line's currency (M-Pesa statements do
    /// not: their currency is configured).
    fn carries_currency(&self) -> bool {
        true
    }

    /// The ledger providers a statement of this format covers by default.
    fn providers(&self) -> &'static [&'static str];

    /// The provider label of this format's lines in summaries, or `None`
    /// when each line names its own provider.
    fn label(&self) -> Option<&'static str>;

    /// Reads one row; `fields[i]` is the value of `columns()[i]` (then the
    /// optional columns).
    ///
    /// # Errors
    /// A message naming the column that cannot be read.
    fn parse(&self, fields: &[&str], options: &FormatOptions) -> Result<Parsed, String>;

    /// Writes a line as a row of `columns()` (generated statements).
    fn render(&self, line: &StatementLine, options: &FormatOptions) -> Vec<String>;

    /// The callback the provider would have sent for this line, when the
    /// format can rebuild it (payments only).
    fn replay(&self, line: &StatementLine, options: &FormatOptions) -> Option<Replayed>;
}

/// Every statement format, in the order `--help` lists them.
pub fn formats() -> Vec<Box<dyn StatementFormat>> {
    vec![
        Box::new(generic::Generic),
        Box::new(mpesa::Mpesa),
        Box::new(stripe::Stripe),
    ]
}

/// The format called `name`.
///
/// # Errors
/// [`crate::Error::UnknownFormat`] when no format has that name.
pub fn format(name: &str) -> crate::Result<Box<dyn StatementFormat>> {
    formats()
        .into_iter()
        .find(|f| f.name() == name)
        .ok_or_else(|| crate::Error::UnknownFormat(name.to_string()))
}

/// Reads an amount as statements print it: `2,500.00`, `-25.00`, `(25.00)`,
/// blank for none.
pub(crate) fn parse_amount(column: &str, text: &str) -> Result<Option<Decimal>, String> {
    let t = text.trim();
    if t.is_empty() || t == "-" {
        return Ok(None);
    }
    let (negative, body) = match t.strip_prefix('(').and_then(|x| x.strip_suffix(')')) {
        Some(inner) => (true, inner),
        None => (false, t),
    };
    // Thousands separators (`1,250.00`, `1 250.00`) are dropped; most
    // amounts have none and are parsed in place.
    let parsed = if body.contains([',', ' ']) {
        let cleaned: String = body.chars().filter(|c| *c != ',' && *c != ' ').collect();
        cleaned.parse::<Decimal>()
    } else {
        body.parse::<Decimal>()
    };
    let value = parsed.map_err(|_| format!("{column}: `{text}` is not an amount"))?;
    if crate::schema::to_amount_units(value).is_none() {
        return Err(format!(
            "{column}: `{text}` has more than 4 decimals or is too large"
        ));
    }
    Ok(Some(if negative { -value } else { value }))
}

/// Reads a currency code in any case.
pub(crate) fn parse_currency(column: &str, text: &str) -> Result<Currency, String> {
    Currency::parse(&text.trim().to_ascii_uppercase())
        .map_err(|_| format!("{column}: `{text}` is not an ISO 4217 currency"))
}

/// An optional text column.
pub(crate) fn optional(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_as_statements_print_them() {
        let p = |t| parse_amount("Paid In", t);
        assert_eq!(p("2,500.00").unwrap(), Some(Decimal::new(250000, 2)));
        assert_eq!(p("-25.00").unwrap(), Some(Decimal::new(-2500, 2)));
        assert_eq!(p("(25.00)").unwrap(), Some(Decimal::new(-2500, 2)));
        assert_eq!(p("  ").unwrap(), None);
        assert!(p("12abc").unwrap_err().contains("Paid In"));
        assert!(p("1.000001").is_err());
    }

    #[test]
    fn registry_names_are_unique_and_found() {
        let names: Vec<_> = formats().iter().map(|f| f.name()).collect();
        assert_eq!(names, ["generic", "mpesa", "stripe"]);
        assert!(format("mpesa").is_ok());
        assert!(matches!(
            format("paypal"),
            Err(crate::Error::UnknownFormat(_))
        ));
    }
}
