//! The records of the public contracts (`shared/CONTRACTS.md`): inputs
//! (payment envelope, customer, invoice) and outputs (decision, access
//! command and result, ledger entry, dead letter).
//!
//! Inputs ignore fields they do not know, so producers can add fields
//! (contracts change additively). Outputs always write every field, with
//! `null` for an absent value, so readers see one shape.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::money::Currency;

/// A provider callback as it arrived, wrapped with the provider's name.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct PaymentEnvelope {
    /// Which adapter reads the payload (`mpesa_c2b`, `stripe`, …).
    pub provider: String,
    /// When paymatch (or its gateway) received the callback.
    #[serde(default, deserialize_with = "crate::time::deserialize_option")]
    pub received_at: Option<DateTime<Utc>>,
    /// The provider's callback body exactly as it arrived, kept raw so
    /// amounts written as JSON numbers are read exactly, never via a float.
    #[schemars(with = "serde_json::Value")]
    pub payload: Box<RawValue>,
}

pub use borrowed::PaymentEnvelope as PaymentEnvelopeRef;

mod borrowed {
    use std::borrow::Cow;

    use chrono::{DateTime, Utc};
    use serde::Deserialize;
    use serde_json::value::RawValue;

    /// A [`super::PaymentEnvelope`] read in place: the provider's name and
    /// the payload borrow the input line instead of copying it. Stage 1
    /// reads every raw payment this way; the format is the same. Exported
    /// as `PaymentEnvelopeRef`; named `PaymentEnvelope` here because serde
    /// writes the type's name into some errors, which reach dead letters.
    #[derive(Debug, Deserialize)]
    pub struct PaymentEnvelope<'a> {
        /// As the owned envelope's `provider`; owned only if the name had
        /// escapes.
        #[serde(borrow)]
        pub provider: Cow<'a, str>,
        /// As the owned envelope's `received_at`.
        #[serde(default, deserialize_with = "crate::time::deserialize_option")]
        pub received_at: Option<DateTime<Utc>>,
        /// As the owned envelope's `payload`.
        #[serde(borrow)]
        pub payload: &'a RawValue,
    }
}

/// A customer's account state as the billing system sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomerStatus {
    /// In service.
    Active,
    /// Service cut for non-payment: a clearing payment restores it.
    Suspended,
    /// Account closed: never restored automatically.
    Closed,
}

/// One subscribed service (a PPPoE or hotspot login on a NAS).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct Service {
    /// The service's id in the billing system.
    pub service_id: String,
    /// The access username (PPPoE / RADIUS).
    pub username: String,
    /// The network access server it lives on.
    #[serde(default)]
    pub nas_id: Option<String>,
    /// The plan name.
    #[serde(default)]
    pub plan: Option<String>,
}

/// A customer record (topic `paymatch.customers`, key `customer_id`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct Customer {
    /// The billing system's customer id.
    pub customer_id: String,
    /// The account number customers type as a payment reference.
    #[serde(default)]
    pub account_number: Option<String>,
    /// Full name.
    #[serde(default)]
    pub name: String,
    /// Phone numbers, any common notation; normalized on indexing.
    #[serde(default)]
    pub msisdns: Vec<String>,
    /// Stripe customer id (`cus_…`).
    #[serde(default)]
    pub stripe_customer_id: Option<String>,
    /// Subscribed services.
    #[serde(default)]
    pub services: Vec<Service>,
    /// Account state.
    pub status: CustomerStatus,
    /// The currency the customer is billed in.
    pub currency: Currency,
    /// Last change in the billing system.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// An invoice's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Unpaid or partly paid.
    Open,
    /// Settled.
    Paid,
    /// Cancelled.
    Void,
}

/// An invoice (topic `paymatch.invoices`, key `invoice_id`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct Invoice {
    /// The billing system's invoice id.
    pub invoice_id: String,
    /// Whose invoice.
    pub customer_id: String,
    /// The number printed on the invoice, which payers may type.
    #[serde(default)]
    pub number: Option<String>,
    /// The amount due, a decimal string.
    #[schemars(with = "String")]
    #[serde(deserialize_with = "crate::decimal::lenient")]
    pub amount: Decimal,
    /// The invoice currency.
    pub currency: Currency,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When it falls due.
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    /// Open, paid or void.
    pub status: InvoiceStatus,
}

/// What became of a payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Auto-applied to `customer_id`.
    Matched,
    /// Queued for a person, with ranked candidates.
    Review,
    /// A redelivery of a payment already decided.
    Duplicate,
    /// The provider reports the payment did not go through.
    Failed,
    /// Money taken back (refund, reversal, dispute).
    Reversal,
}

