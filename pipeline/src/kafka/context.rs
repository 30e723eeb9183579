//! The librdkafka client contexts paymatch installs: what a consumer and a
//! producer do with librdkafka's callbacks (log lines to `tracing`,
//! rebalances counted, lag and failed deliveries reported). Kept apart from
//! the driver because the file publisher's producer uses them too.

use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::ClientContext;

use crate::metrics as m;

/// The consumer's context: counts rebalances, reports lag, routes
/// librdkafka's log lines to `tracing`.
pub struct Watch {
    stage: &'static str,
    input: String,
    rebalances: AtomicU64,
}

impl Watch {
    /// A context for the consumer of `stage`, reading `input`.
    pub fn new(stage: &'static str, input: &str) -> Self {
        Watch {
            stage,
            input: input.to_string(),
            rebalances: AtomicU64::new(0),
        }
    }

    /// Rebalances seen so far: a change means the assignment moved.
    pub fn rebalances(&self) -> u64 {
        self.rebalances.load(Ordering::SeqCst)
    }
}

impl ClientContext for Watch {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        log_line(self.stage, level, facility, message);
    }
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(stage = self.stage, %error, reason, "kafka consumer");
    }
    fn stats(&self, statistics: Statistics) {
        if let Some(topic) = statistics.topics.get(&self.input) {
            for (partition, p) in &topic.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    m::consumer_lag(self.stage, *partition, p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for Watch {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.rebalances.fetch_add(1, Ordering::SeqCst);
        match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!(stage = self.stage, partitions = tpl.count(), "assigned")
            }
            Rebalance::Revoke(tpl) => {
                tracing::info!(stage = self.stage, partitions = tpl.count(), "revoked")
            }
            Rebalance::Error(e) => tracing::warn!(stage = self.stage, %e, "rebalance error"),
        }
    }
}

/// A producer's context: routes librdkafka's log lines to `tracing` and
/// counts failed deliveries (a transaction with one fails its commit; a
/// publish reports them).
pub struct Quiet {
    who: &'static str,
    failed: AtomicU64,
}

impl Quiet {
    /// A context for the producer named `who`.
    pub fn new(who: &'static str) -> Self {
        Quiet {
            who,
            failed: AtomicU64::new(0),
        }
    }

    /// Deliveries that failed so far.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::SeqCst)
    }
}

impl ClientContext for Quiet {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        log_line(self.who, level, facility, message);
    }
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(client = self.who, %error, reason, "kafka producer");
    }
}

impl rdkafka::producer::ProducerContext for Quiet {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::producer::DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            if self.failed.fetch_add(1, Ordering::SeqCst) == 0 {
                tracing::warn!(client = self.who, %e, "delivery failed");
            }
        }
    }
}

fn log_line(who: &str, level: RDKafkaLogLevel, facility: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => tracing::warn!(who, facility, message, "librdkafka"),
        _ => tracing::debug!(who, facility, message, "librdkafka"),
    }
}
