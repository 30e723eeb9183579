//! `paymatch run`: the streaming service.
//!
//! Start-up, in order: check the broker and the topics (clear errors, not a
//! consumer that waits for ever); start `/metrics`; rebuild the local
//! RocksDB from Kafka — the state directory is a cache, wiped and refilled
//! on every start, so a lost or stale disk is never a question; load the
//! customers and invoices topics to their end into the index; then run
//! stage 1 and stage 2, each on its own thread with its own consumer group
//! and transactional producer, while a third thread keeps following the
//! table topics. SIGTERM or SIGINT commits the open transactions and stops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::driver::{self, Driver};
use super::stage::{Stage1Stream, Stage2Stream};
use super::table::GlobalTable;
use super::topics::{self, Topics};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::stages::{Stage1, Stage2};

/// Sets `stop` on SIGTERM or SIGINT.
fn on_signals(stop: Arc<AtomicBool>) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::io("signal handler"))?;
    let (mut term, mut int) = runtime
        .block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::terminate())?,
                signal(SignalKind::interrupt())?,
            ))
        })
        .map_err(Error::io("signal handler"))?;
    std::thread::Builder::new()
        .name("paymatch-signals".into())
        .spawn(move || {
            runtime.block_on(async {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM: finishing the open transactions"),
                    _ = int.recv() => tracing::info!("SIGINT: finishing the open transactions"),
                }
            });
            stop.store(true, Ordering::SeqCst);
        })
        .map_err(Error::io("signal handler"))?;
    Ok(())
}

/// Runs the service until a signal (or a fatal error).
///
/// # Errors
/// An unreachable broker, missing topics, a fenced producer, a storage
/// failure; the error names which.
pub fn run(config: &Config) -> Result<()> {
    let kafka = &config.kafka;
    let topics = Topics::new(&kafka.topic_prefix);
    let instance = config.service.instance();
    topics::check(kafka, &topics)?;
    let stop = Arc::new(AtomicBool::new(false));
    on_signals(stop.clone())?;
    if !config.service.metrics_listen.is_empty() {
        let handle = super::http::install()?;
        let addr = super::http::serve(&config.service.metrics_listen, handle, stop.clone())?;
        tracing::info!(%addr, "metrics on http://{addr}/metrics");
        eprintln!("paymatch: metrics on http://{addr}/metrics");
    }

    let state_dir = config.service.state_dir();
    if state_dir.exists() {
        std::fs::remove_dir_all(&state_dir).map_err(Error::io(&state_dir))?;
    }
    let opened = crate::store::open(Some(state_dir), config)?;
    let index = crate::store::index(opened.store.clone(), config);

    let started = Instant::now();
    let mut table = GlobalTable::new(kafka, &topics, index.clone())?;
    let records = table.load(Duration::from_millis(kafka.request_timeout_ms))?;
    index.compact()?;
    index.warm()?;
    tracing::info!(
        records,
        seconds = started.elapsed().as_secs_f64(),
        "index loaded from the customers and invoices topics"
    );
    let follower = table.follow(stop.clone());

    let stage1 = Stage1::new(
        index.clone(),
        config.providers.clone(),
        config.matching.clone(),
    )?
    .with_dedupe_memory_mb(config.store.dedupe_memory_mb);
    let stage2 = Stage2::new(index.clone(), config.access.clone());
    let one = Driver::new(Stage1Stream::new(stage1, topics.clone()), kafka, &instance)?;
    let two = Driver::new(Stage2Stream::new(stage2, topics.clone())?, kafka, &instance)?;
    let handles = [
        driver::spawn(one, stop.clone()),
        driver::spawn(two, stop.clone()),
        follower,
    ];
    eprintln!("paymatch: running as {instance} on {}", kafka.brokers);
    let mut first_error = None;
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(%e, "stopping");
                first_error.get_or_insert(e);
            }
            Err(_) => {
                first_error.get_or_insert(Error::Config {
                    detail: "a stage thread panicked".into(),
                });
            }
        }
    }
    opened.store.flush()?;
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
