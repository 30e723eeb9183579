//! One transaction's worth of work: the inputs it consumed, what they
//! produced, and how a failure of it is recovered.
//!
//! A window's outputs go to the producer as they are made while its
//! transaction is open. While the previous transaction commits, the
//! producer cannot take records for the next one (one open transaction per
//! producer), so the next window's outputs queue in the window and go out
//! in one burst once its transaction begins: the stage keeps working
//! during the commit instead of waiting for it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::contexts::Quiet;
use super::stage::Output;
use super::table::KeyValue;
use crate::error::Error;

/// Header carrying the raw payment's append time (ms since the epoch)
/// through both stages, for the end-to-end latency.
pub const ORIGIN_HEADER: &str = "paymatch-origin-ms";

/// The stages' transactional producer.
pub type TxProducer = ThreadedProducer<Quiet>;

/// How a failed transaction is recovered.
#[derive(Debug)]
pub enum Failure {
    /// Abort it, rewind, carry on with the same producer.
    Abort(String),
    /// Re-create the producer (fences the old one), rewind, carry on.
    Recreate(String),
    /// Stop.
    Fatal(Error),
}

/// Classifies a librdkafka error met while `context`.
pub fn classify(context: &str, e: KafkaError) -> Failure {
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

/// One transaction's inputs and outputs.
#[derive(Default)]
pub struct Window {
    /// When it closes: a transaction window after its first input.
    deadline: Option<Instant>,
    /// Whether its transaction has begun (outputs go straight out).
    begun: bool,
    /// The next offset to consume, per input partition.
    offsets: BTreeMap<i32, i64>,
    /// Inputs consumed.
    inputs: usize,
    /// The inputs' origin times, for the latency histogram.
    origins: Vec<i64>,
    /// State changes as written to the changelog; after the commit, the
    /// same bytes go to the local store.
    changes: Vec<KeyValue>,
    /// Outputs made before the transaction began, with their origin.
    queued: Vec<(Output, Option<i64>)>,
    /// Changelog partitions of the last `queued_changes.len()` changes,
    /// which were made before the transaction began.
    queued_changes: Vec<i32>,
}

impl Window {
    /// No inputs yet.
    pub fn is_empty(&self) -> bool {
        self.inputs == 0
    }

    /// Inputs consumed.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Whether its transaction has begun.
    pub fn begun(&self) -> bool {
        self.begun
    }

    /// How long to wait for the next input: until the window closes, or
    /// `idle` while it has none.
    pub fn wait(&self, idle: Duration) -> Duration {
        self.deadline
            .map_or(idle, |d| d.saturating_duration_since(Instant::now()))
    }

    /// Whether it should commit now: its time is up or it holds `max` inputs.
    pub fn is_due(&self, max: usize) -> bool {
        self.inputs >= max || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Records one consumed input (its outputs are added separately).
    pub fn consumed(&mut self, partition: i32, offset: i64, origin: Option<i64>, span: Duration) {
        if self.deadline.is_none() {
            self.deadline = Some(Instant::now() + span);
        }
        self.offsets.insert(partition, offset + 1);
        self.inputs += 1;
        if let Some(o) = origin {
            self.origins.push(o);
        }
    }

    /// Begins the transaction and produces what was queued before it.
    pub fn begin(&mut self, producer: &TxProducer, changelog: &str) -> Result<(), Failure> {
        producer
            .begin_transaction()
            .map_err(|e| classify("begin_transaction", e))?;
        self.begun = true;
        for (out, origin) in std::mem::take(&mut self.queued) {
            send(
                producer,
                &out.topic,
                out.key.as_deref().map(str::as_bytes),
                &out.value,
                None,
                origin,
            )?;
        }
        let first = self.changes.len() - self.queued_changes.len();
        for ((key, value), partition) in self.changes[first..].iter().zip(&self.queued_changes) {
            let value = value.as_deref().unwrap_or_default();
            send(
                producer,
                changelog,
                Some(key),
                value,
                Some(*partition),
                None,
            )?;
        }
        self.queued_changes.clear();
        Ok(())
    }

    /// An output: produced now when the transaction is open, else queued.
    pub fn output(
        &mut self,
        producer: Option<&TxProducer>,
        out: Output,
        origin: Option<i64>,
    ) -> Result<(), Failure> {
        match producer.filter(|_| self.begun) {
            Some(p) => send(
                p,
                &out.topic,
                out.key.as_deref().map(str::as_bytes),
                &out.value,
                None,
                origin,
            ),
            None => {
                self.queued.push((out, origin));
                Ok(())
            }
        }
    }

    /// A state change for the changelog's `partition`: produced now when
    /// the transaction is open, else queued; kept for the local store.
    pub fn change(
        &mut self,
        producer: Option<&TxProducer>,
        changelog: &str,
        (key, value): (String, Vec<u8>),
        partition: i32,
    ) -> Result<(), Failure> {
        match producer.filter(|_| self.begun) {
            Some(p) => send(
                p,
                changelog,
                Some(key.as_bytes()),
                &value,
                Some(partition),
                None,
            )?,
            None => self.queued_changes.push(partition),
        }
        self.changes.push((key.into_bytes(), Some(value)));
        Ok(())
    }

    /// The offsets to commit with the transaction, for topic `input`.
    pub fn offsets(&self, input: &str) -> Result<TopicPartitionList, Failure> {
        let mut tpl = TopicPartitionList::new();
        for (partition, offset) in &self.offsets {
            tpl.add_partition_offset(input, *partition, Offset::Offset(*offset))
                .map_err(|e| Failure::Abort(e.to_string()))?;
        }
        Ok(tpl)
    }

    /// What the local store needs once the transaction committed, and the
    /// origins for the latency histogram.
    pub fn into_committed(self) -> (Vec<KeyValue>, Vec<i64>) {
        (self.changes, self.origins)
    }
}

/// The raw payment's append time: the origin header when an earlier stage
/// set one, else the message's own timestamp.
pub fn origin_ms<M: Message>(msg: &M) -> Option<i64> {
    if let Some(headers) = msg.headers() {
        for h in headers.iter() {
            if h.key == ORIGIN_HEADER {
                if let Some(v) = h.value.and_then(|v| std::str::from_utf8(v).ok()) {
                    return v.parse().ok();
                }
            }
        }
    }
    msg.timestamp().to_millis()
}

/// Queues one record, waiting while the producer's queue is full.
fn send(
    producer: &TxProducer,
    topic: &str,
    key: Option<&[u8]>,
    value: &[u8],
    partition: Option<i32>,
    origin: Option<i64>,
) -> Result<(), Failure> {
    let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).payload(value);
    if let Some(k) = key {
        record = record.key(k);
    }
    if let Some(p) = partition {
        record = record.partition(p);
    }
    if let Some(o) = origin {
        record = record.headers(OwnedHeaders::new().insert(Header {
            key: ORIGIN_HEADER,
            value: Some(&o.to_string()),
        }));
    }
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((e, _)) => return Err(classify("producing", e)),
        }
    }
}