impl Outcome {
    /// Every outcome. The order is stored (a dedupe entry keeps an
    /// outcome as its index here): add new outcomes at the end.
    pub const ALL: [Outcome; 5] = [
        Outcome::Matched,
        Outcome::Review,
        Outcome::Duplicate,
        Outcome::Failed,
        Outcome::Reversal,
    ];

    /// The snake_case name, as written in records and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Matched => "matched",
            Outcome::Review => "review",
            Outcome::Duplicate => "duplicate",
            Outcome::Failed => "failed",
            Outcome::Reversal => "reversal",
        }
    }
}

/// Part of a payment applied to one invoice.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct Allocation {
    /// The invoice.
    pub invoice_id: String,
    /// The amount applied, a decimal string.
    #[schemars(with = "String")]
    #[serde(deserialize_with = "crate::decimal::lenient")]
    pub amount: Decimal,
}

/// A customer the matchers proposed, with the evidence.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct Candidate {
    /// The customer.
    pub customer_id: String,
    /// Combined score in `[0, 1]`.
    pub score: f64,
    /// The rules that fired, strongest first (`account_number_exact`, …).
    // The matchers' names are static: a reason is only copied when read
    // back from JSON (a `String` each cost an allocation and a free per
    // reason per candidate of every payment; BENCHMARKS, session 25).
    pub reasons: Vec<std::borrow::Cow<'static, str>>,
}

/// The decision for one payment envelope (topic `paymatch.payments.decisions`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct Decision {
    /// `provider:provider_txn_id`.
    pub payment_id: String,
    /// Provider name.
    // An adapter's static name, moved from the payment; one read back from
    // JSON is copied (BENCHMARKS, session 25).
    pub provider: std::borrow::Cow<'static, str>,
    /// The provider's transaction id.
    pub provider_txn_id: String,
    /// Amount, a decimal string in the currency's exponent.
    #[schemars(with = "String")]
    #[serde(deserialize_with = "crate::decimal::lenient")]
    pub amount: Decimal,
    /// Currency.
    pub currency: Currency,
    /// When the payer paid, UTC.
    #[serde(serialize_with = "crate::time::serialize")]
    pub paid_at: DateTime<Utc>,
    /// What became of it.
    pub outcome: Outcome,
    /// The customer it was applied to (`matched`, `reversal`), else null.
    pub customer_id: Option<String>,
    /// Confidence of the winning candidate, `[0, 1]`.
    pub confidence: f64,
    /// The rule that decided (`account_number_exact`, `below_threshold`, …).
    // A rule is one of the matchers' and stages' static names; one read
    // back from JSON is copied (BENCHMARKS, session 25).
    pub rule: std::borrow::Cow<'static, str>,
    /// How a matched payment was applied to open invoices.
    #[serde(default)]
    pub allocations: Vec<Allocation>,
    /// Ranked candidates with their reasons.
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// For a `reversal`: the payment it takes money back from.
    #[serde(default)]
    pub reverses: Option<String>,
    /// The payer's reference as sent (additive field).
    #[serde(default)]
    pub reference: Option<String>,
    /// The payer's name as sent (additive field).
    #[serde(default)]
    pub payer_name: Option<String>,
    /// The payer's phone, E.164 digits or `sha256:…` (additive field).
    #[serde(default)]
    pub payer_phone: Option<String>,
    /// Why, in words: the provider's failure reason, or what a reviewer
    /// should look at (additive field).
    #[serde(default)]
    pub detail: Option<String>,
    /// When the decision was made (additive field).
    #[serde(default)]
    #[serde(serialize_with = "crate::time::serialize_option")]
    pub decided_at: Option<DateTime<Utc>>,
}

/// What an access sink is told to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessAction {
    /// Give service back.
    Restore,
    /// Cut service.
    Suspend,
    /// Limit the rate.
    Throttle,
}

/// A command for access sinks (topic `paymatch.access.commands`, key `service_id`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct AccessCommand {
    /// Idempotency key: `action:cause:service_id`; never emitted twice.
    pub command_id: String,
    /// Restore, suspend or throttle.
    pub action: AccessAction,
    /// The customer.
    pub customer_id: String,
    /// The service.
    pub service_id: String,
    /// The access username.
    pub username: String,
    /// The NAS the service lives on.
    pub nas_id: Option<String>,
    /// What caused it (a `payment_id`).
    pub cause: String,
    /// Why, in words.
    pub reason: String,
    /// When it was issued.
    #[serde(serialize_with = "crate::time::serialize")]
    pub issued_at: DateTime<Utc>,
}

/// How applying a command went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessResultStatus {
    /// Done.
    Applied,
    /// Tried and failed.
    Failed,
    /// Not needed (already applied, or nothing to do).
    Skipped,
}

