//! Errors of the reconciliation jobs, grouped by whose fault they are:
//! the operator's input (a missing file, a wrong format, a statement that
//! does not belong to this ledger) or the engine's (DataFusion, Arrow,
//! Parquet, I/O). Bad *lines* are not errors: they are reported with their
//! line numbers next to the results (see [`crate::statement::BadLine`]).

use std::path::PathBuf;

/// What went wrong in a reconciliation job.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input file does not exist.
    #[error("{what} not found: {path}")]
    MissingFile {
        /// Which input (`ledger`, `statement`, …).
        what: &'static str,
        /// The path given.
        path: PathBuf,
    },
    /// The statement does not look like the format asked for.
    #[error("{path} is not a `{format}` statement: {reason}")]
    WrongFormat {
        /// The statement file.
        path: PathBuf,
        /// The format asked for.
        format: String,
        /// What did not fit (the header found, the header expected, …).
        reason: String,
    },
    /// No statement format of that name.
    #[error("unknown statement format `{0}` (known: generic, mpesa, stripe)")]
    UnknownFormat(String),
    /// The ledger file's kind is not known from its name.
    #[error("cannot tell the ledger's format from {0}: use .jsonl, .csv, .parquet or a snapshot directory")]
    UnknownLedgerFormat(PathBuf),
    /// A ledger line that cannot be read (a ledger is our own output: a bad
    /// line there is a fault worth stopping for).
    #[error("{path}:{line}: {reason}")]
    BadLedgerLine {
        /// The ledger file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Why.
        reason: String,
    },
    /// The statement's currencies are none of the ledger's.
    #[error("the statement is in {statement}, but the ledger's payments for {providers} are in {ledger}: wrong statement or wrong ledger?")]
    CurrencyNotInLedger {
        /// Currencies seen in the statement.
        statement: String,
        /// Currencies seen in the ledger (in scope).
        ledger: String,
        /// Providers in scope.
        providers: String,
    },
    /// Invalid arguments (an empty provider list, a bad option).
    #[error("{0}")]
    Invalid(String),
    /// Two txn ids got one grouping key (see `udf::txn_key`): a 120-bit
    /// hash collision, never seen, and refused rather than merged.
    #[error("txn ids `{}` and `{}` share a grouping key: the job stops rather than merge them; please report it", .0[0], .0[1])]
    KeyClash([String; 2]),
    /// DataFusion failed to plan or run a query.
    #[error("query failed: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Arrow failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Parquet failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Writing JSON failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Opens an input file; a missing one is [`Error::MissingFile`] naming
/// `what` it is.
///
/// # Errors
/// [`Error::MissingFile`] or [`Error::Io`].
pub(crate) fn open_input(path: &std::path::Path, what: &'static str) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::MissingFile {
            what,
            path: path.to_path_buf(),
        },
        _ => Error::io(path, e),
    })
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
