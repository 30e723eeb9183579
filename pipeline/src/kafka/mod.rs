//! The Kafka mode: the same stage code as the embedded mode, fed from
//! topics and committed with Kafka transactions (DESIGN.md, "Topology").
//!
//! * [`config`]: the `[kafka]` and `[service]` settings;
//! * [`client`]: librdkafka settings shared by every client;
//! * [`context`]: what its clients do with librdkafka's callbacks;
//! * [`topics`]: topic names, checking and creating them;
//! * [`table`]: compacted topics into local state (the global customer
//!   index; changelog restore);
//! * [`stage`]: stage 1 and stage 2 as transactional stream stages;
//! * [`driver`]: the exactly-once consume → process → produce loop;
//! * `records`: what it consumes and produces, and the append time
//!   carried from one to the other;
//! * `window`: how long its transactions stay open (longer in a backlog);
//! * [`publish`]: JSONL files into topics;
//! * [`http`]: the Prometheus `/metrics` endpoint;
//! * [`run`]: `paymatch run`, wiring it together.

pub mod client;
pub mod config;
pub mod context;
pub mod driver;
pub mod http;
pub mod publish;
mod records;
pub mod run;
pub mod stage;
pub mod table;
pub mod topics;
mod txn;
mod window;

pub use config::{KafkaConfig, ServiceConfig};
pub use topics::Topics;
