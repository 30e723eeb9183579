//! The exactly-once loop that runs a [`StreamStage`] on Kafka.
//!
//! Consume → process → produce inside one Kafka transaction that also
//! commits the consumer offsets (`send_offsets_to_transaction`), so an
//! input's outputs and its "done" mark become visible together or not at
//! all. A transaction stays open for `transaction_ms` or `max_batch`
//! inputs, whichever comes first: tens of milliseconds amortise the commit
//! over thousands of records. While the stage has a backlog it stays open
//! longer, up to `backlog_transaction_ms` (see `window`).
//!
//! Local state (RocksDB) follows Kafka, never leads it: a stage's state
//! changes are written to its changelog topic inside the transaction and to
//! RocksDB only after the commit. When a partition is (re)assigned, its
//! changelog partition is read back into RocksDB before its first record
//! is processed, so a crash between commit and local write, a lost disk or
//! a partition that moved from another instance all end in the same state.
//!
//! What goes wrong, and what happens then:
//! * a rebalance while a transaction is open, or an error the transaction
//!   can be aborted for: abort, forget pending state, rewind the consumer
//!   to the committed offsets, carry on;
//! * an ambiguous or fatal producer error (a commit that timed out, a
//!   broker that went away): the producer is re-created rather than retried
//!   blindly — its `init_transactions` fences and aborts whatever the old
//!   one left open — then as above, and every assigned partition's state
//!   is read back from its changelog before the next record: a commit that
//!   timed out may still have committed, and then the changelog holds
//!   changes the local store never saw;
//! * a transactional call that outlives its own timeout (a librdkafka bug,
//!   see `txn`): abandoned, then as for an ambiguous error; after
//!   [`MAX_ABANDONED_CALLS`] the stage stops, and with it the service, for
//!   its supervisor to start a clean process;
//! * a fenced producer (another live instance with this transactional id):
//!   stop with an error; two instances must not share an `instance_id`.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::producer::{Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::client::{self, kafka_error};
use super::context::Quiet;
use super::context::Watch;
pub use super::records::{origin_header, ORIGIN_HEADER};
use super::records::{send, send_outputs, Polled, Record};
use super::stage::{Input, Output, StreamStage};
use super::table::KeyValue;
use super::txn::{self, Caller};
use super::window::Window;
use super::KafkaConfig;
use crate::error::{Error, Result};
use crate::metrics as m;
use crate::stages::READ_AHEAD_BATCH;

pub(super) type TxProducer = ThreadedProducer<Quiet>;

/// Transactional calls a stage abandons (each leaves a librdkafka producer
/// and a thread behind) before it stops for a clean restart.
pub const MAX_ABANDONED_CALLS: usize = 3;

/// How a failed transaction is recovered.
#[derive(Debug)]
pub(super) enum Failure {
    /// Abort it, rewind, carry on with the same producer.
    Abort(String),
    /// Re-create the producer (fences the old one), rewind, carry on.
    Recreate(String),
    /// Stop.
    Fatal(Error),
}

pub(super) fn classify(context: &str, e: KafkaError) -> Failure {
    if let KafkaError::Transaction(rd) = &e {
        if rd.code() == RDKafkaErrorCode::Fenced || rd.code() == RDKafkaErrorCode::ProducerFenced {
            return Failure::Fatal(Error::Kafka {
                context: format!(
                    "{context}: this instance's transactional id is in use by another \
                     running instance (give each instance its own service.instance_id)"
                ),
                source: e,
            });
        }
        if rd.txn_requires_abort() {
            return Failure::Abort(format!("{context}: {e}"));
        }
    }
    Failure::Recreate(format!("{context}: {e}"))
}

/// Runs one stage until `stop` is set.
pub struct Driver<S: StreamStage> {
    stage: S,
    config: KafkaConfig,
    transactional_id: String,
    consumer: BaseConsumer<Watch>,
    restored: HashSet<i32>,
    timeout: Duration,
    /// Makes the blocking transactional calls, with a deadline.
    caller: Caller,
}

