//! Settings of the Kafka mode (`[kafka]`) and of the long-running service
//! (`[service]`): plain serde structs with their defaults in one place, part
//! of [`crate::Config`] and overridable like every key
//! (`PAYMATCH_KAFKA__BROKERS=...`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How paymatch talks to Kafka.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers. Default `127.0.0.1:9092`.
    pub brokers: String,
    /// Prefix of every topic name. Default `paymatch.` (so
    /// `paymatch.payments.raw`); tests use their own prefix to share a broker.
    pub topic_prefix: String,
    /// Prefix of the consumer groups (`{prefix}-stage1`, `{prefix}-stage2`).
    /// Default `paymatch`.
    pub group_prefix: String,
    /// Longest time one transaction stays open collecting records, in ms.
    /// Longer: fewer commits; shorter: lower latency. Default 50 (100
    /// before session 18; BENCHMARKS, "Session 18"). The
    /// stages' producers linger as long (`linger.ms`, 5 ms to 1 s) to send
    /// fewer, larger requests, and the commit flushes what still lingers;
    /// `[kafka.client] "linger.ms"` overrides.
    pub transaction_ms: u64,
    /// Longest time one transaction stays open while the stage has a
    /// backlog, in ms: at the end of each `transaction_ms`, a stage that
    /// barely waited for input, and whose newest input is older than this,
    /// keeps the transaction open one more step, up to this. A stage that
    /// keeps up commits every `transaction_ms`.
    /// Default 500; equal to `transaction_ms` turns it off.
    pub backlog_transaction_ms: u64,
    /// Most input records in one transaction. Default 50000.
    pub max_batch: usize,
    /// Consumer group session timeout, ms: how long a dead instance keeps
    /// its partitions. Default 10000.
    pub session_timeout_ms: u64,
    /// Transaction timeout, ms: how long the broker waits before aborting
    /// the open transaction of an instance that died. Default 30000.
    pub transaction_timeout_ms: u64,
    /// Partitions of the topics `paymatch topics create` makes. Default 4.
    pub partitions: i32,
    /// Replication factor of those topics. Default 1.
    pub replication: i32,
    /// Longest wait for the broker on start-up and for one request, ms.
    /// Default 30000.
    pub request_timeout_ms: u64,
    /// Extra librdkafka settings for every client (security, tuning), as
    /// librdkafka names them: `[kafka.client] "security.protocol" = "ssl"`.
    pub client: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            topic_prefix: "paymatch.".into(),
            group_prefix: "paymatch".into(),
            transaction_ms: 50,
            backlog_transaction_ms: 500,
            max_batch: 50_000,
            session_timeout_ms: 10_000,
            transaction_timeout_ms: 30_000,
            partitions: 4,
            replication: 1,
            request_timeout_ms: 30_000,
            client: BTreeMap::new(),
        }
    }
}

/// The long-running service (`paymatch run`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// This instance's stable name: its transactional ids are
    /// `{instance_id}-stage1` and `-stage2`, so a restarted instance fences
    /// its own unfinished transactions. Two running instances must have
    /// different names. Default: the host name.
    pub instance_id: String,
    /// Directory of the local RocksDB (index, dedupe, balances); a cache of
    /// what Kafka holds, rebuilt from the topics when lost. Default
    /// `state/{instance_id}`.
    pub state_dir: String,
    /// Address of the Prometheus `/metrics` endpoint; empty turns it off.
    /// Default empty.
    pub metrics_listen: String,
}

impl ServiceConfig {
    /// The instance name: configured, else the host name.
    pub fn instance(&self) -> String {
        if !self.instance_id.is_empty() {
            return self.instance_id.clone();
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "paymatch".into())
    }

    /// The state directory: configured, else `state/{instance}`.
    pub fn state_dir(&self) -> std::path::PathBuf {
        if self.state_dir.is_empty() {
            std::path::PathBuf::from("state").join(self.instance())
        } else {
            self.state_dir.clone().into()
        }
    }
}
