//! The DataFusion session every job runs in: one partition per core, and
//! in-memory tables split across those partitions so scans run in parallel.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::Result;

/// Cores to use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// A session sized for this machine, with any `DATAFUSION_*` settings
/// from the environment.
pub fn session() -> SessionContext {
    // `DATAFUSION_*` variables (e.g. `DATAFUSION_EXECUTION_BATCH_SIZE`) tune
    // the engine; partitions follow the cores.
    let mut config = SessionConfig::from_env()
        .unwrap_or_default()
        .with_target_partitions(cores())
        .with_batch_size(16 * 1024)
        .with_information_schema(true);
    // Parquet we write is Snappy, as every file of ours is
    // ([`crate::job::writer_properties`]): DataFusion's default, zstd(3),
    // spent a tenth of a 10M-row reconciliation compressing.
    config.options_mut().execution.parquet.compression = Some("snappy".into());
    // Parquet strings read as `Utf8`, the type every table and function
    // here uses: as `Utf8View` (DataFusion's default) each string column
    // of a 10M-row ledger was read and then cast, a copy of each.
    config
        .options_mut()
        .execution
        .parquet
        .schema_force_view_types = false;
    let ctx = SessionContext::new_with_config(config);
    crate::udf::register(&ctx);
    ctx
}

/// A runtime for the async DataFusion calls of a synchronous command.
///
/// # Errors
/// When the operating system refuses threads.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores())
        .enable_all()
        .build()
        .map_err(|e| crate::Error::io("tokio runtime", e))
}

/// Registers `batches` as table `name`, dealt round-robin into one
/// partition per core.
///
/// # Errors
/// When a batch does not have `schema`.
pub fn register_batches(
    ctx: &SessionContext,
    name: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<()> {
    let n = cores();
    let mut partitions = vec![Vec::new(); n];
    for (i, batch) in batches.into_iter().enumerate() {
        partitions[i % n].push(batch);
    }
    let table = MemTable::try_new(schema, partitions)?;
    ctx.register_table(name, Arc::new(table))?;
    Ok(())
}
