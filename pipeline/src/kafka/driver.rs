//! The exactly-once loop that runs a [`StreamStage`] on Kafka.
//!
//! Consume → process → produce inside one Kafka transaction that also
//! commits the consumer offsets (`send_offsets_to_transaction`), so an
//! input's outputs and its "done" mark become visible together or not at
//! all. A transaction stays open for `transaction_ms` or `max_batch`
//! inputs, whichever comes first: tens of milliseconds amortise the commit
//! over thousands of records. While Kafka commits one transaction (tens of
//! milliseconds: the last deliveries, the offsets, the markers), the stage
//! goes on consuming and processing the next inputs; their outputs wait in
//! the next [`Window`] until its transaction begins, and their state reads
//! the committing one's ([`super::stage::StageState::seal`]).
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
//!   to the committed offsets, carry on (a rebalance during a commit lets
//!   the commit finish, then drops and rewinds what was taken meanwhile);
//! * an ambiguous or fatal producer error (a commit that timed out, a
//!   broker that went away): the producer is re-created rather than retried
//!   blindly — its `init_transactions` fences and aborts whatever the old
//!   one left open — then as above;
//! * a fenced producer (another live instance with this transactional id):
//!   stop with an error; two instances must not share an `instance_id`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::Producer;
use rdkafka::Offset;
use rdkafka::TopicPartitionList;

use super::client::{self, kafka_error};
pub use super::contexts::{Quiet, Watch};
use super::stage::{Input, Output, StreamStage};
pub use super::window::ORIGIN_HEADER;
use super::window::{classify, origin_ms, wait_for_deliveries, Failure, TxProducer, Window};
use super::KafkaConfig;
use crate::error::Result;
use crate::metrics as m;

