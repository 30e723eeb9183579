//! Every metric paymatch reports, named once here and emitted through small
//! typed helpers, so this file is the list of what the system measures.
//! Without an installed recorder (embedded runs) the helpers cost a check;
//! `paymatch run` installs the Prometheus recorder ([`crate::kafka::http`]).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `paymatch_payments_total` | counter | `provider`, `outcome` |
//! | `paymatch_dead_letters_total` | counter | `kind` |
//! | `paymatch_restore_commands_total` | counter | |
//! | `paymatch_records_in_total` | counter | `stage` |
//! | `paymatch_transactions_total` | counter | `stage`, `result` (`committed`, `aborted`) |
//! | `paymatch_transaction_commit_seconds` | histogram | `stage` |
//! | `paymatch_transaction_records` | histogram | `stage` |
//! | `paymatch_end_to_end_seconds` | histogram | `stage`: from the raw payment's append to this stage's commit |
//! | `paymatch_consumer_lag` | gauge | `stage`, `partition` |
//! | `paymatch_producers_recreated_total` | counter | `stage` |
//! | `paymatch_state_restored_total` | counter | `stage`: changelog records read back |
//! | `paymatch_index_updates_total` | counter | `table` (`customers`, `invoices`) |

use model::Outcome;

/// Payments decided, by provider and outcome.
pub const PAYMENTS: &str = "paymatch_payments_total";
/// Inputs refused to the dead-letter queue, by error kind.
pub const DEAD_LETTERS: &str = "paymatch_dead_letters_total";
/// Restore commands issued.
pub const RESTORES: &str = "paymatch_restore_commands_total";
/// Records consumed by a stage.
pub const RECORDS_IN: &str = "paymatch_records_in_total";
/// Transactions ended, by result.
pub const TRANSACTIONS: &str = "paymatch_transactions_total";
/// Time to commit one transaction (offsets + commit).
pub const COMMIT_SECONDS: &str = "paymatch_transaction_commit_seconds";
/// Each step of a commit: `acks` (the outputs' acknowledgements),
/// `offsets` (`send_offsets_to_transaction`), `end` (`commit_transaction`).
pub const COMMIT_STEP_SECONDS: &str = "paymatch_transaction_commit_step_seconds";
/// Input records per committed transaction.
pub const TRANSACTION_RECORDS: &str = "paymatch_transaction_records";
/// From the raw payment's append to the stage's commit.
pub const END_TO_END: &str = "paymatch_end_to_end_seconds";
/// Records behind the partition's end.
pub const CONSUMER_LAG: &str = "paymatch_consumer_lag";
/// Transactional producers re-created after an ambiguous error.
pub const PRODUCERS_RECREATED: &str = "paymatch_producers_recreated_total";
/// Blocking transactional calls abandoned after outliving their timeout.
pub const CALLS_ABANDONED: &str = "paymatch_transactional_calls_abandoned_total";
/// Changelog records read back into local state.
pub const STATE_RESTORED: &str = "paymatch_state_restored_total";
/// Customer and invoice records applied to the index from Kafka.
pub const INDEX_UPDATES: &str = "paymatch_index_updates_total";

/// Describes every metric to the installed recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(PAYMENTS, "Payments decided, by provider and outcome");
    describe_counter!(
        DEAD_LETTERS,
        "Inputs refused to the dead-letter queue, by kind"
    );
    describe_counter!(RESTORES, "Restore commands issued");
    describe_counter!(RECORDS_IN, "Records consumed, by stage");
    describe_counter!(TRANSACTIONS, "Kafka transactions ended, by result");
    describe_histogram!(
        COMMIT_SECONDS,
        Unit::Seconds,
        "Time to send offsets and commit one transaction"
    );
    describe_histogram!(
        COMMIT_STEP_SECONDS,
        Unit::Seconds,
        "Time of each step of a commit: acks, offsets, end"
    );
    describe_histogram!(
        TRANSACTION_RECORDS,
        "Input records per committed transaction"
    );
    describe_histogram!(
        END_TO_END,
        Unit::Seconds,
        "From the raw payment's append to the stage's commit"
    );
    describe_gauge!(CONSUMER_LAG, "Records behind the end of the partition");
    describe_counter!(
        PRODUCERS_RECREATED,
        "Transactional producers re-created after an ambiguous error"
    );
    describe_counter!(
        CALLS_ABANDONED,
        "Transactional calls abandoned after outliving their timeout, by call"
    );
    describe_counter!(STATE_RESTORED, "Changelog records read back into state");
    describe_counter!(INDEX_UPDATES, "Customer and invoice records applied");
}

