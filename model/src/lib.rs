//! The paymatch domain model: money, phone numbers, and every record of the
//! public contracts (`shared/CONTRACTS.md`), with serde and JSON Schemas.
//!
//! This crate does no I/O. Everything else (providers, matchers, stages, sinks)
//! speaks in these types, so a record read from a file in embedded mode and
//! one read from Kafka are the same value.

pub mod decimal;
pub mod encode;
pub mod envelope;
pub mod error;
pub mod json;
pub mod money;
pub mod payment;
pub mod phone;
pub mod records;
pub mod reference;
pub mod schema;
pub mod time;

pub use error::{Error, Result};
pub use money::{Currency, Money};
pub use payment::{PayerPhone, Payment, PaymentStatus, ReferenceKind, ReferenceValue};
pub use phone::{normalize_msisdn, phone_hash, Msisdn};
pub use records::*;
