//! The customer index and the matching strategies.
//!
//! The index lives in a key-value store ([`store::KvStore`]: RocksDB in
//! production, an in-memory map in tests) and answers the only questions the
//! matchers ask: who has this reference, this phone, this Stripe id, which
//! references are one edit away. Lookups are point reads on secondary keys,
//! never a scan of all customers, so matching cost does not grow with the
//! customer base.
//!
//! Matching is pure given the index: [`strategies`] each add evidence about
//! candidates, and [`decide`] turns the evidence into `matched` or `review`.

pub mod config;
pub mod decide;
pub mod error;
pub mod evidence;
pub mod fxhash;
pub mod index;
mod inline_key;
mod line_table;
pub mod store;
pub mod strategies;

pub use config::MatchingConfig;
pub use decide::{match_batch, match_payment, match_read_ahead, MatchResult};
pub use error::{Error, Result};
pub use evidence::Evidence;
pub use index::CustomerIndex;
