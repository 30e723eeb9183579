//! Errors of the pipeline library, grouped by whose fault they are.
//!
//! Bad *payment* data never appears here: it becomes a dead-letter record
//! (see [`crate::providers::NormalizeError`]). What is left is the operator's
//! fault (configuration, a missing file: fix and rerun), the environment's
//! (storage: retry), or a bug.

use std::path::PathBuf;

/// A pipeline failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad configuration: the operator's to fix.
    #[error("configuration: {detail}")]
    Config {
        /// What is wrong, naming the file or variable.
        detail: String,
    },
    /// A file that cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An input file that is not in the contract format (customers,
    /// invoices): the operator's to fix, with the line.
    #[error("{}:{line}: {detail}", path.display())]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        detail: String,
    },
    /// The index or state store failed.
    #[error(transparent)]
    Store(#[from] matchers::Error),
    /// No Kafka broker answers: the environment's fault; retry.
    #[error("no Kafka broker answers at {brokers}: {detail}")]
    BrokerUnreachable {
        /// The bootstrap servers tried.
        brokers: String,
        /// librdkafka's words.
        detail: String,
    },
    /// Topics paymatch needs do not exist: the operator's to create.
    #[error(
        "missing Kafka topics: {}; create them with `paymatch topics create`",
        missing.join(", ")
    )]
    MissingTopics {
        /// Their names.
        missing: Vec<String>,
    },
    /// A Kafka client failed.
    #[error("Kafka, {context}: {source}")]
    Kafka {
        /// What paymatch was doing.
        context: String,
        /// librdkafka's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// A thread of paymatch's own could not start or stopped: an exhausted
    /// machine or a bug; loud, not retried.
    #[error("thread {name}: {detail}")]
    Thread {
        /// The thread's name.
        name: String,
        /// What happened.
        detail: String,
    },
}

impl Error {
    /// Whether retrying may succeed without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Store(e) => e.is_retryable(),
            Error::BrokerUnreachable { .. } => true,
            // A refused setting or a fenced producer (another instance took
            // this transactional id) will not heal by itself.
            Error::Kafka { source, .. } => {
                !matches!(
                    source,
                    rdkafka::error::KafkaError::ClientCreation(_)
                        | rdkafka::error::KafkaError::ClientConfig(..)
                ) && source.rdkafka_error_code() != Some(rdkafka::types::RDKafkaErrorCode::Fenced)
            }
            Error::Config { .. }
            | Error::Io { .. }
            | Error::BadRecord { .. }
            | Error::MissingTopics { .. }
            | Error::Thread { .. } => false,
        }
    }

    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

/// The pipeline's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
