//! Why a provider payload could not be read. Every variant is the sender's
//! fault: the payload goes to the dead-letter queue with this reason, and
//! retrying it would fail the same way.

/// A payload paymatch cannot turn into a payment.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NormalizeError {
    /// The envelope names a provider no adapter handles.
    #[error("unknown provider {provider:?}")]
    UnknownProvider {
        /// The name in the envelope.
        provider: String,
    },
    /// Not JSON, or not the shape the provider documents.
    #[error("{provider}: payload is not a valid callback: {detail}")]
    BadPayload {
        /// Provider name.
        provider: &'static str,
        /// serde's description, with line and column.
        detail: String,
    },
    /// A field the provider always sends is missing or empty.
    #[error("{provider}: missing field {field}")]
    MissingField {
        /// Provider name.
        provider: &'static str,
        /// The field's path in the payload.
        field: &'static str,
    },
    /// An amount that does not read as money of its currency.
    #[error("{provider}: bad amount: {detail}")]
    BadAmount {
        /// Provider name.
        provider: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// Zero, negative, or past the configured maximum.
    #[error("amount {amount} {currency} is outside the accepted range (0, {max}]")]
    AmountOutOfRange {
        /// The amount.
        amount: String,
        /// Its currency.
        currency: String,
        /// The configured maximum.
        max: String,
    },
    /// A currency code that is not ISO 4217 shaped.
    #[error("{provider}: bad currency {code:?}")]
    BadCurrency {
        /// Provider name.
        provider: &'static str,
        /// The code.
        code: String,
    },
    /// A time that does not parse.
    #[error("{provider}: bad time {text:?} in {field}")]
    BadTime {
        /// Provider name.
        provider: &'static str,
        /// The field.
        field: &'static str,
        /// The text.
        text: String,
    },
    /// A status that is not final (pending, in progress, ambiguous): no
    /// decision can be made on it; the final callback will follow.
    #[error("{provider}: status {status:?} is not final")]
    NotFinal {
        /// Provider name.
        provider: &'static str,
        /// The status.
        status: String,
    },
    /// A status or event type the adapter does not know.
    #[error("{provider}: unsupported {what} {value:?}")]
    Unsupported {
        /// Provider name.
        provider: &'static str,
        /// What is unsupported (`event type`, `status`).
        what: &'static str,
        /// Its value.
        value: String,
    },
}

impl NormalizeError {
    /// A stable class name for the dead-letter record and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            NormalizeError::UnknownProvider { .. } => "unknown_provider",
            NormalizeError::BadPayload { .. } => "bad_payload",
            NormalizeError::MissingField { .. } => "missing_field",
            NormalizeError::BadAmount { .. } => "bad_amount",
            NormalizeError::AmountOutOfRange { .. } => "amount_out_of_range",
            NormalizeError::BadCurrency { .. } => "bad_currency",
            NormalizeError::BadTime { .. } => "bad_time",
            NormalizeError::NotFinal { .. } => "not_final",
            NormalizeError::Unsupported { .. } => "unsupported",
        }
    }
}
