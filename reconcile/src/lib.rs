//! Batch reconciliation for paymatch: the ledger against provider
//! statements, as DataFusion plans over Arrow and Parquet.
//!
//! Finance must prove that every shilling a provider collected is in the
//! ledger and that the ledger holds nothing the provider did not collect.
//! This crate reads statements ([`statement`], one format per file, one
//! registry) and the ledger ([`ledger`]) into Arrow, classifies every line
//! of both in one plan ([`job`]), snapshots the ledger to Parquet
//! ([`snapshot`]) and answers SQL over result directories ([`sql`]).
//!
//! It is a crate of its own so that DataFusion and Arrow are compiled only
//! where they are used; the streaming stages never link them.

pub mod engine;
mod error;
mod gather;
pub mod generate;
pub mod job;
pub mod ledger;
pub mod rows;
pub mod schema;
pub mod snapshot;
pub mod sql;
pub mod statement;
pub mod udf;

pub use error::{Error, Result};
pub use job::{reconcile, ReconcileOptions, Summary};
