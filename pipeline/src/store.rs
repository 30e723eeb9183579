//! Opening the store that holds the index, dedupe and state: RocksDB in a
//! directory the operator names (kept between runs, so redeliveries across
//! runs are caught), or RocksDB in a temporary directory removed at the end.

use std::path::PathBuf;
use std::sync::Arc;

use matchers::index::{FuzzyBounds, KeyRules};
use matchers::store::{CachedStore, KvStore, RocksOptions, RocksStore, Table};
use matchers::CustomerIndex;

use crate::config::Config;
use crate::error::{Error, Result};

/// A store and, for a temporary one, the directory that dies with it.
pub struct OpenedStore {
    /// The store.
    pub store: Arc<dyn KvStore>,
    /// Where it lives.
    pub path: PathBuf,
    _temporary: Option<tempfile::TempDir>,
}

/// Opens RocksDB in `dir`, or in a temporary directory when `None`.
///
/// # Errors
/// The directory cannot be created, or RocksDB refuses it (held by another
/// process: only one paymatch may use a state directory at a time).
pub fn open(dir: Option<PathBuf>, config: &Config) -> Result<OpenedStore> {
    let (path, temporary) = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d).map_err(Error::io(&d))?;
            (d, None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("paymatch-state-")
                .tempdir()
                .map_err(Error::io(std::env::temp_dir()))?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let options = RocksOptions {
        path: path.clone(),
        block_cache_mb: config.store.block_cache_mb,
        // Embedded runs flush at the end; their inputs are files to rerun.
        disable_wal: true,
    };
    let rocks: Arc<dyn KvStore> = Arc::new(RocksStore::open(&options)?);
    let store: Arc<dyn KvStore> = if config.store.cache_entries > 0 {
        let index_tables = [Table::Customers, Table::Invoices, Table::Refs];
        // Typo keys are held too: they are many (about ten per account or
        // invoice number), but a typo lookup reads `len + 1` of them, and
        // from RocksDB that was the largest cost of matching at a million
        // customers (docs/BENCHMARKS.md).
        Arc::new(CachedStore::new(
            rocks,
            &index_tables,
            &[],
            config.store.cache_entries,
        ))
    } else {
        rocks
    };
    Ok(OpenedStore {
        store,
        path,
        _temporary: temporary,
    })
}

/// The customer index over a store, shaped by the configuration.
pub fn index(store: Arc<dyn KvStore>, config: &Config) -> CustomerIndex {
    let rules = KeyRules {
        default_country_code: config.providers.default_country_code.clone(),
        fuzzy_min_len: config.store.fuzzy_min_len,
    };
    CustomerIndex::new(store, rules, FuzzyBounds::default())
}