/// [`PAYMENTS`] counters by provider and outcome, each registered with the
/// installed recorder on its first use and then kept. A stage counts every
/// payment, and registering builds the labels, hashes them and finds the
/// counter in the recorder's registry, which costs more than the
/// increment. At most one handle per provider and outcome: a payment
/// reaches a decision only through a registered provider.
#[derive(Default)]
pub struct DecidedCounters {
    handles: Vec<(String, Outcome, metrics::Counter)>,
}

impl DecidedCounters {
    /// One payment decided. `paymatch run` installs its recorder before
    /// any stage starts, so no handle is registered with the no-op one.
    pub fn increment(&mut self, provider: &str, outcome: Outcome) {
        let held = self
            .handles
            .iter()
            .find(|(p, o, _)| *o == outcome && p == provider);
        if let Some((_, _, counter)) = held {
            counter.increment(1);
            return;
        }
        let counter = metrics::counter!(PAYMENTS, "provider" => provider.to_string(), "outcome" => outcome.as_str());
        counter.increment(1);
        self.handles.push((provider.to_string(), outcome, counter));
    }
}

/// One input dead-lettered.
pub fn dead_lettered(kind: &str) {
    metrics::counter!(DEAD_LETTERS, "kind" => kind.to_string()).increment(1);
}

/// Restore commands issued.
pub fn restores_issued(n: usize) {
    metrics::counter!(RESTORES).increment(n as u64);
}

/// A transaction committed: its size, commit time, and each input's age.
pub fn committed(stage: &'static str, records: usize, commit_seconds: f64, ages: &[f64]) {
    metrics::counter!(RECORDS_IN, "stage" => stage).increment(records as u64);
    metrics::counter!(TRANSACTIONS, "stage" => stage, "result" => "committed").increment(1);
    metrics::histogram!(COMMIT_SECONDS, "stage" => stage).record(commit_seconds);
    metrics::histogram!(TRANSACTION_RECORDS, "stage" => stage).record(records as f64);
    let e2e = metrics::histogram!(END_TO_END, "stage" => stage);
    for age in ages {
        e2e.record(*age);
    }
}

/// How long a commit's steps took (see [`COMMIT_STEP_SECONDS`]).
pub fn commit_steps(stage: &'static str, acks: f64, offsets: f64, end: f64) {
    for (step, seconds) in [("acks", acks), ("offsets", offsets), ("end", end)] {
        metrics::histogram!(COMMIT_STEP_SECONDS, "stage" => stage, "step" => step).record(seconds);
    }
}

/// A transaction aborted.
pub fn aborted(stage: &'static str) {
    metrics::counter!(TRANSACTIONS, "stage" => stage, "result" => "aborted").increment(1);
}

/// A producer re-created.
pub fn producer_recreated(stage: &'static str) {
    metrics::counter!(PRODUCERS_RECREATED, "stage" => stage).increment(1);
}

/// A transactional call abandoned (see `kafka::txn`).
pub fn call_abandoned(stage: &'static str, call: &'static str) {
    metrics::counter!(CALLS_ABANDONED, "stage" => stage, "call" => call).increment(1);
}

/// Changelog records restored.
pub fn state_restored(stage: &'static str, n: usize) {
    metrics::counter!(STATE_RESTORED, "stage" => stage).increment(n as u64);
}

/// Consumer lag of one partition.
pub fn consumer_lag(stage: &'static str, partition: i32, lag: i64) {
    metrics::gauge!(CONSUMER_LAG, "stage" => stage, "partition" => partition.to_string())
        .set(lag as f64);
}

/// Index records applied from a table topic.
pub fn index_updates(table: &'static str, n: usize) {
    metrics::counter!(INDEX_UPDATES, "table" => table).increment(n as u64);
}
