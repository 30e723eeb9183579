//! Errors of the model crate: every one is a fault of the data, not of the
//! system, so callers send the offending record to the dead-letter queue.

/// What was wrong with a value the model was asked to build.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A currency code that is not three ASCII letters, or not known.
    #[error("unknown currency code {code:?}")]
    UnknownCurrency {
        /// The code as received.
        code: String,
    },
    /// An amount that does not parse as a decimal number.
    #[error("amount {text:?} is not a decimal number")]
    BadAmount {
        /// The amount text as received.
        text: String,
    },
    /// An amount with more fractional digits than its currency allows.
    #[error("amount {amount} has more decimals than {currency} allows ({exponent})")]
    TooPrecise {
        /// The amount.
        amount: String,
        /// The currency.
        currency: String,
        /// The currency's minor-unit exponent.
        exponent: u32,
    },
    /// A minor-unit amount that does not fit.
    #[error("minor-unit amount {minor} overflows")]
    MinorUnitsOverflow {
        /// The minor-unit amount.
        minor: i128,
    },
    /// A phone number that cannot be brought to E.164 digits.
    #[error("phone number {text:?} cannot be normalized")]
    BadPhone {
        /// The number as received.
        text: String,
    },
}

/// The model crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