/// Waits until every record produced so far is acknowledged (or `timeout`
/// passes), in short steps: the flush inside rdkafka's
/// `commit_transaction` sleeps in 100 ms polls while the producer's own
/// thread serves the deliveries, which added 100 ms to every transaction.
pub fn wait_for_deliveries(producer: &TxProducer, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while producer.in_flight_count() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn output(n: u8) -> Output {
        Output {
            topic: Arc::from("t"),
            key: Some(format!("k{n}")),
            value: vec![n],
        }
    }

    #[test]
    fn a_window_queues_until_begun_and_keeps_every_change() {
        let mut w = Window::default();
        assert!(w.is_empty() && !w.is_due(10));
        assert_eq!(w.wait(Duration::from_millis(7)), Duration::from_millis(7));
        w.consumed(2, 41, Some(1_000), Duration::from_secs(60));
        w.consumed(2, 42, None, Duration::from_secs(60));
        w.consumed(0, 7, Some(2_000), Duration::from_secs(60));
        w.output(None, output(1), Some(1_000)).unwrap();
        w.change(None, "log", ("C1".into(), b"v".to_vec()), 2)
            .unwrap();
        assert_eq!(w.queued.len(), 1);
        assert_eq!(w.queued_changes, vec![2]);
        assert!(!w.begun() && w.inputs() == 3);
        assert!(w.is_due(3) && !w.is_due(4));
        assert!(w.wait(Duration::ZERO) > Duration::from_secs(50));
        let tpl = w.offsets("raw").unwrap();
        let listed: Vec<(i32, Offset)> = tpl
            .elements()
            .iter()
            .map(|e| (e.partition(), e.offset()))
            .collect();
        assert_eq!(
            listed,
            vec![(0, Offset::Offset(8)), (2, Offset::Offset(43))],
            "the next offset of each partition"
        );
        let (changes, origins) = w.into_committed();
        assert_eq!(changes, vec![(b"C1".to_vec(), Some(b"v".to_vec()))]);
        assert_eq!(origins, vec![1_000, 2_000]);
    }

    #[test]
    fn a_window_closes_when_its_time_is_up() {
        let mut w = Window::default();
        w.consumed(0, 0, None, Duration::ZERO);
        assert!(w.is_due(1_000));
        assert_eq!(w.wait(Duration::from_secs(1)), Duration::ZERO);
    }
}
