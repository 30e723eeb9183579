//! JSON Schemas of every contract record, generated from the types so they
//! cannot drift; `paymatch schemas --out docs/schemas` writes them and a test
//! checks the committed copies are current.

use schemars::{schema_for, Schema};

use crate::records::*;

/// Every record's schema, with the file stem it is published under.
pub fn all() -> Vec<(&'static str, Schema)> {
    vec![
        ("payment_envelope", schema_for!(PaymentEnvelope)),
        ("customer", schema_for!(Customer)),
        ("invoice", schema_for!(Invoice)),
        ("decision", schema_for!(Decision)),
        ("access_command", schema_for!(AccessCommand)),
        ("access_result", schema_for!(AccessResult)),
        ("ledger_entry", schema_for!(LedgerEntry)),
        ("dead_letter", schema_for!(DeadLetter)),
    ]
}
