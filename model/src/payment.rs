//! The normalized payment: what every provider adapter turns its callback
//! into, and the only shape the matchers and stages see.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::money::Money;
use crate::phone::Msisdn;

/// Whether money moved, and which way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Money was received.
    Succeeded,
    /// The provider reports the payment did not go through; no money moved.
    Failed {
        /// The provider's own words (result code and description).
        reason: String,
    },
    /// Money taken back (refund, reversal, dispute) from an earlier payment.
    Reversal {
        /// The `payment_id` the money comes back from.
        reverses: String,
    },
}

/// Where a reference came from, which decides how much it is trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceKind {
    /// Typed by the payer (M-Pesa `BillRefNumber`, a bank reference, a
    /// MoMo payer message): may hold an account number, an invoice number, a
    /// username or a phone number, with typos.
    Account,
    /// An invoice number field of the provider (M-Pesa `InvoiceNumber`).
    Invoice,
    /// A provider-side customer id (Stripe `cus_…`).
    ProviderCustomer,
    /// An id we issued with a collection request (MoMo `externalId`,
    /// Airtel `transaction.id`, Stripe metadata): set by our own systems.
    Request,
}

/// One reference carried by a payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceValue {
    /// Where it came from.
    pub kind: ReferenceKind,
    /// The text as sent.
    pub value: String,
}

/// The payer's phone as the provider gave it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayerPhone {
    /// A readable number, normalized.
    Clear(Msisdn),
    /// A SHA-256 hex digest of the E.164 digits (M-Pesa hashed MSISDN).
    Hashed(String),
}

impl PayerPhone {
    /// The SHA-256 digest, computed for clear numbers.
    pub fn hash(&self) -> String {
        match self {
            PayerPhone::Clear(m) => m.hash(),
            PayerPhone::Hashed(h) => h.clone(),
        }
    }

    /// A display form: the digits (moved, not copied), or `sha256:…`.
    pub fn into_display(self) -> String {
        match self {
            PayerPhone::Clear(m) => m.into_string(),
            PayerPhone::Hashed(h) => format!("sha256:{h}"),
        }
    }
}

/// A provider callback in one shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// Provider name, as in the envelope (`mpesa_c2b`): an adapter's
    /// static name, copied only when read back from JSON.
    pub provider: std::borrow::Cow<'static, str>,
    /// The provider's transaction id (see CONTRACTS.md for each provider).
    pub provider_txn_id: String,
    /// The amount (always positive; a reversal's direction is its status).
    pub money: Money,
    /// When the payer paid, UTC.
    pub paid_at: DateTime<Utc>,
    /// Succeeded, failed or reversal.
    pub status: PaymentStatus,
    /// References, most trusted first.
    pub references: Vec<ReferenceValue>,
    /// The payer's phone, clear or hashed.
    pub payer_phone: Option<PayerPhone>,
    /// The payer's name as the provider gave it.
    pub payer_name: Option<String>,
}

impl Payment {
    /// `provider:provider_txn_id`, the payment's identity everywhere.
    pub fn payment_id(&self) -> String {
        // Built by hand: once per payment on the hot path, where `format!`'s
        // machinery cost more than the copy.
        let mut id = String::with_capacity(self.provider.len() + 1 + self.provider_txn_id.len());
        id.push_str(&self.provider);
        id.push(':');
        id.push_str(&self.provider_txn_id);
        id
    }

    /// The payment this one is about: its own id, or for a reversal the
    /// payment it takes money back from. Streams partitioned by it keep a
    /// payment, its redeliveries and its refunds in one partition, in order.
    pub fn partition_key(&self) -> String {
        match &self.status {
            PaymentStatus::Reversal { reverses } => reverses.clone(),
            _ => self.payment_id(),
        }
    }
}
