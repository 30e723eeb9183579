//! paymatch's pipeline: provider adapters, the two stages, the embedded
//! (file) mode, the demo data generator and its evaluation, behind the
//! `paymatch` command line.
//!
//! The stages are pure functions of records and a key-value store; this
//! crate's edges (files here, Kafka later) only move records in and out, so
//! every mode runs the same decisions.

/// `println!` that returns an error instead of panicking when stdout is
/// closed early (`paymatch sql … | head`); `main` treats that error as a
/// quiet success, as Unix tools do.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

pub mod batch;
pub mod cli;
pub mod config;
pub mod dedupe;
pub mod demo;
pub mod embedded;
pub mod error;
pub mod eval;
pub mod generator;
pub mod kafka;
pub mod metrics;
pub mod providers;
pub mod stages;
pub mod state;
pub mod store;

pub use config::Config;
pub use error::{Error, Result};
