//! Access-control sinks: what applies restore, suspend and throttle
//! commands to the network (FreeRADIUS + CoA, MikroTik, webhooks), one
//! implementation per folder behind the [`AccessSink`] trait.
//!
//! Effects outside Kafka are at-least-once: a command may arrive again after
//! a crash, so every sink must be idempotent on `command_id` — applying a
//! command it already applied reports `skipped`, never a second effect.
//! [`memory::MemorySink`] is the first-class in-memory backend used to test
//! the stages without a network.

pub mod memory;

use model::{AccessCommand, AccessResult};

/// Errors of a sink: the sink or the network is at fault, and a retry with
/// backoff may succeed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The device or service could not be reached.
    #[error("{sink}: unreachable: {detail}")]
    Unreachable {
        /// The sink.
        sink: String,
        /// What failed.
        detail: String,
    },
}

/// The sinks crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Something that applies access commands.
pub trait AccessSink: Send {
    /// The sink's name, written in access results.
    fn name(&self) -> &str;

    /// Applies one command, idempotently on its `command_id`.
    ///
    /// # Errors
    /// [`Error::Unreachable`] when the command could not be delivered; the
    /// caller retries. A command the device refused is an `Ok` result with
    /// status `failed`.
    fn apply(&mut self, command: &AccessCommand) -> Result<AccessResult>;
}

/// Every sink paymatch ships, by name.
pub fn registry() -> Vec<&'static str> {
    vec![memory::NAME]
}
