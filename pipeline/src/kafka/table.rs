//! Reading compacted topics into local state.
//!
//! * [`read_partitions`]: changelog partitions, start to end, in batches
//!   (a stage restoring the state of the partitions it was assigned).
//! * [`GlobalTable`]: the customers and invoices topics, every partition,
//!   into the customer index — first to their end (the service does not
//!   match before the index is whole), then followed for ever, so a
//!   customer added or changed upstream is matchable within a second.
//!   Every instance reads every partition: the index is a global table.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use matchers::CustomerIndex;
use model::{Customer, Invoice};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::client::{self, kafka_error};
use super::topics::Topics;
use super::KafkaConfig;
use crate::error::{Error, Result};

/// Records handed to the caller at once.
const BATCH: usize = 10_000;

/// A key and its value (`None`: a tombstone).
pub type KeyValue = (Vec<u8>, Option<Vec<u8>>);

/// Reads the given partitions of `topic` from their start to their current
/// end (read_committed) with one consumer, handing records to `apply` in
/// batches; returns how many were read. Empty partitions cost one
/// watermark request each.
///
/// # Errors
/// The broker does not answer within the request timeout, or `apply` fails.
pub fn read_partitions(
    config: &KafkaConfig,
    topic: &str,
    partitions: &[i32],
    mut apply: impl FnMut(&[KeyValue]) -> Result<()>,
) -> Result<usize> {
    let reader: BaseConsumer = client::table_reader(config)
        .create()
        .map_err(kafka_error("creating a changelog reader"))?;
    let timeout = Duration::from_millis(config.request_timeout_ms);
    let mut tpl = TopicPartitionList::new();
    let mut pending: HashSet<i32> = HashSet::new();
    for &partition in partitions {
        let (low, high) = reader
            .fetch_watermarks(topic, partition, timeout)
            .map_err(kafka_error("reading changelog watermarks"))?;
        if high > low {
            tpl.add_partition_offset(topic, partition, Offset::Beginning)
                .map_err(kafka_error("assigning a changelog partition"))?;
            pending.insert(partition);
        }
    }
    if pending.is_empty() {
        return Ok(0);
    }
    reader
        .assign(&tpl)
        .map_err(kafka_error("assigning changelog partitions"))?;
    let mut batch: Vec<KeyValue> = Vec::with_capacity(BATCH);
    let mut total = 0;
    let mut last_progress = Instant::now();
    while !pending.is_empty() {
        match reader.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                last_progress = Instant::now();
                batch.push((
                    m.key().unwrap_or_default().to_vec(),
                    m.payload().map(<[u8]>::to_vec),
                ));
                if batch.len() >= BATCH {
                    total += batch.len();
                    apply(&batch)?;
                    batch.clear();
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                pending.remove(&p);
            }
            Some(Err(e)) => tracing::warn!(topic, %e, "reading a changelog"),
            None => {}
        }
        if last_progress.elapsed() > timeout {
            return Err(Error::Kafka {
                context: format!("reading {topic} partitions {pending:?}: no progress"),
                source: KafkaError::PartitionEOF(-1),
            });
        }
    }
    total += batch.len();
    apply(&batch)?;
    Ok(total)
}

/// Applies customer and invoice records to the index.
struct IndexApplier {
    index: CustomerIndex,
    customers_topic: String,
}

impl IndexApplier {
    fn apply(&self, records: &[(String, KeyValue)]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut writer = self.index.writer();
        let (mut customers, mut invoices) = (0, 0);
        for (topic, (key, value)) in records {
            let key = String::from_utf8_lossy(key);
            let is_customer = *topic == self.customers_topic;
            let applied = match (is_customer, value) {
                (true, None) => writer.delete_customer(&key).map(|_| true),
                (false, None) => writer.delete_invoice(&key).map(|_| true),
                (true, Some(v)) => match serde_json::from_slice::<Customer>(v) {
                    Ok(c) => writer.upsert_customer(c).map(|_| true),
                    Err(e) => {
                        tracing::warn!(topic, %key, %e, "customer record refused");
                        Ok(false)
                    }
                },
                (false, Some(v)) => match serde_json::from_slice::<Invoice>(v) {
                    Ok(i) => writer.upsert_invoice(i).map(|_| true),
                    Err(e) => {
                        tracing::warn!(topic, %key, %e, "invoice record refused");
                        Ok(false)
                    }
                },
            }?;
            if applied && is_customer {
                customers += 1;
            } else if applied {
                invoices += 1;
            }
        }
        writer.commit()?;
        crate::metrics::index_updates("customers", customers);
        crate::metrics::index_updates("invoices", invoices);
        Ok(())
    }
}