/// Proof of an access command, for the customer's timeline (topic `paymatch.access.results`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct AccessResult {
    /// The command.
    pub command_id: String,
    /// Which sink applied it.
    pub sink: String,
    /// Applied, failed or skipped.
    pub status: AccessResultStatus,
    /// What the sink saw.
    pub detail: String,
    /// When.
    #[serde(serialize_with = "crate::time::serialize")]
    pub at: DateTime<Utc>,
}

/// The kind of a ledger entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    /// Money received (positive).
    Payment,
    /// Part of a payment applied to an invoice (positive).
    Allocation,
    /// Part of a payment kept as the customer's credit (positive).
    Credit,
    /// Money taken back (negative).
    Reversal,
}

impl LedgerKind {
    /// The snake_case name, as written in records.
    pub fn as_str(&self) -> &'static str {
        match self {
            LedgerKind::Payment => "payment",
            LedgerKind::Allocation => "allocation",
            LedgerKind::Credit => "credit",
            LedgerKind::Reversal => "reversal",
        }
    }
}

/// One ledger line (topic `paymatch.ledger`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct LedgerEntry {
    /// Unique and stable: `kind:payment_id[:invoice_id]`.
    pub entry_id: String,
    /// The customer.
    pub customer_id: String,
    /// The payment it comes from.
    pub payment_id: String,
    /// The invoice, for allocations.
    pub invoice_id: Option<String>,
    /// Payment, allocation, credit or reversal.
    pub kind: LedgerKind,
    /// Decimal string; reversals are negative.
    #[schemars(with = "String")]
    #[serde(deserialize_with = "crate::decimal::lenient")]
    pub amount: Decimal,
    /// Currency.
    pub currency: Currency,
    /// When the money moved (the payment's `paid_at`).
    #[serde(serialize_with = "crate::time::serialize")]
    pub at: DateTime<Utc>,
}

/// An input refused, with why (topic `paymatch.payments.dlq`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct DeadLetter {
    /// The raw input exactly as received (the whole line or message).
    pub input: String,
    /// Why it was refused, in words.
    pub error: String,
    /// When.
    #[serde(serialize_with = "crate::time::serialize")]
    pub at: DateTime<Utc>,
    /// A stable class for the error (`bad_json`, `unknown_provider`,
    /// `missing_field`, `bad_amount`, …) (additive field).
    #[serde(default)]
    pub error_kind: Option<String>,
    /// The provider named by the envelope, when it could be read (additive field).
    #[serde(default)]
    pub provider: Option<String>,
}

#[cfg(test)]
mod outcome_tests {
    use super::Outcome;

    /// A new outcome fails to compile here until it is listed in
    /// [`Outcome::ALL`] (at the end: dedupe entries store the index).
    #[test]
    fn all_lists_every_outcome_once() {
        let listed = |o: Outcome| match o {
            Outcome::Matched
            | Outcome::Review
            | Outcome::Duplicate
            | Outcome::Failed
            | Outcome::Reversal => Outcome::ALL.iter().filter(|a| **a == o).count(),
        };
        for o in Outcome::ALL {
            assert_eq!(listed(o), 1, "{o:?}");
        }
        assert_eq!(Outcome::ALL.len(), 5, "every variant of the match above");
    }
}

#[cfg(test)]
mod envelope_tests {
    use super::{PaymentEnvelope, PaymentEnvelopeRef};

    /// The borrowed reading accepts and refuses exactly what the owned one
    /// does, with the same error text (it reaches the dead-letter queue).
    #[test]
    fn borrowed_and_owned_envelopes_read_alike() {
        let lines = [
            r#"{"provider":"generic","received_at":"2026-11-02T06:38:45Z","payload":{"a":"1"}}"#,
            r#"{"provider":"mpes\u0061_c2b","payload":"{\"TransID\":\"X\"}","extra":1}"#,
            r#"{"provider":"generic"}"#,
            r#"{"payload":{}}"#,
            r#"{"provider":5,"payload":{}}"#,
            r#"{"provider":"generic","received_at":"yesterday","payload":{}}"#,
            r#"{"provider":"generic","payload":{"#,
            "[]",
        ];
        for line in lines {
            let owned = serde_json::from_str::<PaymentEnvelope>(line);
            let borrowed = serde_json::from_str::<PaymentEnvelopeRef<'_>>(line);
            match (owned, borrowed) {
                (Ok(o), Ok(b)) => {
                    assert_eq!(o.provider, b.provider, "{line}");
                    assert_eq!(o.received_at, b.received_at, "{line}");
                    assert_eq!(o.payload.get(), b.payload.get(), "{line}");
                }
                (Err(o), Err(b)) => assert_eq!(o.to_string(), b.to_string(), "{line}"),
                (o, b) => panic!("{line}: owned {o:?}, borrowed {b:?}"),
            }
        }
    }
}
