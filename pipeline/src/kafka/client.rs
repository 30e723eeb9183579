//! librdkafka client settings in one place: every consumer, producer and
//! admin client paymatch creates is built here from the shared settings,
//! its role's, and the operator's extra `[kafka.client]` settings, which
//! win over both.

use rdkafka::error::KafkaError;
use rdkafka::ClientConfig;

use super::KafkaConfig;
use crate::error::Error;

/// Java clients' partitioner: a payment id lands on the same partition
/// whoever produced it, so redeliveries meet their original in one dedupe
/// partition.
const PARTITIONER: &str = "murmur2_random";

/// Settings shared by every client, then the role's (`role`), then the
/// operator's `[kafka.client]` settings, which win over both.
fn configure(config: &KafkaConfig, role: impl FnOnce(&mut ClientConfig)) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.brokers)
        .set("client.id", "paymatch")
        .set("socket.timeout.ms", config.request_timeout_ms.to_string())
        // Small request/response round trips (a transaction's commit is
        // several) must not wait for Nagle's algorithm and delayed ACKs.
        .set("socket.nagle.disable", "true")
        // Loopback clusters and tests: fail over quickly to the next try.
        .set("reconnect.backoff.max.ms", "2000")
        .set("log_level", "3");
    role(&mut c);
    for (k, v) in &config.client {
        c.set(k, v);
    }
    if config.client.contains_key("debug") {
        // librdkafka's debug contexts (`[kafka.client] debug = "eos"`)
        // reach the log (`PAYMATCH_LOG=pipeline::kafka=debug`).
        c.set_log_level(rdkafka::config::RDKafkaLogLevel::Debug);
    }
    c
}

/// A client with the shared settings only (metadata, admin).
pub fn base(config: &KafkaConfig) -> ClientConfig {
    configure(config, |_| {})
}

/// A consumer of committed records only, committing nothing by itself.
fn committed_reader(c: &mut ClientConfig, group: &str) {
    c.set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed");
}

/// A consumer in `group` whose offsets go into the producer's transactions.
pub fn group_consumer(config: &KafkaConfig, group: &str) -> ClientConfig {
    configure(config, |c| {
        committed_reader(c, group);
        c.set("session.timeout.ms", config.session_timeout_ms.to_string())
            .set(
                "heartbeat.interval.ms",
                (config.session_timeout_ms / 4).max(100).to_string(),
            )
            .set("max.poll.interval.ms", "300000");
    })
}

/// A consumer that reads assigned partitions from the start to their end
/// (tables and changelogs): no group membership, end-of-partition events on.
pub fn table_reader(config: &KafkaConfig) -> ClientConfig {
    configure(config, |c| {
        committed_reader(c, &format!("{}-reader", config.group_prefix));
        c.set("enable.partition.eof", "true");
    })
}

/// Settings of both producers: idempotent, Java's partitioner, lz4.
fn producer(c: &mut ClientConfig, linger_ms: u32) {
    c.set("enable.idempotence", "true")
        .set("partitioner", PARTITIONER)
        .set("linger.ms", linger_ms.to_string())
        .set("queue.buffering.max.messages", "1000000")
        .set("compression.codec", "lz4")
        // Delivery reports of failures only: paymatch counts failed
        // deliveries (`Quiet`) and a transaction with one fails its commit,
        // but does nothing per delivered record, and a report per record
        // costs the producer's polling thread a callback each.
        .set("delivery.report.only.error", "true");
}

/// A transactional producer with a stable `transactional.id`, so a
/// restarted instance fences its predecessor's unfinished transaction.
pub fn transactional_producer(config: &KafkaConfig, transactional_id: &str) -> ClientConfig {
    configure(config, |c| {
        // A whole transaction window: the produce requests are larger and
        // fewer, which the broker (sharing the machine) and librdkafka's
        // I/O thread both feel, and the commit flushes whatever still
        // lingers (see the driver), so lingering never delays a commit.
        // On the benchmark (session 7, before that flush, 100 ms windows):
        // 21–23k payments/s at 5 ms, 25k at 20 ms, 30–31k at 50 ms, 26k at
        // 100 ms. Session 11, with the flush and backlog windows: 30k at
        // 50 ms, 47k at 100 ms, 48k at 250 ms; ledger p99 at 10k/s about
        // the same at 50 and 100 ms (294–364 ms), 407 ms at 250 ms.
        producer(c, transaction_linger_ms(config));
        c.set("transactional.id", transactional_id)
            .set(
                "transaction.timeout.ms",
                config.transaction_timeout_ms.to_string(),
            )
            // librdkafka insists that a request may not outlive the transaction.
            .set(
                "socket.timeout.ms",
                config
                    .request_timeout_ms
                    .min(config.transaction_timeout_ms)
                    .to_string(),
            )
            // Right after a commit the coordinator is still writing markers
            // and answers the next transaction's first request with
            // CONCURRENT_TRANSACTIONS; the default 100 ms backoff would then
            // add 100 ms to every transaction.
            .set("retry.backoff.ms", "5")
            .set("retry.backoff.max.ms", "100");
    })
}

/// `linger.ms` of the stages' transactional producers: the transaction
/// window, between 5 ms and 1 s (`[kafka.client]` overrides).
pub fn transaction_linger_ms(config: &KafkaConfig) -> u32 {
    config.transaction_ms.clamp(5, 1000) as u32
}

/// An idempotent producer (publishing files: every record once, in order).
pub fn idempotent_producer(config: &KafkaConfig) -> ClientConfig {
    configure(config, |c| producer(c, 20))
}

/// Wraps a librdkafka error with what paymatch was doing.
pub fn kafka_error(context: &str) -> impl FnOnce(KafkaError) -> Error + '_ {
    move |source| Error::Kafka {
        context: context.to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transactional_linger_is_a_window_unless_configured() {
        let mut config = KafkaConfig::default();
        let linger = |c: &KafkaConfig| {
            transactional_producer(c, "t")
                .get("linger.ms")
                .map(str::to_string)
        };
        assert_eq!(linger(&config), Some(config.transaction_ms.to_string()));
        config.transaction_ms = 4;
        assert_eq!(linger(&config).as_deref(), Some("5"));
        config.transaction_ms = 60_000;
        assert_eq!(linger(&config).as_deref(), Some("1000"));
        config.client.insert("linger.ms".into(), "7".into());
        assert_eq!(linger(&config).as_deref(), Some("7"));
    }
}
