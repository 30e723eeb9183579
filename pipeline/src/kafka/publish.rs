//! `paymatch publish customers|invoices|payments FILE`: loads a JSONL file
//! into its topic — how a billing system's export, a backfill or a replay
//! of lost callbacks (`reconcile --replay-missing`) gets into Kafka.
//!
//! Records are keyed as the topology needs: customers by `customer_id` and
//! invoices by `invoice_id` (compacted: the last one wins), payments by
//! their payment id (`provider:provider_txn_id`; a refund or dispute by the
//! payment it reverses), so a redelivery or a refund lands on the partition
//! that already saw the payment, where stage 1's dedupe state for it lives. A payment line paymatch cannot
//! read is published unkeyed: stage 1 dead-letters it with its reason.
//! The producer is idempotent, so one run writes each line once, in order.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use serde::Serialize;

use super::client::{self, kafka_error};
use super::context::Quiet;
use super::topics::Topics;
use super::KafkaConfig;
use crate::config::ProvidersConfig;
use crate::error::{Error, Result};
use crate::providers::{NormalizeContext, Providers};

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Customer records → `customers`.
    Customers,
    /// Invoice records → `invoices`.
    Invoices,
    /// Payment envelopes → `payments.raw`.
    Payments,
}

/// What a publish did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Published {
    /// The topic written.
    pub topic: String,
    /// Records written.
    pub records: u64,
    /// Lines published without a key (payments paymatch cannot read; stage
    /// 1 dead-letters them).
    pub unkeyed: u64,
    /// Customer or invoice lines refused (not JSON, or no id), with their
    /// line numbers on stderr.
    pub refused: u64,
}

/// The key of one line, or why there is none.
fn key_of(
    kind: Kind,
    line: &str,
    providers: &Providers,
    config: &ProvidersConfig,
) -> std::result::Result<String, String> {
    match kind {
        Kind::Customers | Kind::Invoices => {
            let field = if kind == Kind::Customers {
                "customer_id"
            } else {
                "invoice_id"
            };
            let value: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
            value
                .get(field)
                .and_then(|v| v.as_str())
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .ok_or_else(|| format!("no {field}"))
        }
        Kind::Payments => payment_key(line, providers, config),
    }
}

/// The key a raw payment envelope is published under: the payment id of
/// the payment it concerns ([`model::Payment::partition_key`]), or why the
/// line has none (it cannot be read; stage 1 will dead-letter it).
///
/// # Errors
/// The line is not an envelope, or its provider's adapter refuses it.
pub fn payment_key(
    line: &str,
    providers: &Providers,
    config: &ProvidersConfig,
) -> std::result::Result<String, String> {
    let envelope: model::PaymentEnvelopeRef<'_> =
        serde_json::from_str(line).map_err(|e| e.to_string())?;
    let ctx = NormalizeContext {
        config,
        received_at: envelope.received_at,
        now: Utc::now(),
    };
    providers
        .normalize_envelope(&envelope, &ctx)
        .map(|p| p.partition_key())
        .map_err(|e| e.to_string())
}

/// Publishes every line of `file` to the topic of `kind`.
///
/// # Errors
/// An unreadable file, an unreachable broker, or a delivery failure.
pub fn publish(
    kafka: &KafkaConfig,
    providers_config: &ProvidersConfig,
    kind: Kind,
    file: &Path,
) -> Result<Published> {
    let topics = Topics::new(&kafka.topic_prefix);
    let topic = match kind {
        Kind::Customers => topics.customers.clone(),
        Kind::Invoices => topics.invoices.clone(),
        Kind::Payments => topics.raw.clone(),
    };
    super::topics::check(kafka, &topics)?;
    let producer: ThreadedProducer<Quiet> = client::idempotent_producer(kafka)
        .create_with_context(Quiet::new("publish"))
        .map_err(kafka_error("creating the producer"))?;
    let providers = Providers::default();
    let reader = BufReader::new(std::fs::File::open(file).map_err(Error::io(file))?);
    let mut done = Published {
        topic: topic.to_string(),
        ..Published::default()
    };
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(Error::io(file))?;
        if line.trim().is_empty() {
            continue;
        }
        let key = match key_of(kind, &line, &providers, providers_config) {
            Ok(k) => Some(k),
            Err(why) if kind == Kind::Payments => {
                tracing::debug!(line = n + 1, why, "payment published unkeyed");
                done.unkeyed += 1;
                None
            }
            Err(why) => {
                eprintln!("{}:{}: refused: {why}", file.display(), n + 1);
                done.refused += 1;
                continue;
            }
        };
        let mut record: BaseRecord<'_, str, str> = BaseRecord::to(&topic).payload(&line);
        if let Some(k) = &key {
            record = record.key(k);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                    back,
                )) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(kafka_error("publishing")(e)),
            }
        }
        done.records += 1;
    }
    producer
        .flush(Duration::from_millis(kafka.request_timeout_ms.max(60_000)))
        .map_err(kafka_error("flushing"))?;
    let failed = producer.context().failed();
    if failed > 0 {
        return Err(Error::Kafka {
            context: format!("publishing to {topic}: {failed} records were not delivered"),
            source: rdkafka::error::KafkaError::MessageProduction(
                RDKafkaErrorCode::MessageTimedOut,
            ),
        });
    }
    Ok(done)
}