/// Runs one stage until `stop` is set.
pub struct Driver<S: StreamStage> {
    stage: S,
    config: KafkaConfig,
    transactional_id: String,
    consumer: BaseConsumer<Watch>,
    restored: HashSet<i32>,
    timeout: Duration,
    /// Reused for each input's outputs.
    outputs: Vec<Output>,
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
        let watch = Watch::new(name, stage.input_topic().to_string());
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
            outputs: Vec::new(),
        })
    }

    /// A transactional producer, ready (`init_transactions` done), retried
    /// with backoff until the broker answers or `stop` is set.
    fn producer(&self, stop: &AtomicBool) -> Result<Option<TxProducer>> {
        let mut backoff = Duration::from_millis(200);
        loop {
            let producer: TxProducer =
                client::transactional_producer(&self.config, &self.transactional_id)
                    .create_with_context(Quiet::new(self.stage.name()))
                    .map_err(kafka_error("creating the transactional producer"))?;
            match producer.init_transactions(self.timeout) {
                Ok(()) => return Ok(Some(producer)),
                Err(e) => {
                    if let Failure::Fatal(e) = classify("init_transactions", e.clone()) {
                        return Err(e);
                    }
                    tracing::warn!(stage = self.stage.name(), %e, "init_transactions failed; retrying");
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
        // Inputs taken while the previous transaction committed.
        let mut next = Window::default();
        while !stop.load(Ordering::SeqCst) || !next.is_empty() {
            let failure = match self.transaction(&producer, stop, &mut next) {
                Ok(()) => continue,
                Err(failure) => failure,
            };
            next = Window::default();
            match failure {
                Failure::Fatal(e) => return Err(e),
                Failure::Abort(why) => {
                    tracing::warn!(stage = name, why, "aborting the transaction");
                    m::aborted(name);
                    if let Err(e) = producer.abort_transaction(self.timeout) {
                        tracing::warn!(stage = name, %e, "abort failed; re-creating the producer");
                        drop(producer);
                        m::producer_recreated(name);
                        producer = match self.producer(stop)? {
                            Some(p) => p,
                            None => return Ok(()),
                        };
                    }
                    self.rewind();
                }
                Failure::Recreate(why) => {
                    tracing::warn!(stage = name, why, "re-creating the producer");
                    m::aborted(name);
                    m::producer_recreated(name);
                    drop(producer);
                    producer = match self.producer(stop)? {
                        Some(p) => p,
                        None => return Ok(()),
                    };
                    self.rewind();
                }
            }
        }
        self.consumer.unsubscribe();
        tracing::info!(stage = name, "stopped");
        Ok(())
    }

    /// Forgets pending state and moves the consumer back to the committed
    /// offsets, so the aborted inputs are processed again.
    fn rewind(&mut self) {
        self.stage.state().discard();
        let committed = match self.consumer.committed(self.timeout) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(stage = self.stage.name(), %e, "reading committed offsets");
                return;
            }
        };
        let mut seek = TopicPartitionList::new();
        for e in committed.elements() {
            let offset = match e.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            let _ = seek.add_partition_offset(e.topic(), e.partition(), offset);
        }
        if seek.count() > 0 {
            if let Err(e) = self.consumer.seek_partitions(seek, self.timeout) {
                tracing::warn!(stage = self.stage.name(), %e, "rewinding");
            }
        }
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

    /// The next record, if one comes within `wait` (consumer errors are
    /// logged: librdkafka retries by itself).
    fn poll(&mut self, wait: Duration) -> Option<Consumed> {
        match self.consumer.poll(wait)? {
            Ok(msg) => Some(Consumed::from(&msg)),
            Err(e) => {
                tracing::warn!(stage = self.stage.name(), %e, "consumer");
                None
            }
        }
    }

    /// Whether the assignment changed since `generation`.
    fn rebalanced(&self, generation: u64) -> bool {
        self.consumer.context().rebalances() != generation
    }

    /// One transaction: the inputs of `next` (taken during the previous
    /// commit), then more, up to `transaction_ms` after the first or
    /// `max_batch`; then its commit, during which the following inputs go
    /// to `next`.
    fn transaction(
        &mut self,
        producer: &TxProducer,
        stop: &AtomicBool,
        next: &mut Window,
    ) -> Result<(), Failure> {
        let generation = self.consumer.context().rebalances();
        let changelog = self.stage.changelog_topic().to_string();
        let mut window = std::mem::take(next);
        if !window.is_empty() {
            window.begin(producer, &changelog)?;
        }
        while !window.is_due(self.config.max_batch) && !stop.load(Ordering::SeqCst) {
            let polled = self.poll(window.wait(Duration::from_millis(100)));
            if self.rebalanced(generation) {
                self.restored.clear();
                if window.is_empty() {
                    return Ok(());
                }
                return Err(Failure::Abort("partitions were reassigned".into()));
            }
            if let Some(input) = polled {
                self.accept(input, &mut window, Some(producer), &changelog)?;
            }
            if window.is_empty() {
                // Nothing to commit: let the caller look at `stop`.
                return Ok(());
            }
        }
        if window.is_empty() {
            return Ok(());
        }
        self.commit(producer, window, stop, next, generation, &changelog)
    }

    /// Processes one consumed record into `window`: its outputs go to
    /// `producer` once the window's transaction has begun (beginning it if
    /// `producer` is given), else they queue in the window.
    fn accept(
        &mut self,
        Consumed {
            partition,
            offset,
            origin,
            value,
        }: Consumed,
        window: &mut Window,
        producer: Option<&TxProducer>,
        changelog: &str,
    ) -> Result<(), Failure> {
        // State first, outside any transaction (a long restore must not
        // hold one open).
        if !self.restored.contains(&partition) {
            self.restore_assigned(partition).map_err(|e| {
                if e.is_retryable() {
                    Failure::Recreate(format!("restoring state: {e}"))
                } else {
                    Failure::Fatal(e)
                }
            })?;
        }
        if let Some(p) = producer {
            if !window.begun() {
                window.begin(p, changelog)?;
            }
        }
        window.consumed(
            partition,
            offset,
            origin,
            Duration::from_millis(self.config.transaction_ms),
        );
        let mut outputs = std::mem::take(&mut self.outputs);
        let processed = self.stage.process(Input { value: &value }, &mut outputs);
        for out in outputs.drain(..) {
            window.output(producer, out, origin)?;
        }
        self.outputs = outputs;
        processed.map_err(Failure::Fatal)?;
        for change in self.stage.state().take_changes() {
            window.change(producer, changelog, change, partition)?;
        }
        Ok(())
    }

    /// Commits `window`'s transaction. The commit runs on a helper thread
    /// while this one goes on consuming and processing into `next` (its
    /// outputs queue there until its transaction can begin); Kafka's
    /// commit takes tens of milliseconds in which the stage used to idle.
    fn commit(
        &mut self,
        producer: &TxProducer,
        window: Window,
        stop: &AtomicBool,
        next: &mut Window,
        generation: u64,
        changelog: &str,
    ) -> Result<(), Failure> {
        let started = Instant::now();
        let inputs = window.inputs();
        // The window's state becomes the committing one; `next` reads it.
        self.stage.state().seal();
        let tpl: TopicPartitionList = window.offsets(self.stage.input_topic())?;
        let group = self
            .consumer
            .group_metadata()
            .ok_or_else(|| Failure::Abort("no consumer group metadata yet".into()))?;
        let timeout = self.timeout;
        let max_batch = self.config.max_batch;
        let mut reassigned = false;
        let (committed, taken) = std::thread::scope(|scope| {
            let commit = scope.spawn(|| {
                wait_for_deliveries(producer, timeout);
                producer
                    .send_offsets_to_transaction(&tpl, &group, timeout)
                    .map_err(|e| classify("send_offsets_to_transaction", e))?;
                producer
                    .commit_transaction(timeout)
                    .map_err(|e| classify("commit_transaction", e))
            });
            let mut taken = Ok(());
            while !commit.is_finished() {
                if stop.load(Ordering::SeqCst) || next.inputs() >= max_batch || taken.is_err() {
                    std::thread::sleep(Duration::from_micros(200));
                    continue;
                }
                let polled = self.poll(Duration::from_millis(1));
                if self.rebalanced(generation) {
                    reassigned = true;
                    break;
                }
                if let Some(input) = polled {
                    taken = self.accept(input, next, None, changelog);
                }
            }
            let committed = commit
                .join()
                .unwrap_or_else(|_| Err(Failure::Recreate("the commit thread panicked".into())));
            (committed, taken)
        });
        if reassigned {
            self.restored.clear();
        }
        // `next` is rewound with this transaction when it failed (the
        // caller aborts and rewinds).
        committed?;
        // Kafka has it: now the local copy.
        let (changes, origins) = window.into_committed();
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
        match taken {
            Ok(()) if !reassigned => return Ok(()),
            Err(Failure::Fatal(e)) => return Err(Failure::Fatal(e)),
            Err(failure) => tracing::warn!(
                stage = self.stage.name(),
                ?failure,
                "dropping the inputs taken during the commit; they are read again"
            ),
            Ok(()) => {}
        }
        // What `next` took is not this instance's to commit any more, or
        // could not be processed: its transaction never began, so there
        // is nothing to abort; read those inputs again.
        *next = Window::default();
        self.rewind();
        Ok(())
    }
}

/// A consumed record, copied out of the consumer's buffer (which stays
/// borrowed while a message lives).
struct Consumed {
    partition: i32,
    offset: i64,
    origin: Option<i64>,
    value: Vec<u8>,
}

impl From<&BorrowedMessage<'_>> for Consumed {
    fn from(msg: &BorrowedMessage<'_>) -> Self {
        Consumed {
            partition: msg.partition(),
            offset: msg.offset(),
            origin: origin_ms(msg),
            value: msg.payload().unwrap_or_default().to_vec(),
        }
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