/// One table topic: its reader and which of its partitions reached the end.
struct TopicReader {
    topic: String,
    reader: BaseConsumer,
    partitions: usize,
    at_end: HashSet<i32>,
}

/// The customers and invoices topics, loaded and followed.
pub struct GlobalTable {
    readers: Vec<TopicReader>,
    applier: IndexApplier,
}

impl GlobalTable {
    /// Assigns every partition of both topics from the start.
    ///
    /// # Errors
    /// The broker does not answer, or the topics are missing.
    pub fn new(config: &KafkaConfig, topics: &Topics, index: CustomerIndex) -> Result<Self> {
        let counts = super::topics::partition_counts(config)?;
        let mut readers = Vec::new();
        for topic in [&topics.customers, &topics.invoices] {
            let n = counts
                .get(&**topic)
                .copied()
                .ok_or_else(|| Error::MissingTopics {
                    missing: vec![topic.to_string()],
                })?;
            let reader: BaseConsumer = client::table_reader(config)
                .create()
                .map_err(kafka_error("creating a table reader"))?;
            let mut tpl = TopicPartitionList::new();
            for p in 0..n as i32 {
                tpl.add_partition_offset(topic, p, Offset::Beginning)
                    .map_err(kafka_error("assigning table partitions"))?;
            }
            reader
                .assign(&tpl)
                .map_err(kafka_error("assigning table partitions"))?;
            readers.push(TopicReader {
                topic: topic.to_string(),
                reader,
                partitions: n,
                at_end: HashSet::new(),
            });
        }
        Ok(GlobalTable {
            readers,
            applier: IndexApplier {
                index,
                customers_topic: topics.customers.to_string(),
            },
        })
    }

    /// Reads what each topic has within `wait` (up to a batch) into the index.
    fn step(&mut self, wait: Duration) -> Result<usize> {
        let mut records = Vec::new();
        for r in &mut self.readers {
            let deadline = Instant::now() + wait;
            while records.len() < BATCH {
                let left = deadline.saturating_duration_since(Instant::now());
                match r.reader.poll(left) {
                    Some(Ok(m)) => records.push((
                        r.topic.clone(),
                        (
                            m.key().unwrap_or_default().to_vec(),
                            m.payload().map(<[u8]>::to_vec),
                        ),
                    )),
                    Some(Err(KafkaError::PartitionEOF(p))) => {
                        r.at_end.insert(p);
                    }
                    Some(Err(e)) => tracing::warn!(topic = r.topic, %e, "reading a table topic"),
                    None => break,
                }
                if left.is_zero() {
                    break;
                }
            }
        }
        self.applier.apply(&records)?;
        Ok(records.len())
    }

    /// Loads both topics to their end; returns the records read.
    ///
    /// # Errors
    /// No progress within `timeout`, or the index cannot be written.
    pub fn load(&mut self, timeout: Duration) -> Result<usize> {
        let mut total = 0;
        let mut last_progress = Instant::now();
        loop {
            let n = self.step(Duration::from_millis(100))?;
            total += n;
            if self.readers.iter().all(|r| r.at_end.len() >= r.partitions) {
                return Ok(total);
            }
            if n > 0 {
                last_progress = Instant::now();
            } else if last_progress.elapsed() > timeout {
                return Err(Error::Kafka {
                    context: "loading the customers and invoices topics: no progress".into(),
                    source: KafkaError::PartitionEOF(-1),
                });
            }
        }
    }

    /// Follows both topics on a thread until `stop` is set.
    pub fn follow(mut self, stop: Arc<AtomicBool>) -> JoinHandle<Result<()>> {
        std::thread::Builder::new()
            .name("paymatch-tables".into())
            .spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if let Err(e) = self.step(Duration::from_millis(50)) {
                        stop.store(true, Ordering::SeqCst);
                        return Err(e);
                    }
                }
                Ok(())
            })
            .expect("spawning the table follower")
    }
}