impl<S: StreamStage> Driver<S> {
    /// A driver for `stage`, in consumer group `{group_prefix}-{stage}`,
    /// with transactional id `{instance}-{stage}`.
    ///
    /// # Errors
    /// librdkafka refuses the configuration.
    pub fn new(stage: S, config: &KafkaConfig, instance: &str) -> Result<Self> {
        let name = stage.name();
        let group = format!("{}-{name}", config.group_prefix);
        let watch = Watch::new(name, stage.input_topic());
        let mut consumer_config = client::group_consumer(config, &group);
        consumer_config.set("statistics.interval.ms", "5000");
        let consumer: BaseConsumer<Watch> = consumer_config
            .create_with_context(watch)
            .map_err(kafka_error("creating the consumer"))?;
        Ok(Driver {
            transactional_id: format!("{instance}-{name}"),
            stage,
            config: config.clone(),
            consumer,
            restored: HashSet::new(),
            timeout: Duration::from_millis(config.request_timeout_ms),
            // Thread names keep 15 bytes: `paymatch-stage1-txn` would show
            // as the stage's own thread in `top` and the harness.
            caller: Caller::new(&format!("{name}-txn")),
        })
    }

    /// A transactional producer, ready (`init_transactions` done), retried
    /// with backoff until the broker answers or `stop` is set.
    fn producer(&mut self, stop: &AtomicBool) -> Result<Option<Arc<TxProducer>>> {
        let mut backoff = Duration::from_millis(200);
        loop {
            let producer: Arc<TxProducer> = Arc::new(
                client::transactional_producer(&self.config, &self.transactional_id)
                    .create_with_context(Quiet::new(self.stage.name()))
                    .map_err(kafka_error("creating the transactional producer"))?,
            );
            match self.bounded(&producer, "init_transactions", |p, t| {
                p.init_transactions(t)
            }) {
                Ok(()) => return Ok(Some(producer)),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Abort(why) | Failure::Recreate(why)) => {
                    tracing::warn!(
                        stage = self.stage.name(),
                        why,
                        "init_transactions failed; retrying"
                    );
                }
            }
            if stop.load(Ordering::SeqCst) {
                return Ok(None);
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Consumes, processes and commits until `stop` is set; the open
    /// transaction is committed before returning.
    ///
    /// # Errors
    /// A fenced producer, a storage failure, or a refused configuration.
    pub fn run(mut self, stop: &AtomicBool) -> Result<()> {
        let input = self.stage.input_topic().to_string();
        self.consumer
            .subscribe(&[&input])
            .map_err(kafka_error("subscribing"))?;
        let Some(mut producer) = self.producer(stop)? else {
            return Ok(());
        };
        let name = self.stage.name();
        tracing::info!(
            stage = name,
            input,
            transactional_id = self.transactional_id,
            "running"
        );
        while !stop.load(Ordering::SeqCst) {
            match self.transaction(&producer, stop) {
                Ok(()) => {}
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Abort(why)) => {
                    tracing::warn!(stage = name, why, "aborting the transaction");
                    m::aborted(name);
                    match self.bounded(&producer, "abort_transaction", |p, t| {
                        p.abort_transaction(t)
                    }) {
                        Ok(()) => {}
                        Err(Failure::Fatal(e)) => return Err(e),
                        Err(Failure::Abort(why) | Failure::Recreate(why)) => {
                            tracing::warn!(
                                stage = name,
                                why,
                                "abort failed; re-creating the producer"
                            );
                            drop(producer);
                            m::producer_recreated(name);
                            producer = match self.producer(stop)? {
                                Some(p) => p,
                                None => return Ok(()),
                            };
                        }
                    }
                    self.rewind(stop);
                }
                Err(Failure::Recreate(why)) => {
                    tracing::warn!(stage = name, why, "re-creating the producer");
                    m::aborted(name);
                    m::producer_recreated(name);
                    drop(producer);
                    producer = match self.producer(stop)? {
                        Some(p) => p,
                        None => return Ok(()),
                    };
                    // The outcome was unknown: read the committed state back.
                    self.restored.clear();
                    self.rewind(stop);
                }
            }
        }
        self.consumer.unsubscribe();
        tracing::info!(stage = name, "stopped");
        Ok(())
    }

    /// Forgets pending state and moves the consumer back to the committed
    /// offsets, so the aborted inputs are processed again. Retried with
    /// backoff until it succeeds or `stop` is set: a consumer left where it
    /// was would skip the aborted inputs.
    fn rewind(&mut self, stop: &AtomicBool) {
        self.stage.state().discard();
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.seek_to_committed() {
                Ok(()) => return,
                Err(e) => tracing::warn!(stage = self.stage.name(), %e, "rewinding; retrying"),
            }
            if stop.load(Ordering::SeqCst) {
                // The next start reads from the committed offsets anyway.
                return;
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    fn seek_to_committed(&self) -> KafkaResult<()> {
        let committed = self.consumer.committed(self.timeout)?;
        let mut seek = TopicPartitionList::new();
        for e in committed.elements() {
            let offset = match e.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            seek.add_partition_offset(e.topic(), e.partition(), offset)?;
        }
        if seek.count() > 0 {
            let sought = self.consumer.seek_partitions(seek, self.timeout)?;
            for e in sought.elements() {
                e.error()?;
            }
        }
        Ok(())
    }

    /// Makes the blocking transactional call `f` (given the producer and
    /// the request timeout) on the caller thread, with a deadline.
    fn bounded<T: Send + 'static>(
        &mut self,
        producer: &Arc<TxProducer>,
        call: &'static str,
        f: impl FnOnce(&TxProducer, Duration) -> KafkaResult<T> + Send + 'static,
    ) -> Result<T, Failure> {
        let held = Arc::clone(producer);
        let timeout = self.timeout;
        match self
            .caller
            .call(call, txn::deadline_for(timeout), move || f(&held, timeout))
        {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(classify(call, e)),
            Err(panicked @ txn::Unanswered::Panicked { .. }) => {
                Err(Failure::Fatal(Error::Thread {
                    name: format!("{}-txn", self.stage.name()),
                    detail: panicked.to_string(),
                }))
            }
            Err(outlived @ txn::Unanswered::Outlived { .. }) => {
                let name = self.stage.name();
                tracing::error!(stage = name, %outlived, "abandoning a transactional call");
                m::call_abandoned(name, call);
                if self.caller.abandoned() >= MAX_ABANDONED_CALLS {
                    return Err(Failure::Fatal(Error::Thread {
                        name: format!("{name}-txn"),
                        detail: format!(
                            "{} transactional calls abandoned (the last: {outlived}); \
                             stopping for a clean restart",
                            self.caller.abandoned()
                        ),
                    }));
                }
                Err(Failure::Recreate(outlived.to_string()))
            }
        }
    }

    /// Adds the records the consumer has already fetched to `batch`, up to
    /// `room`, without waiting for more.
    fn poll_fetched(&self, batch: &mut Vec<Polled>, room: usize) {
        while batch.len() < room {
            match self.consumer.poll(Duration::ZERO) {
                Some(Ok(msg)) => batch.push(Polled::copy(&msg)),
                Some(Err(e)) => {
                    tracing::warn!(stage = self.stage.name(), %e, "consumer");
                    return;
                }
                None => return,
            }
        }
    }

    /// Restores `partition`'s state (and that of every other assigned
    /// partition not restored yet) unless it already was.
    fn restore_if_new(&mut self, partition: i32) -> Result<(), Failure> {
        if self.restored.contains(&partition) {
            return Ok(());
        }
        self.restore_assigned(partition).map_err(|e| {
            if e.is_retryable() {
                Failure::Recreate(format!("restoring state: {e}"))
            } else {
                Failure::Fatal(e)
            }
        })
    }

    /// Reads the changelog partitions of every assigned input partition not
    /// restored yet (and of `partition`, which a record just came from)
    /// back into local state, with one reader.
    fn restore_assigned(&mut self, partition: i32) -> Result<()> {
        let started = Instant::now();
        let assigned = self
            .consumer
            .assignment()
            .map_err(kafka_error("reading the assignment"))?;
        let mut partitions: Vec<i32> = assigned
            .elements()
            .iter()
            .map(|e| e.partition())
            .chain([partition])
            .filter(|p| !self.restored.contains(p))
            .collect();
        partitions.sort_unstable();
        partitions.dedup();
        let changelog = self.stage.changelog_topic().to_string();
        let n = super::table::read_partitions(&self.config, &changelog, &partitions, |batch| {
            self.stage.state().restore(batch)
        })?;
        self.restored.extend(partitions.iter().copied());
        m::state_restored(self.stage.name(), n);
        tracing::info!(
            stage = self.stage.name(),
            ?partitions,
            records = n,
            seconds = started.elapsed().as_secs_f64(),
            "state restored from the changelog"
        );
        Ok(())
    }

    /// One transaction: up to `transaction_ms` (longer in a backlog) or
    /// `max_batch` inputs.
    fn transaction(
        &mut self,
        producer: &Arc<TxProducer>,
        stop: &AtomicBool,
    ) -> Result<(), Failure> {
        let name = self.stage.name();
        let generation = self.consumer.context().rebalances();
        let mut open: Option<Window> = None;
        let mut offsets: BTreeMap<i32, i64> = BTreeMap::new();
        let mut origins: Vec<i64> = Vec::new();
        let mut inputs = 0usize;
        let mut outputs: Vec<Output> = Vec::new();
        let mut batch: Vec<Polled> = Vec::with_capacity(READ_AHEAD_BATCH);
        let mut ends: Vec<usize> = Vec::with_capacity(READ_AHEAD_BATCH);
        let step = Duration::from_millis(self.config.transaction_ms);
        let longest = Duration::from_millis(self.config.backlog_transaction_ms);
        let bursts = self.stage.input_arrives_in_bursts();
        loop {
            let wait = match &open {
                Some(window) => window.poll_timeout(Instant::now()),
                None => Duration::from_millis(100),
            };
            let polling = Instant::now();
            let polled = self.consumer.poll(wait);
            if let Some(window) = &mut open {
                window.waited(polling.elapsed(), polled.is_some());
            }
            // What the consumer has already fetched joins the polled record,
            // without waiting: stage 1 reads a batch's lookups ahead together.
            batch.clear();
            match polled {
                None => {}
                Some(Err(e)) => tracing::warn!(stage = name, %e, "consumer"),
                Some(Ok(msg)) => {
                    batch.push(Polled::copy(&msg));
                    drop(msg);
                    let room = READ_AHEAD_BATCH.min(self.config.max_batch.saturating_sub(inputs));
                    self.poll_fetched(&mut batch, room);
                }
            }
            if self.consumer.context().rebalances() != generation {
                self.restored.clear();
                if open.is_some() {
                    return Err(Failure::Abort("partitions were reassigned".into()));
                }
                return Ok(());
            }
            if !batch.is_empty() {
                // State first, outside any transaction (a long restore must
                // not hold one open).
                for polled in &batch {
                    self.restore_if_new(polled.source.partition)?;
                }
                if open.is_none() {
                    producer
                        .begin_transaction()
                        .map_err(|e| classify("begin_transaction", e))?;
                    open = Some(Window::open(Instant::now(), step, longest, bursts));
                }
                let records: Vec<Input<'_>> = batch.iter().map(Polled::input).collect();
                ends.clear();
                self.stage
                    .process_batch(&records, &mut outputs, &mut ends)
                    .map_err(Failure::Fatal)?;
                send_outputs(producer, &batch, &ends, &mut outputs)?;
                for polled in &batch {
                    offsets.insert(polled.source.partition, polled.source.offset + 1);
                    inputs += 1;
                    if let Some(o) = polled.origin {
                        origins.push(o);
                        if let Some(window) = &mut open {
                            window.took(o);
                        }
                    }
                }
            }
            let full = inputs >= self.config.max_batch;
            let Some(window) = &mut open else {
                return Ok(());
            };
            let now = Instant::now();
            let ended = full
                || window.drained()
                || stop.load(Ordering::SeqCst)
                || (window.expired(now)
                    && !window.extend_if_behind(now, chrono::Utc::now().timestamp_millis()));
            if ended {
                return self.commit(producer, &offsets, inputs, &origins);
            }
        }
    }

    fn commit(
        &mut self,
        producer: &Arc<TxProducer>,
        offsets: &BTreeMap<i32, i64>,
        inputs: usize,
        origins: &[i64],
    ) -> Result<(), Failure> {
        let started = Instant::now();
        // The state this transaction changed goes to the changelog inside
        // it (taken once, at the end: stage 1 writes its dedupe entries in
        // blocks); after the commit the same bytes go to the local store.
        let changelog = self.stage.changelog_topic().to_string();
        let mut changes: Vec<KeyValue> = Vec::new();
        for change in self.stage.state().take_changes() {
            let record = Record {
                topic: &changelog,
                key: Some(&change.key),
                value: &change.value,
                partition: Some(change.partition),
                timestamp: None,
                headers: None,
            };
            send(producer, record)?;
            changes.push((change.key.into_bytes(), Some(change.value)));
        }
        let input = self.stage.input_topic().to_string();
        let mut tpl = TopicPartitionList::new();
        for (partition, offset) in offsets {
            tpl.add_partition_offset(&input, *partition, Offset::Offset(*offset))
                .map_err(|e| Failure::Abort(e.to_string()))?;
        }
        let group = self
            .consumer
            .group_metadata()
            .ok_or_else(|| Failure::Abort("no consumer group metadata yet".into()))?;
        // Wait for the outputs' acknowledgements here, in short steps: the
        // flush inside rdkafka's `commit_transaction` sleeps in 100 ms
        // polls while our producer's own thread serves the deliveries,
        // which added 100 ms to every transaction.
        //
        // Each step also calls a zero-timeout flush. librdkafka treats
        // `linger.ms` as elapsed while a flush call lasts, and wakes its
        // broker threads to send. Without that call, the records produced
        // in the last `linger.ms` waited out their linger before the
        // commit could go on. A zero-timeout flush holds
        // the flag only briefly, so not every call catches a broker thread
        // awake; called every step, enough do. Measured: commits of 500 ms
        // windows 318 → 121 ms, and 32k → 43k payments/s (BENCHMARKS,
        // session 11).
        let acks = Instant::now();
        let deadline = acks + self.timeout;
        while producer.in_flight_count() > 0 && Instant::now() < deadline {
            // "Timed out" is the expected answer while records are in flight.
            let _ = producer.flush(Duration::ZERO);
            std::thread::sleep(Duration::from_micros(500));
        }
        let offsets_sent = Instant::now();
        self.bounded(producer, "send_offsets_to_transaction", move |p, t| {
            p.send_offsets_to_transaction(&tpl, &group, t)
        })?;
        let ending = Instant::now();
        self.bounded(producer, "commit_transaction", |p, t| {
            p.commit_transaction(t)
        })?;
        m::commit_steps(
            self.stage.name(),
            (offsets_sent - acks).as_secs_f64(),
            (ending - offsets_sent).as_secs_f64(),
            ending.elapsed().as_secs_f64(),
        );
        // Kafka has it: now the local copy.
        self.stage
            .state()
            .committed(changes)
            .map_err(Failure::Fatal)?;
        let now_ms = chrono::Utc::now().timestamp_millis();
        let ages: Vec<f64> = origins
            .iter()
            .map(|o| (now_ms - o).max(0) as f64 / 1000.0)
            .collect();
        m::committed(
            self.stage.name(),
            inputs,
            started.elapsed().as_secs_f64(),
            &ages,
        );
        Ok(())
    }
}

/// Runs `f` on a thread named after the stage; the handle's result is the
/// driver's.
pub fn spawn<S: StreamStage + 'static>(
    driver: Driver<S>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Result<()>> {
    let name = driver.stage.name();
    std::thread::Builder::new()
        .name(format!("paymatch-{name}"))
        .spawn(move || {
            let result = driver.run(&stop);
            // One stage failing stops the other: the service exits and its
            // supervisor restarts it.
            stop.store(true, Ordering::SeqCst);
            result
        })
        .expect("spawning a stage thread")
}
