//! The two stages of DESIGN.md's topology, free of I/O: they take records
//! and return records, reading the index and their state through
//! [`matchers::store::KvStore`]. The embedded mode drives them from files;
//! the Kafka mode drives the same code from topics.
//!
//! * [`stage1`]: envelope → normalize → dedupe → match → decision (or a
//!   dead letter).
//! * [`stage2`]: decision → allocate → balance → access policy → ledger
//!   entries and access commands.

pub mod allocate;
pub mod stage1;
pub mod stage2;

pub use stage1::{Routed, Stage1, READ_AHEAD_BATCH};
pub use stage2::{Applied, Stage2, ToApply};
