//! Every metric paymatch reports, named once here and emitted through small
//! typed helpers, so this file is the list of what the system measures.
//! Without an installed recorder (embedded runs) the helpers cost a check.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `paymatch_payments_total` | counter | `provider`, `outcome` |
//! | `paymatch_dead_letters_total` | counter | `kind` |
//! | `paymatch_restore_commands_total` | counter | |

use model::Outcome;

/// Payments decided, by provider and outcome.
pub const PAYMENTS: &str = "paymatch_payments_total";
/// Inputs refused to the dead-letter queue, by error kind.
pub const DEAD_LETTERS: &str = "paymatch_dead_letters_total";
/// Restore commands issued.
pub const RESTORES: &str = "paymatch_restore_commands_total";

/// Describes every metric to the installed recorder.
pub fn describe() {
    metrics::describe_counter!(PAYMENTS, "Payments decided, by provider and outcome");
    metrics::describe_counter!(
        DEAD_LETTERS,
        "Inputs refused to the dead-letter queue, by kind"
    );
    metrics::describe_counter!(RESTORES, "Restore commands issued");
}

/// One payment decided.
pub fn decided(provider: &str, outcome: Outcome) {
    metrics::counter!(PAYMENTS, "provider" => provider.to_string(), "outcome" => outcome.as_str())
        .increment(1);
}

/// One input dead-lettered.
pub fn dead_lettered(kind: &str) {
    metrics::counter!(DEAD_LETTERS, "kind" => kind.to_string()).increment(1);
}

/// Restore commands issued.
pub fn restores_issued(n: usize) {
    metrics::counter!(RESTORES).increment(n as u64);
}
