//! The driver's records: a consumed record copied out of the consumer
//! (so the driver can poll again before processing it), the records it
//! produces, and the raw payment's append time carried from one to the
//! other, for the end-to-end latency.

use std::io::Write as _;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::BaseRecord;
use rdkafka::types::RDKafkaErrorCode;

use super::driver::{classify, Failure, TxProducer};
use super::stage::{Input, Output};
use crate::dedupe::Source;

/// Header carrying the raw payment's append time (ms since the epoch)
/// through both stages, for the end-to-end latency. The outputs' record
/// timestamp carries the same time, and that is what the stages read:
/// parsing every input's headers cost 3–5 % of a stage's thread.
pub const ORIGIN_HEADER: &str = "paymatch-origin-ms";

/// A consumed record, copied out of the consumer's buffer so the driver
/// can restore state and poll again before processing it.
pub(super) struct Polled {
    pub(super) value: Vec<u8>,
    pub(super) source: Source,
    pub(super) origin: Option<i64>,
}

impl Polled {
    pub(super) fn copy<M: Message>(msg: &M) -> Self {
        Polled {
            value: msg.payload().unwrap_or_default().to_vec(),
            source: Source {
                partition: msg.partition(),
                offset: msg.offset(),
            },
            origin: origin_ms(msg),
        }
    }

    pub(super) fn input(&self) -> Input<'_> {
        Input {
            value: &self.value,
            source: self.source,
        }
    }
}

/// The raw payment's append time: the record's own timestamp. A raw
/// payment's is its append (or create) time; stage 1's outputs carry that
/// same time as theirs, so stage 2 reads it the same way, without parsing
/// headers. (Kafka Streams gives outputs their input's timestamp too.)
fn origin_ms<M: Message>(msg: &M) -> Option<i64> {
    msg.timestamp().to_millis()
}

/// The `paymatch-origin-ms` header of a record, for readers of the
/// outputs (the latency harness, the tests); the stages themselves read
/// the timestamp ([`origin_ms`]).
pub fn origin_header<M: Message>(msg: &M) -> Option<i64> {
    msg.headers()?
        .iter()
        .find(|h| h.key == ORIGIN_HEADER)
        .and_then(|h| std::str::from_utf8(h.value?).ok()?.parse().ok())
}

/// One record to produce.
pub(super) struct Record<'a> {
    pub(super) topic: &'a str,
    pub(super) key: Option<&'a str>,
    pub(super) value: &'a [u8],
    /// `None`: the key's partition.
    pub(super) partition: Option<i32>,
    /// `None`: now.
    pub(super) timestamp: Option<i64>,
    pub(super) headers: Option<OwnedHeaders>,
}

/// Queues a batch's outputs (those of input `i` end before `ends[i]`),
/// each with its input's append time as its timestamp and in its
/// `paymatch-origin-ms` header.
pub(super) fn send_outputs(
    producer: &TxProducer,
    batch: &[Polled],
    ends: &[usize],
    outputs: &mut Vec<Output>,
) -> Result<(), Failure> {
    debug_assert_eq!(ends.len(), batch.len(), "one end per input");
    let mut produced = outputs.drain(..);
    let mut done = 0;
    let mut digits = [0u8; 20];
    for (polled, &end) in batch.iter().zip(ends) {
        // The header's text, written once per input on the stack; each
        // output gets headers of its own (librdkafka takes them over).
        let origin = polled.origin.map(|o| {
            let mut cursor = std::io::Cursor::new(&mut digits[..]);
            let _ = write!(cursor, "{o}");
            cursor.position() as usize
        });
        for out in produced.by_ref().take(end - done) {
            let headers = origin.map(|len| {
                OwnedHeaders::new_with_capacity(1).insert(Header {
                    key: ORIGIN_HEADER,
                    value: Some(&digits[..len]),
                })
            });
            let record = Record {
                topic: &out.topic,
                key: out.key.as_deref(),
                value: &out.value,
                partition: None,
                timestamp: polled.origin,
                headers,
            };
            send(producer, record)?;
        }
        done = end;
    }
    Ok(())
}

/// Queues one record, waiting while the producer's queue is full.
pub(super) fn send(producer: &TxProducer, out: Record<'_>) -> Result<(), Failure> {
    let mut record: BaseRecord<'_, str, [u8]> = BaseRecord::to(out.topic).payload(out.value);
    if let Some(k) = out.key {
        record = record.key(k);
    }
    if let Some(p) = out.partition {
        record = record.partition(p);
    }
    if let Some(t) = out.timestamp {
        record = record.timestamp(t);
    }
    if let Some(h) = out.headers {
        record = record.headers(h);
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
