//! The topics of DESIGN.md's topology, named once, and the two operations
//! on them: checking that they exist (a clear error naming the missing ones
//! instead of a consumer that waits forever) and creating them
//! (`paymatch topics create`).

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

use super::client::{self, kafka_error};
use super::KafkaConfig;
use crate::error::{Error, Result};

/// Topic names under one prefix. Shared strings: every output record
/// names its topic, and a clone is a reference count, not a copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topics {
    /// Raw payment envelopes (stage 1's input).
    pub raw: Arc<str>,
    /// Every decision, keyed by customer (stage 2's input).
    pub decisions: Arc<str>,
    /// Review decisions again: the finance queue's input.
    pub review: Arc<str>,
    /// Refused inputs with their reasons.
    pub dlq: Arc<str>,
    /// Restore (and later suspend) commands, keyed by service.
    pub commands: Arc<str>,
    /// Ledger entries, keyed by customer.
    pub ledger: Arc<str>,
    /// Customers (compacted, key `customer_id`).
    pub customers: Arc<str>,
    /// Invoices (compacted, key `invoice_id`).
    pub invoices: Arc<str>,
    /// Stage 1's dedupe table (compacted, co-partitioned with `raw`).
    pub dedupe_changelog: Arc<str>,
    /// Stage 2's customer balances (compacted, co-partitioned with `decisions`).
    pub balances_changelog: Arc<str>,
}

/// How a topic is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// A stream: deleted by age.
    Stream,
    /// A table: the last value per key is kept for ever.
    Compacted,
}

impl Topics {
    /// The names under `prefix` (`paymatch.` → `paymatch.payments.raw`).
    pub fn new(prefix: &str) -> Self {
        let t = |name: &str| -> Arc<str> { format!("{prefix}{name}").into() };
        Topics {
            raw: t("payments.raw"),
            decisions: t("payments.decisions"),
            review: t("payments.review"),
            dlq: t("payments.dlq"),
            commands: t("access.commands"),
            ledger: t("ledger"),
            customers: t("customers"),
            invoices: t("invoices"),
            dedupe_changelog: t("state.dedupe-changelog"),
            balances_changelog: t("state.balances-changelog"),
        }
    }

    /// Every topic with how it is kept.
    pub fn all(&self) -> Vec<(&str, Retention)> {
        use Retention::{Compacted, Stream};
        vec![
            (&self.raw, Stream),
            (&self.decisions, Stream),
            (&self.review, Stream),
            (&self.dlq, Stream),
            (&self.commands, Stream),
            (&self.ledger, Stream),
            (&self.customers, Compacted),
            (&self.invoices, Compacted),
            (&self.dedupe_changelog, Compacted),
            (&self.balances_changelog, Compacted),
        ]
    }
}

/// Partitions of each topic the broker knows, by name.
///
/// # Errors
/// The broker does not answer in time.
pub fn partition_counts(config: &KafkaConfig) -> Result<std::collections::BTreeMap<String, usize>> {
    let consumer: BaseConsumer = client::base(config)
        .create()
        .map_err(kafka_error("creating a metadata client"))?;
    let metadata = consumer
        .fetch_metadata(None, Duration::from_millis(config.request_timeout_ms))
        .map_err(|e| Error::BrokerUnreachable {
            brokers: config.brokers.clone(),
            detail: e.to_string(),
        })?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| (t.name().to_string(), t.partitions().len()))
        .collect())
}

/// Checks that every topic exists and that each changelog has as many
/// partitions as the stream it mirrors.
///
/// # Errors
/// [`Error::MissingTopics`] naming them (the fix: `paymatch topics
/// create`), [`Error::Config`] for mismatched partition counts, or an
/// unreachable broker.
pub fn check(config: &KafkaConfig, topics: &Topics) -> Result<()> {
    let counts = partition_counts(config)?;
    let missing: Vec<String> = topics
        .all()
        .into_iter()
        .filter(|(name, _)| !counts.contains_key(*name))
        .map(|(name, _)| name.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(Error::MissingTopics { missing });
    }
    for (stream, changelog) in [
        (&topics.raw, &topics.dedupe_changelog),
        (&topics.decisions, &topics.balances_changelog),
    ] {
        if counts[&**stream] != counts[&**changelog] {
            return Err(Error::Config {
                detail: format!(
                    "{changelog} has {} partitions and {stream} {}: a changelog needs exactly \
                     as many partitions as the stream it mirrors",
                    counts[&**changelog], counts[&**stream]
                ),
            });
        }
    }
    Ok(())
}

/// Creates every topic that does not exist yet; returns the ones created.
///
/// # Errors
/// The broker refuses (other than "already exists") or does not answer.
pub fn create(config: &KafkaConfig, topics: &Topics) -> Result<Vec<String>> {
    let admin: AdminClient<DefaultClientContext> = client::base(config)
        .create()
        .map_err(kafka_error("creating an admin client"))?;
    let new: Vec<NewTopic<'_>> = topics
        .all()
        .into_iter()
        .map(|(name, retention)| {
            let topic = NewTopic::new(
                name,
                config.partitions,
                TopicReplication::Fixed(config.replication),
            );
            match retention {
                Retention::Compacted => topic.set("cleanup.policy", "compact"),
                Retention::Stream => topic,
            }
        })
        .collect();
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_millis(config.request_timeout_ms)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(Error::io("tokio runtime"))?;
    let results = runtime
        .block_on(admin.create_topics(new.iter(), &options))
        .map_err(|e| Error::BrokerUnreachable {
            brokers: config.brokers.clone(),
            detail: e.to_string(),
        })?;
    let mut created = Vec::new();
    for result in results {
        match result {
            Ok(name) => created.push(name),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(Error::Kafka {
                    context: format!("creating topic {name}"),
                    source: rdkafka::error::KafkaError::AdminOp(code),
                })
            }
        }
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_contract() {
        let t = Topics::new("paymatch.");
        assert_eq!(&*t.raw, "paymatch.payments.raw");
        assert_eq!(&*t.decisions, "paymatch.payments.decisions");
        assert_eq!(&*t.review, "paymatch.payments.review");
        assert_eq!(&*t.dlq, "paymatch.payments.dlq");
        assert_eq!(&*t.commands, "paymatch.access.commands");
        assert_eq!(&*t.ledger, "paymatch.ledger");
        assert_eq!(&*t.customers, "paymatch.customers");
        assert_eq!(&*t.invoices, "paymatch.invoices");
        let compacted = t
            .all()
            .into_iter()
            .filter(|(_, r)| *r == Retention::Compacted)
            .count();
        assert_eq!(compacted, 4);
    }
}
