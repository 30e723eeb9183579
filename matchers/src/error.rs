//! Errors of the index and its store. These are the system's fault, not the
//! data's: a storage error is retried or stops the stage loudly; a corrupt
//! record is a bug.

/// An index or store failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// RocksDB refused an operation (disk full, lock held, I/O error).
    #[error("storage error: {0}")]
    Storage(#[from] rocksdb::Error),
    /// A stored value that does not decode: a bug or a disk from another
    /// version.
    #[error("corrupt value in {table} for key {key:?}: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The key, lossily printed.
        key: String,
        /// What failed.
        detail: String,
    },
}

impl Error {
    /// Whether retrying the same operation may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Storage(e) => matches!(
                e.kind(),
                rocksdb::ErrorKind::Busy
                    | rocksdb::ErrorKind::TimedOut
                    | rocksdb::ErrorKind::TryAgain
                    | rocksdb::ErrorKind::Incomplete
            ),
            Error::Corrupt { .. } => false,
        }
    }
}

/// The matchers crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
